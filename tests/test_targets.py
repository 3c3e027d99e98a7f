import numpy as np
import pytest

from ric_core.mapping import map_preference
from ric_core.online_targets import gaussian_reference_range, sample_online_targets


@pytest.mark.parametrize("k", [2, 3, 5])
def test_paper_sampler_one_varied_rest_at_max(k):
    t = sample_online_targets(2000, low=-4.4, high=4.4, num_rewards=k, rng=0, decimals=None)
    assert t.shape == (2000, k)
    at_max = np.isclose(t, 4.4)
    assert np.all(at_max.sum(axis=1) >= k - 1)
    varied = t[~at_max]
    assert varied.min() >= -4.4 and varied.max() <= 4.4
    # The varied objective is the minimum of k uniforms: its mean fraction is 1 / (k + 1).
    assert (varied.mean() + 4.4) / 8.8 == pytest.approx(1 / (k + 1), abs=0.03)
    # Every objective gets to be the varied one.
    assert set(np.argmin(t, axis=1).tolist()) == set(range(k))


def test_seeded_and_rounded():
    a = sample_online_targets(10, -2, 2, num_rewards=2, rng=7)
    b = sample_online_targets(10, -2, 2, num_rewards=2, rng=7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, np.round(a, 1))
    assert not np.array_equal(a, sample_online_targets(10, -2, 2, num_rewards=2, rng=8))


def test_targets_are_in_the_linf_family():
    # Each sampled target vector is what the linf mapping gives for some preference.
    t = sample_online_targets(50, low=-1.0, high=3.0, num_rewards=3, rng=1, decimals=None)
    for row in t:
        frac = (row + 1.0) / 4.0
        v = int(np.argmin(frac))  # the varied objective; the others sit at their maximum
        w = np.full(3, (1 - frac[v] / 3) / 2)  # others share the rest: each >= 1/3, so at max
        w[v] = frac[v] / 3  # linf: x_v = 3 w_v
        np.testing.assert_allclose(map_preference(w, low=-1.0, high=3.0, decimals=None), row, atol=1e-9)


def test_per_reward_ranges_and_uniform_strategy():
    t = sample_online_targets(500, low=[0, -10], high=[1, 10], strategy="uniform", rng=0, decimals=None)
    assert t[:, 0].min() >= 0 and t[:, 0].max() <= 1 and t[:, 1].min() >= -10 and t[:, 1].max() <= 10
    assert not np.any(np.isclose(t, [1, 10]).all(axis=1))


def test_reference_range_and_errors():
    lo, hi = gaussian_reference_range()
    assert -5 < lo < -3.5 and 3.5 < hi < 5  # extremes of 100k standard-normal draws
    assert gaussian_reference_range() == (lo, hi)  # seeded
    with pytest.raises(ValueError, match="at least 2 rewards"):
        sample_online_targets(3, 0, 1)
    with pytest.raises(ValueError, match="high must be >="):
        sample_online_targets(3, 1, 0, num_rewards=2)
    with pytest.raises(ValueError, match="strategy"):
        sample_online_targets(3, 0, 1, num_rewards=2, strategy="gauss")
