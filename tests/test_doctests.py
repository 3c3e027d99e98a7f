"""The examples in ric_core's docstrings are part of its documentation: they must stay true."""

import doctest
import importlib

import pytest

MODULES = ["io", "stats", "tags", "mapping", "mors", "targets", "pareto", "grids"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(f"ric_core.{name}"))
    assert result.attempted > 0, f"ric_core.{name} has no docstring example"
    assert result.failed == 0
