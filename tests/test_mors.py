import numpy as np
import pytest

from ric_core.mors import mors

# A fixed pool of normalised rewards; thresholds at q=0.7 by numpy's linear interpolation:
# column 0 sorted [-1, 0, 0.5, 1, 2] -> position 2.8 -> 0.5 + 0.8 * 0.5 = 0.9
# column 1 sorted [-2, -1, 0, 1, 3] -> position 2.8 -> 0 + 0.8 * 1 = 0.8
POOL = np.array([[2.0, -2.0], [0.5, 0.0], [-1.0, 3.0], [1.0, 1.0], [0.0, -1.0]])


def test_paper_rule_fixed_pool():
    r = mors(POOL, quantile=0.7)
    np.testing.assert_allclose(r.thresholds, [0.9, 0.8])
    assert r.kept.tolist() == [0, 2, 3]  # any objective at or above its threshold
    assert r.fraction_kept == pytest.approx(0.6)


def test_all_rule_is_stricter():
    r = mors(POOL, quantile=0.7, rule="all")
    assert r.kept.tolist() == [3]
    assert r.fraction_kept == pytest.approx(0.2)


def test_threshold_is_inclusive():
    r = mors([[0.0], [1.0]], quantile=1.0)
    assert r.kept.tolist() == [1]


def test_independent_rewards_keep_about_half():
    s = np.random.default_rng(0).normal(size=(20000, 2))
    assert mors(s).fraction_kept == pytest.approx(1 - 0.7**2, abs=0.01)


def test_empty_pool_and_errors():
    r = mors(np.zeros((0, 2)))
    assert r.kept.size == 0 and r.fraction_kept == 0.0
    with pytest.raises(ValueError, match="rule"):
        mors(POOL, rule="most")
    with pytest.raises(ValueError, match="quantile"):
        mors(POOL, quantile=1.5)
    with pytest.raises(ValueError, match="non-finite"):
        mors([[np.nan, 0.0], [0.0, 0.0]])
