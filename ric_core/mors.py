"""Multi-objective rejection sampling (MORS), the online stage's filter (docs/method.md section 3).

For a pool of normalised rewards s (N samples, K rewards), tau_k is the q-quantile of reward k over
the pool (numpy's linear interpolation). The paper keeps a sample when *at least one* s_k >= tau_k,
so only samples below the q-quantile on every objective are rejected (about 51% kept for two
independent rewards at q = 0.7). ``rule='all'`` is the stricter variant: every s_k >= tau_k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RULES = ("any", "all")


@dataclass(frozen=True)
class MorsResult:
    """Kept sample indices (sorted), the per-reward thresholds (K,) and the fraction kept."""

    kept: np.ndarray
    thresholds: np.ndarray
    fraction_kept: float


def mors(scores: np.ndarray | Sequence, quantile: float = 0.7, rule: str = "any") -> MorsResult:
    """Filter a pool of (N, K) normalised rewards; returns which samples to keep.

    Example:
        >>> r = mors([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], quantile=0.7)
        >>> r.kept.tolist(), r.fraction_kept
        ([1, 2], 0.5)
    """
    if rule not in RULES:
        raise ValueError(f"unknown MORS rule {rule!r}; choose 'any' (the paper's) or 'all'")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"MORS quantile must be in [0, 1]; got {quantile}")
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"MORS needs a 2-D (samples, rewards) matrix; got shape {s.shape}")
    if s.shape[0] == 0:
        return MorsResult(np.empty(0, dtype=np.int64), np.full(s.shape[1], np.nan), 0.0)
    if not np.all(np.isfinite(s)):
        raise ValueError("MORS got non-finite rewards (NaN or inf); drop those samples first")
    thresholds = np.quantile(s, quantile, axis=0)  # (K,)
    above = s >= thresholds  # (N, K)
    keep = above.any(axis=1) if rule == "any" else above.all(axis=1)
    kept = np.flatnonzero(keep)
    return MorsResult(kept, thresholds, float(kept.size / s.shape[0]))
