"""The examples in docstrings are part of the documentation: they must stay true.

Every module of the light packages whose source holds an example is collected, so a new example is
tested without registering it here.
"""

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    ".".join(f.relative_to(ROOT).with_suffix("").parts)
    for pkg in ("ric_runtime", "ric_core", "ric_eval", "rewards")
    for f in (ROOT / pkg).glob("*.py")
    if any(">>>" in line and "+SKIP" not in line for line in f.read_text().splitlines())
)  # examples that need real weights are marked +SKIP; a module of only those has nothing to run here


def test_the_light_packages_have_examples():
    assert {"ric_core.mapping", "ric_eval.summary", "rewards.registry"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
