import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ric_core.mapping import map_preference, validate_preference
from ric_core.stats import RewardStats

# docs/method.md section 4.3: w1 -> (linf targets, l2 targets, linear targets) for range [-4.2, 4.2].
PAPER_TABLE = {
    1.0: ((4.2, -4.2), (4.2, -4.2), (4.2, -4.2)),
    0.9: ((4.2, -2.5), (4.1, -3.3), (3.4, -3.4)),
    0.8: ((4.2, -0.8), (3.9, -2.2), (2.5, -2.5)),
    0.7: ((4.2, 0.8), (3.5, -0.9), (1.7, -1.7)),
    0.6: ((4.2, 2.5), (2.8, 0.5), (0.8, -0.8)),
    0.5: ((4.2, 4.2), (1.7, 1.7), (0.0, 0.0)),
}


@pytest.mark.parametrize("w1", sorted(PAPER_TABLE))
def test_paper_table(w1):
    for method, expected in zip(("linf", "l2", "linear"), PAPER_TABLE[w1], strict=True):
        got = map_preference([w1, 1 - w1], method=method, low=-4.2, high=4.2)
        np.testing.assert_allclose(got, expected, atol=1e-9, err_msg=f"{method} at w1={w1}")
        # The table is symmetric for w1 < 0.5.
        mirrored = map_preference([1 - w1, w1], method=method, low=-4.2, high=4.2)
        np.testing.assert_allclose(mirrored, expected[::-1], atol=1e-9)


def test_per_reward_ranges_and_stats_default():
    t = map_preference([0.8, 0.2], low=[0.0, -10.0], high=[1.0, 10.0], decimals=None)
    np.testing.assert_allclose(t, [1.0, -10 + 0.4 * 20])
    stats = RewardStats.from_scores([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]], ["a", "b"])
    t = map_preference([1.0, 0.0], stats=stats, decimals=None)
    np.testing.assert_allclose(t, [stats.z_max[0], stats.z_min[1]])


weights = st.lists(st.floats(0, 1), min_size=2, max_size=6).filter(lambda w: sum(w) > 1e-3)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_lp_family_special_cases(n):
    rng = np.random.default_rng(n)
    for w in rng.dirichlet(np.ones(n), size=20):
        lp = {p: map_preference(w, method="lp", p=p, low=-1, high=2, decimals=None) for p in (1, 2, np.inf)}
        np.testing.assert_allclose(lp[1], map_preference(w, method="linear", low=-1, high=2, decimals=None))
        np.testing.assert_allclose(lp[2], map_preference(w, method="l2", low=-1, high=2, decimals=None))
        linf = map_preference(w, method="linf", low=-1, high=2, decimals=None)
        top = int(np.argmax(w))  # lp(inf) and linf agree on the arg-max objective ...
        assert lp[np.inf][top] == pytest.approx(linf[top]) == pytest.approx(2.0)
    for w in [*np.eye(n), np.full(n, 1 / n)]:  # ... and at the vertices and the centre.
        np.testing.assert_allclose(
            map_preference(w, method="lp", p=np.inf, low=-1, high=2, decimals=None),
            map_preference(w, method="linf", low=-1, high=2, decimals=None),
        )


@settings(max_examples=200, deadline=None)
@given(weights, st.sampled_from(["linf", "l2", "linear", "lp"]), st.floats(1, 8))
def test_targets_stay_in_range(w, method, p):
    n = len(w)
    low, high = -np.arange(1, n + 1, dtype=float), np.arange(1, n + 1, dtype=float) * 2
    t = map_preference(w, method=method, p=p, low=low, high=high, decimals=None)
    assert np.all(t >= low - 1e-9) and np.all(t <= high + 1e-9)


@settings(max_examples=200, deadline=None)
@given(weights, st.integers(0, 5), st.floats(0.01, 0.5), st.sampled_from(["linf", "l2", "linear", "lp"]))
def test_target_monotone_in_own_weight(w, i, delta, method):
    w = np.asarray(w) / np.sum(w)
    i = i % len(w)
    assume(w[i] < 1 - 1e-6)
    grown_wi = w[i] + delta * (1 - w[i])
    w2 = w * (1 - grown_wi) / (1 - w[i])  # the others shrink proportionally
    w2[i] = grown_wi
    t1 = map_preference(w, method=method, p=3, low=-4.2, high=4.2, decimals=None)
    t2 = map_preference(w2, method=method, p=3, low=-4.2, high=4.2, decimals=None)
    assert t2[i] >= t1[i] - 1e-9


@settings(max_examples=200, deadline=None)
@given(weights)
def test_linf_gives_argmax_its_maximum(w):
    t = map_preference(w, method="linf", low=-3.0, high=3.0, decimals=None)
    assert t[int(np.argmax(w))] == pytest.approx(3.0)


def test_quantile_variant_reads_training_distribution():
    rng = np.random.default_rng(1)
    raw = np.column_stack([rng.exponential(1.0, 4000), rng.normal(0, 1, 4000)])
    stats = RewardStats.from_scores(raw, ["skewed", "normal"])
    t = map_preference([0.75, 0.25], method="quantile", stats=stats, decimals=None)
    # linf in CDF space: reward 1 at its maximum, reward 2 at its quantile level 2 * 0.25 = 0.5.
    z = stats.normalize(raw)
    np.testing.assert_allclose(t, [z[:, 0].max(), np.quantile(z[:, 1], 0.5)], atol=1e-9)
    with pytest.raises(ValueError, match="stats=RewardStats"):
        map_preference([0.5, 0.5], method="quantile", low=0, high=1)


def test_quantile_linear_follows_the_data_trade_off():
    rng = np.random.default_rng(2)
    raw = np.column_stack([rng.exponential(1.0, 4000), rng.normal(0, 1, 4000)])
    stats = RewardStats.from_scores(raw, ["skewed", "normal"])
    z = stats.normalize(raw)
    mid = map_preference([0.5, 0.5], method="quantile_linear", stats=stats, decimals=None)
    np.testing.assert_allclose(mid, np.median(z, axis=0), atol=0.02)  # the medians, not the maxima
    w1 = np.linspace(0, 1, 11)
    t = np.array([map_preference([a, 1 - a], method="quantile_linear", stats=stats, decimals=None) for a in w1])
    assert (np.diff(t[:, 0]) > 0).all() and (np.diff(t[:, 1]) < 0).all()  # both move at every step
    np.testing.assert_allclose(t[-1], [z[:, 0].max(), z[:, 1].min()], atol=1e-9)


def test_quantile_levels_keep_the_ends_off_single_outliers():
    rng = np.random.default_rng(3)
    raw = np.column_stack([rng.normal(0, 1, 2000), rng.normal(0, 1, 2000)])
    raw[0, 0] = 25.0  # one outlier sets reward 1's maximum
    stats = RewardStats.from_scores(raw, ["a", "b"])
    z = stats.normalize(raw)
    full = map_preference([1, 0], method="quantile_linear", stats=stats, decimals=None)
    trimmed = map_preference([1, 0], method="quantile_linear", stats=stats, decimals=None, levels=(0.01, 0.99))
    assert full[0] == pytest.approx(z[:, 0].max())  # the outlier itself
    np.testing.assert_allclose(trimmed, [np.quantile(z[:, 0], 0.99), np.quantile(z[:, 1], 0.01)], atol=0.05)
    mid = map_preference([0.5, 0.5], method="quantile_linear", stats=stats, decimals=None, levels=(0.01, 0.99))
    np.testing.assert_allclose(mid, np.median(z, axis=0), atol=0.02)  # the middle stays the median
    assert (
        map_preference([0.7, 0.3], stats=stats, levels=(0.01, 0.99)) == map_preference([0.7, 0.3], stats=stats)
    ).all()


@pytest.mark.parametrize("levels", [(0.5, 0.5), (-0.1, 0.9), (0.2, 1.5), (0.1,)])
def test_bad_quantile_levels_are_refused(levels):
    stats = RewardStats.from_scores([[0.0, 0.0], [1.0, 2.0]], ["a", "b"])
    with pytest.raises(ValueError, match="quantile levels"):
        map_preference([0.5, 0.5], method="quantile", stats=stats, levels=levels)


def test_configs_check_quantile_levels_at_load_time():
    from ric_diffusion.config import DiffusionConfig
    from ric_runtime.config import load_config
    from ric_text.config import TextConfig

    for cls in (DiffusionConfig, TextConfig):
        assert load_config(cls, None, ["inference.quantile_levels=[0.01, 0.99]"]).inference.quantile_levels == [
            0.01,
            0.99,
        ]
        with pytest.raises(ValueError, match="quantile levels"):
            load_config(cls, None, ["inference.quantile_levels=[0.9, 0.1]"])


@pytest.mark.parametrize(
    ("w", "match"),
    [
        ([0.5, np.nan], "finite"),
        ([0.5, np.inf], "finite"),
        ([-0.1, 1.1], ">= 0"),
        ([0.0, 0.0], "all zero"),
        ([1.0], "at least 2"),
        ([[0.5, 0.5]], "1-D"),
    ],
)
def test_bad_preferences(w, match):
    with pytest.raises(ValueError, match=match):
        validate_preference(w)


def test_wrong_length_names_expected_count():
    with pytest.raises(ValueError, match="this model has 3 rewards"):
        validate_preference([0.5, 0.5], num_rewards=3)
    stats = RewardStats.from_scores([[0.0, 1.0, 2.0], [1.0, 3.0, 0.0]], ["a", "b", "c"])
    with pytest.raises(ValueError, match="pass 3 weights"):
        map_preference([0.5, 0.5], stats=stats)


def test_unnormalised_weights_are_normalised():
    np.testing.assert_allclose(validate_preference([3, 1]), [0.75, 0.25])
    np.testing.assert_allclose(
        map_preference([3, 1], low=-4.2, high=4.2), map_preference([0.75, 0.25], low=-4.2, high=4.2)
    )


def test_bad_method_and_p():
    with pytest.raises(ValueError, match="unknown mapping method"):
        map_preference([0.5, 0.5], method="l3", low=0, high=1)
    with pytest.raises(ValueError, match="p >= 1"):
        map_preference([0.5, 0.5], method="lp", p=0.5, low=0, high=1)
    with pytest.raises(ValueError, match="low= and high="):
        map_preference([0.5, 0.5])


def test_targets_never_print_minus_zero():
    from ric_core.mapping import map_preference

    t = map_preference([0.5, 0.5], method="linear", low=-1.0, high=1.0)  # 0.0 computed as -1 + 0.5 * 2
    assert [str(x) for x in t.tolist()] == ["0.0", "0.0"]
    assert str(map_preference([0.5, 0.5], method="linear", low=-0.04, high=0.0)[0]) == "0.0"  # -0.02 rounds to -0.0


def _stats():
    rng = np.random.default_rng(1)
    return RewardStats.from_scores(rng.normal(size=(500, 2)) * [1.0, 3.0], ["a", "b"])


def test_target_range_settings():
    """The range the non-quantile rules map onto: data min/max, quantiles, the reference draws, fixed values."""
    from ric_core.mapping import resolve_targets, target_bounds

    s = _stats()
    low, high = target_bounds(s, "data")
    np.testing.assert_allclose(high, s.z_max)
    ql, qh = target_bounds(s, "quantile", (0.1, 0.9))
    np.testing.assert_allclose(qh, s.z_quantile([0.9, 0.9]))
    rl, rh = target_bounds(s, "reference")
    assert np.all((rh > 3.5) & (rh < 5.0)) and np.all((rl > -5.0) & (rl < -3.5))  # extremes of 50,000 N(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference range leaves the data: checked below
        z = resolve_targets(s, [1.0, 0.0], target_range="reference")
    assert z[0] == np.round(rh[0], 1) and z[1] == np.round(rl[1], 1)  # linf at a vertex: the high, the low
    z = resolve_targets(s, [0.5, 0.5], method="linear", target_range=[[-1, 1], [0, 2]])
    np.testing.assert_allclose(z, [0.0, 1.0])
    with pytest.raises(ValueError, match="2 rewards"):
        target_bounds(s, [[0, 1], [0, 1], [0, 1]])


def test_targets_outside_the_data_warn_and_inside_do_not():
    from ric_core.mapping import OutOfSupportWarning, resolve_targets

    s = _stats()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_targets(s, [0.3, 0.7])  # the data's own range: silent
        resolve_targets(s, rewards=[0.0, 0.0])
    with pytest.warns(OutOfSupportWarning, match="leave the training data's range for a"):
        resolve_targets(s, rewards=[float(s.z_max[0]) * 1.5, 0.0])
    with pytest.warns(OutOfSupportWarning):
        resolve_targets(s, [1.0, 0.0], target_range="reference")


def test_projection_moves_an_unseen_combination_to_the_nearest_training_vector(tmp_path):
    from ric_core.mapping import MappingSettings, OutOfSupportWarning

    rng = np.random.default_rng(0)
    a = rng.normal(size=2000)
    raw = np.stack([a, -a + 0.1 * rng.normal(size=2000)], axis=1)  # a trade-off: no "both high" sample
    stats = RewardStats.from_scores(raw, ["r1", "r2"])
    stats = RewardStats.load(stats.save(tmp_path / "reward_stats.json"))  # the support survives the file
    plain = MappingSettings(mapping="linf").targets(stats, preference=[0.5, 0.5])
    projected = MappingSettings(mapping="linf", project=True).targets(stats, preference=[0.5, 0.5])
    assert plain.tolist() == [stats.z_max[0].round(1), stats.z_max[1].round(1)]  # the utopia corner
    z = stats.normalize(raw)
    assert np.abs(projected - np.round(z, 1)).sum(axis=1).min() < 1e-9  # a vector a training sample had
    assert projected.sum() < plain.sum() - 1.0  # pulled back onto the data's front
    explicit = MappingSettings(project=True).targets(stats, rewards=[3.0, 3.0])
    assert explicit.tolist() == [3.0, 3.0]  # explicit targets are the caller's
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfSupportWarning)
        MappingSettings(mapping="linf", target_range=[[-9, 9]], project=True).targets(stats, preference=[1, 0])


def test_projection_on_statistics_without_support_says_how_to_fix():
    import dataclasses

    from ric_core.mapping import MappingSettings

    stats = dataclasses.replace(RewardStats.from_scores([[0.0, 1.0], [1.0, 0.0]], ["a", "b"]), support_z=None)
    with pytest.raises(ValueError, match="retrain, or set inference.project=false"):
        MappingSettings(project=True).targets(stats, preference=[0.5, 0.5])
    with pytest.raises(ValueError, match="inference.project must be true or false"):
        MappingSettings(project="yes").validate()
