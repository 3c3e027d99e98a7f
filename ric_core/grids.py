"""Preference grids: the simplex points a sweep evaluates (docs/method.md 4.5 and 6)."""

from __future__ import annotations

import itertools

import numpy as np

# The paper's three-objective evaluation vectors (docs/method.md 4.5).
PAPER_3D: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 1.0),
    (0.0, 1.0, 0.0),
    (0.1, 0.1, 0.8),
    (0.1, 0.8, 0.1),
    (0.2, 0.2, 0.6),
    (0.2, 0.4, 0.4),
    (0.2, 0.6, 0.2),
    (0.33, 0.33, 0.33),
    (0.4, 0.4, 0.2),
    (0.4, 0.2, 0.4),
    (0.6, 0.2, 0.2),
    (0.8, 0.1, 0.1),
    (1.0, 0.0, 0.0),
)


def simplex_grid(num_objectives: int, step: float = 0.1) -> np.ndarray:
    """Every weight vector on the simplex with entries in multiples of ``step``, shape (P, N).

    Rows are ordered with w1 descending, so for N = 2 they run from (1, 0) to (0, 1).

    Example:
        >>> simplex_grid(2, 0.5).tolist()
        [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
        >>> simplex_grid(3, 0.1).shape
        (66, 3)
    """
    if num_objectives < 2:
        raise ValueError(f"a preference grid needs at least 2 objectives; got {num_objectives}")
    parts = round(1.0 / step) if 0 < step <= 1 else 0  # step 0, negative or NaN: no lattice
    if parts < 1 or not np.isclose(parts * step, 1.0):
        raise ValueError(f"step must divide 1 evenly (e.g. 0.1, 0.25, 0.5); got {step}")
    rows = [c for c in itertools.product(range(parts, -1, -1), repeat=num_objectives - 1) if sum(c) <= parts]
    grid = np.array([[*c, parts - sum(c)] for c in rows], dtype=np.float64) / parts
    return grid


def paper_grid(num_objectives: int) -> np.ndarray:
    """The paper's evaluation preferences: 11 points for N = 2, the 13 vectors for N = 3."""
    if num_objectives == 2:
        return simplex_grid(2, 0.1)
    if num_objectives == 3:
        return np.array(PAPER_3D, dtype=np.float64)
    raise ValueError(f"the paper has no preset grid for {num_objectives} objectives; use simplex_grid()")


def path_grid(num_objectives: int, points: int = 5) -> np.ndarray:
    """Straight paths from each one-hot preference to the uniform one, ``points`` per path (ends included),
    shape (N * (points - 1) + 1, N): the uniform point is shared. Along path k, w_k falls from 1 to 1/N and
    every other weight rises to 1/N, so a model that steers objective k lowers reward k along its path; a
    grid whose size grows linearly in N, where a simplex lattice grows combinatorially.

    Example:
        >>> path_grid(2, 3).tolist()
        [[1.0, 0.0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]]
        >>> path_grid(5).shape
        (21, 5)
    """
    if num_objectives < 2 or points < 2:
        raise ValueError(f"a path grid needs >= 2 objectives and >= 2 points; got {num_objectives}, {points}")
    uniform = np.full(num_objectives, 1.0 / num_objectives)
    rows = {tuple(uniform.round(12))}
    for k in range(num_objectives):
        one_hot = np.eye(num_objectives)[k]
        for t in np.linspace(0, 1, points)[:-1]:
            rows.add(tuple(((1 - t) * one_hot + t * uniform).round(12)))
    grid = np.array(sorted(rows, reverse=True), dtype=np.float64)
    return grid
