"""How well the sliders steer: rank correlation between each reward's weight and its mean reward."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ric_eval.table import parse_key


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):
        tie = x == value
        ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (ties averaged); NaN when either side is constant.

    Example:
        >>> round(spearman([1, 2, 3, 4], [10, 20, 30, 25]), 6)
        0.8
    """
    ra, rb = _ranks(np.asarray(a, dtype=np.float64)), _ranks(np.asarray(b, dtype=np.float64))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def steering(preferences: dict[str, Any], names: Sequence[str]) -> dict[str, float | None]:
    """Spearman(w_k, mean reward k) over a model's preferences, per reward: +1 when raising a reward's
    weight raises it in order; None when undefined (fewer than 3 preferences, or a constant side)."""
    keys = list(preferences)
    if len(keys) < 3:
        return {n: None for n in names}
    w = np.array([parse_key(k) for k in keys])
    out = {}
    for k, n in enumerate(names):
        rho = spearman(w[:, k], [preferences[p]["mean"][n] for p in keys]) if k < w.shape[1] else math.nan
        out[n] = None if math.isnan(rho) else round(rho, 6)
    return out
