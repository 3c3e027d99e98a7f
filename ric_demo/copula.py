"""Correlated draws for the demo worlds' data: a Gaussian copula, so every factor keeps its own (uniform)
marginal and one chosen pair correlates at ``rho`` (``ric study correlation``'s knob)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def copula_uniforms(
    n: int, rng: np.random.Generator, names: Sequence[str], pair: Sequence[str], rho: float
) -> np.ndarray:
    """(n, len(names)) uniforms on [0, 1]: independent, except the two ``pair`` columns, whose normal scores
    correlate at ``rho``.

    Example:
        >>> u = copula_uniforms(4000, np.random.default_rng(0), ["a", "b", "c"], ("a", "b"), 0.8)
        >>> bool(np.corrcoef(u[:, 0], u[:, 1])[0, 1] > 0.7), bool(abs(np.corrcoef(u[:, 0], u[:, 2])[0, 1]) < 0.1)
        (True, True)
    """
    names = list(names)
    if len(set(pair)) != 2 or not set(pair) <= set(names):
        raise ValueError(f"the correlated pair must be two of {names}; got {list(pair)}")
    if not -1 < rho < 1:
        raise ValueError(f"rho must lie in (-1, 1); got {rho}")
    cov = np.eye(len(names))
    i, j = names.index(pair[0]), names.index(pair[1])
    cov[i, j] = cov[j, i] = rho
    g = rng.multivariate_normal(np.zeros(len(names)), cov, size=n)  # (n, K) correlated standard normals
    return 0.5 * (1 + np.vectorize(math.erf)(g / math.sqrt(2)))  # their normal CDF: uniform marginals
