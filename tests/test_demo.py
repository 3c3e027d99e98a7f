"""`ric demo --quick` end to end: artefacts exist and agree with each other and with ric_core."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from ric_core.mapping import map_preference
from ric_core.pareto import hypervolume
from ric_core.stats import RewardStats
from ric_diffusion.checkpoint import resolve_checkpoint
from ric_text.model import resolve_text_checkpoint


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "quick"
    subprocess.run([sys.executable, "-m", "ric_demo", "--quick", "--out", str(out)], check=True, timeout=1800)
    return out


def test_artefacts(demo):
    for name in ("results.csv", "summary.json", "pareto.png", "image_grid.png", "text_samples.md", "timing.json"):
        assert (demo / name).stat().st_size > 0, name
    summary = json.loads((demo / "summary.json").read_text())
    assert set(summary["worlds"]) == {"text", "image"}
    for info in summary["worlds"].values():
        assert set(info["models"]) == {"ric", "ric_online", "baseline"}
        for m in info["models"].values():
            assert len(m["mean_rewards_z"]) == 11 and len(m["compliance"]) == 11
            for key in ("spearman_w1_reward1", "spearman_w1_reward2"):
                assert np.isnan(m[key]) or -1 <= m[key] <= 1


def test_summary_agrees_with_results_csv(demo):
    summary = json.loads((demo / "summary.json").read_text())
    rows = list(csv.DictReader((demo / "results.csv").open()))
    for world, info in summary["worlds"].items():
        names = info["reward_names"]
        resolve = resolve_text_checkpoint if world == "text" else resolve_checkpoint
        ckpt = resolve(demo / world / "ric")
        stats = RewardStats.load(ckpt / "reward_stats.json")
        config = json.loads((ckpt / ("config.json" if world == "image" else "ric_config.json")).read_text())
        mapping, levels = config["inference"]["mapping"], config["inference"]["quantile_levels"]
        for model, m in info["models"].items():
            mine = [r for r in rows if r["world"] == world and r["model"] == model]
            per_pref = sum(float(r["w1"]) == 1.0 for r in mine)
            assert per_pref > 0 and all(
                sum(float(r["w1"]) == round(w, 1) for r in mine) == per_pref for w in info["w1"]
            )
            means = np.array([[np.mean([float(r[n]) for r in mine if float(r["w1"]) == round(w, 1)]) for n in names]
                              for w in info["w1"]])  # fmt: skip
            np.testing.assert_allclose(stats.normalize(means), m["mean_rewards_z"], atol=1e-5)
            assert hypervolume(stats.normalize(means), info["reference_point_z"]) == pytest.approx(
                m["hypervolume"], abs=1e-5
            )
            if world == "image" and model == "baseline":  # no reward input: one pass serves every preference
                assert np.ptp(means, axis=0).max() == 0
            if model != "baseline":  # the RiC prompts carry the mapped targets
                for r in mine[:: max(1, len(mine) // 7)]:
                    w1 = float(r["w1"])
                    expected = map_preference([w1, 1 - w1], method=mapping, stats=stats, levels=levels)
                    np.testing.assert_allclose(json.loads(r["targets"]), expected)


def test_benchmark_quick_compares_ric_with_the_baselines(demo, tmp_path):
    from ric_demo.benchmark import main as benchmark

    out = tmp_path / "bench"
    summary = benchmark(["--quick", "--demo-out", str(demo), "--out", str(out)])
    assert (out / "summary.json").exists() and (out / "pareto.png").stat().st_size > 0
    assert set(summary["worlds"]) == {"image", "text"}
    for world, s in summary["worlds"].items():
        assert set(s["models"]) == {"ric", "ric_online", "soups", "morlhf", "baseline"}
        assert set(s["models"]["morlhf"]["preferences"]) == {"1,0", "0.5,0.5", "0,1"}
        assert s["models"]["morlhf"]["compute"]["runs"] == 3 and s["models"]["soups"]["compute"]["runs"] == 2
        ratios = summary["comparison"][world]
        for name in ("soups", "morlhf", "baseline"):
            c, mine = s["models"][name]["compute"], s["models"]["ric_online"]["compute"]
            assert ratios[name]["ric_online_samples_fraction"] == pytest.approx(mine["samples"] / c["samples"], 1e-3)
        quality = "compliance" if world == "image" else "well_formed"
        assert all(0 <= m[quality] <= 1 for m in s["models"].values())
    again = benchmark(["--quick", "--demo-out", str(demo), "--out", str(out)])  # everything cached: same summary
    assert again["comparison"] == summary["comparison"]
