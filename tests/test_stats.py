import json

import numpy as np
import pytest

from ric_core.stats import RewardStats


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    return np.column_stack([rng.normal(5.0, 2.0, 500), rng.uniform(-3, -1, 500)])


def test_population_statistics(scores):
    s = RewardStats.from_scores(scores, ["aesthetic", "jpeg"])
    np.testing.assert_allclose(s.mean, scores.mean(axis=0))
    np.testing.assert_allclose(s.std, scores.std(axis=0, ddof=0))  # population std, as np.std
    np.testing.assert_allclose(s.min, scores.min(axis=0))
    np.testing.assert_allclose(s.max, scores.max(axis=0))
    np.testing.assert_allclose(s.quantiles[-1], scores.max(axis=0))
    assert s.count == 500


def test_normalise_denormalise_round_trip(scores):
    s = RewardStats.from_scores(scores, ["a", "b"])
    z = s.normalize(scores)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(s.denormalize(z), scores)
    np.testing.assert_allclose(s.z_min, z.min(axis=0))
    np.testing.assert_allclose(s.z_max, z.max(axis=0))


def test_decimals_reproduce_reference_rounding():
    raw = np.array([[0.04], [0.16], [0.26]])
    s = RewardStats.from_scores(raw, ["r"], decimals=1)
    np.testing.assert_allclose(s.mean, [np.mean([0.0, 0.2, 0.3])])


def test_z_quantile_reads_the_table(scores):
    s = RewardStats.from_scores(scores, ["a", "b"])
    z = s.z_quantile([0.5, 1.0])
    expected = (np.array([np.median(scores[:, 0]), scores[:, 1].max()]) - s.mean) / s.std
    np.testing.assert_allclose(z, expected, atol=1e-9)


def test_json_round_trip_keeps_names_and_order(tmp_path, scores):
    s = RewardStats.from_scores(scores, ["jpeg", "aesthetic"])
    path = s.save(tmp_path / "ckpt" / "reward_stats.json")
    data = json.loads(path.read_text())
    assert data["names"] == ["jpeg", "aesthetic"]
    loaded = RewardStats.load(tmp_path / "ckpt")  # a checkpoint folder works too
    assert loaded.names == ("jpeg", "aesthetic")
    for field in ("mean", "std", "min", "max", "quantile_levels", "quantiles"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(s, field))
    assert not list((tmp_path / "ckpt").glob("*.tmp"))


def test_constant_reward_is_a_clear_error():
    with pytest.raises(ValueError, match="reward 'flat' has std 0.0"):
        RewardStats.from_scores([[1.0, 0.5], [2.0, 0.5], [3.0, 0.5]], ["ok", "flat"])


def test_non_finite_scores_name_the_reward():
    with pytest.raises(ValueError, match="reward 'b' has 1 non-finite"):
        RewardStats.from_scores([[1.0, 0.5], [2.0, np.nan]], ["a", "b"])


def test_shape_and_name_mismatches():
    with pytest.raises(ValueError, match="3 columns but 2 reward names"):
        RewardStats.from_scores(np.zeros((4, 3)), ["a", "b"])
    s = RewardStats.from_scores([[1.0, 2.0], [2.0, 5.0]], ["a", "b"])
    with pytest.raises(ValueError, match="do not match"):
        s.check_names(["b", "a"])
    s.check_names(["a", "b"])
    with pytest.raises(ValueError, match="last dimension of 2"):
        s.normalize([1.0, 2.0, 3.0])


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="reward_stats.json"):
        RewardStats.load(tmp_path)


def test_constant_rewards_are_refused_unless_nothing_is_normalised():
    scores = [[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]]
    with pytest.raises(ValueError, match="every sample scored the same"):
        RewardStats.from_scores(scores, ["a", "b"])
    s = RewardStats.from_scores(scores, ["a", "b"], constant_ok=True)  # e.g. an unconditioned baseline
    assert s.std.tolist() == [pytest.approx(np.std([1.0, 3.0, 5.0])), 1.0] and s.max[1] == 2.0
