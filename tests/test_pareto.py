import itertools

import numpy as np
import pytest

from ric_core.grids import PAPER_3D, paper_grid, simplex_grid
from ric_core.pareto import hypervolume, non_dominated, pareto_front


def brute_force_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Sum the cells of the grid spanned by all coordinates that some point dominates."""
    axes = [np.unique(np.concatenate([[ref[d]], points[:, d]])) for d in range(points.shape[1])]
    total = 0.0
    for cell in itertools.product(*[range(len(a) - 1) for a in axes]):
        upper = np.array([axes[d][c + 1] for d, c in enumerate(cell)])
        lower = np.array([axes[d][c] for d, c in enumerate(cell)])
        if lower.min() < -1e300:
            continue
        if np.any(np.all(points >= upper, axis=1)) and np.all(lower >= ref):
            total += float(np.prod(upper - lower))
    return total


def brute_force_non_dominated(points: np.ndarray) -> np.ndarray:
    n = len(points)
    return np.array(
        [not any(np.all(points[j] >= points[i]) and np.any(points[j] > points[i]) for j in range(n)) for i in range(n)]
    )


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_hypervolume_matches_brute_force(dims, seed):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, size=(12 if dims == 2 else 8, dims))
    if seed == 0:  # a few points worse than the reference in some objective add nothing
        pts[:3, 0] = -0.5
    ref = np.full(dims, 0.05)
    expected = brute_force_hypervolume(pts[np.all(pts > ref, axis=1)], ref)
    assert hypervolume(pts, ref) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dims", [2, 3, 5])
def test_non_dominated_matches_brute_force(dims):
    rng = np.random.default_rng(dims)
    pts = np.round(rng.uniform(0, 1, size=(40, dims)), 1)  # rounding creates ties and duplicates
    np.testing.assert_array_equal(non_dominated(pts), brute_force_non_dominated(pts))


def test_front_and_known_values():
    pts = [[5, 5], [4, 6], [2, 7], [7, 4], [1, 1]]
    np.testing.assert_array_equal(pareto_front(pts), [[2, 7], [4, 6], [5, 5], [7, 4]])
    assert hypervolume(pts, ref=[0, 0]) == 39.0
    assert hypervolume(pts, ref=[10, 10]) == 0.0
    assert hypervolume(np.zeros((0, 2)), ref=[0, 0]) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        hypervolume([[np.nan, 1.0]], ref=[0, 0])


def test_grids():
    g2 = paper_grid(2)
    assert g2.shape == (11, 2)
    np.testing.assert_allclose(g2[:, 0], np.linspace(1, 0, 11))
    np.testing.assert_allclose(g2.sum(axis=1), 1)
    assert paper_grid(3).shape == (13, 3) and len(PAPER_3D) == 13
    g5 = simplex_grid(5, 0.25)
    assert g5.shape == (70, 5)  # C(4 + 4, 4)
    np.testing.assert_allclose(g5.sum(axis=1), 1)
    assert len({tuple(r) for r in g5.tolist()}) == 70
    with pytest.raises(ValueError, match="divide 1"):
        simplex_grid(2, 0.3)


def test_path_grid_runs_from_each_one_hot_to_uniform():
    from ric_core.grids import path_grid

    g = path_grid(4, points=5)
    assert g.shape == (17, 4)
    np.testing.assert_allclose(g.sum(axis=1), 1.0)
    rows = {tuple(r) for r in g.round(6)}
    assert all(tuple(np.eye(4)[k]) in rows for k in range(4)) and (0.25, 0.25, 0.25, 0.25) in rows
    for k in range(4):  # path k: w_k falls from 1 to 1/N while the others stay equal to each other
        path = g[np.isclose(np.delete(g, k, axis=1).std(axis=1), 0) & (g[:, k] >= 0.25 - 1e-9)]
        assert len(path) == 5 and np.isclose(path[:, k].max(), 1) and np.isclose(path[:, k].min(), 0.25)
    with pytest.raises(ValueError, match="path grid"):
        path_grid(1)
