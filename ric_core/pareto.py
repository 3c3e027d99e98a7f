"""Pareto fronts and hypervolume (all objectives maximised), through moocore.

The reference code draws fronts but computes no hypervolume (docs/method.md 5, 11); we report the
exact hypervolume with an explicit reference point, for any number of objectives.
"""

from __future__ import annotations

from collections.abc import Sequence

import moocore
import numpy as np


def _points(points: np.ndarray | Sequence) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2:
        raise ValueError(f"points must be a 2-D (points, objectives) array; got shape {pts.shape}")
    if pts.size and not np.all(np.isfinite(pts)):
        raise ValueError("points contain NaN or inf; drop them before computing Pareto metrics")
    return pts


def non_dominated(points: np.ndarray | Sequence) -> np.ndarray:
    """Boolean mask (P,) of points no other point dominates (maximisation; duplicates all kept).

    Example:
        >>> non_dominated([[1, 2], [2, 1], [0, 0], [1, 1]]).tolist()
        [True, True, False, False]
    """
    pts = _points(points)
    if pts.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(pts, maximise=True, keep_weakly=True), dtype=bool)


def pareto_front(points: np.ndarray | Sequence) -> np.ndarray:
    """The non-dominated points, sorted by the first objective, shape (F, K)."""
    pts = _points(points)
    front = pts[non_dominated(pts)] if pts.shape[0] else pts
    return front[np.argsort(front[:, 0], kind="stable")] if front.shape[0] else front


def hypervolume(points: np.ndarray | Sequence, ref: np.ndarray | Sequence[float] | float) -> float:
    """Exact volume dominated by ``points`` and bounded below by the reference point ``ref``.

    Points that are not strictly better than ``ref`` in every objective add nothing.

    Example:
        >>> hypervolume([[5, 5], [4, 6], [2, 7], [7, 4]], ref=[0, 0])
        39.0
    """
    pts = _points(points)
    ref = np.broadcast_to(np.asarray(ref, dtype=np.float64), (pts.shape[1],))
    if not np.all(np.isfinite(ref)):
        raise ValueError(f"the reference point must be finite; got {ref.tolist()}")
    pts = pts[np.all(pts > ref, axis=1)]
    if pts.shape[0] == 0:
        return 0.0
    return float(moocore.hypervolume(pts, ref=ref, maximise=True))
