"""The examples in docstrings are part of the documentation: they must stay true."""

import doctest
import importlib

import pytest

MODULES = [f"ric_core.{m}" for m in ("io", "stats", "tags", "mapping", "mors", "targets", "pareto", "grids")]
MODULES += [f"rewards.{m}" for m in ("base", "images", "jpeg", "registry", "clip_tokenizer")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
