"""Model specs with inference settings: ``PATH?mapping=lp&mapping_p=4&target_range=reference``.

One RiC checkpoint is swept under several mapping settings (the ``mapping`` study) by naming it once per
setting; the part after ``?`` overrides the checkpoint's ``inference`` section (values read as YAML).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qsl

import yaml


def split_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """(path, {setting: value}) of a model spec; no ``?`` means no overrides.

    Example:
        >>> split_spec("runs/ric?mapping=lp&mapping_p=4&target_range=[-1, 1]")
        ('runs/ric', {'mapping': 'lp', 'mapping_p': 4, 'target_range': [-1, 1]})
    """
    path, _, query = spec.partition("?")
    return path, {k: yaml.safe_load(v) for k, v in parse_qsl(query, keep_blank_values=True)}


def with_inference(inference: Any, overrides: dict[str, Any]) -> Any:
    """The ``inference`` settings with ``overrides`` applied and validated (unknown names are an error)."""
    if not overrides:
        return inference
    known = {f.name for f in dataclasses.fields(inference)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown inference setting(s) {unknown} after '?' in a model spec; known: {sorted(known)}")
    new = dataclasses.replace(inference, **overrides)
    new.validate()
    return new
