"""`ric demo --quick` and `ric benchmark --quick` end to end, as users run them: every number in their
summaries is recomputed here from the files they wrote (results.csv, saved outputs, checkpoints)."""

import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from ric_core.mapping import map_preference
from ric_core.pareto import hypervolume
from ric_core.stats import RewardStats
from ric_demo.image_world import compliance
from ric_demo.text_world import well_formed
from ric_diffusion.checkpoint import resolve_checkpoint
from ric_eval.steering import spearman
from ric_eval.summary import SCHEMA
from ric_eval.table import ResultsTable, parse_key
from ric_runtime.checkpoints import read_config
from ric_text.model import resolve_text_checkpoint

pytestmark = pytest.mark.e2e
RESOLVE = {"text": resolve_text_checkpoint, "image": resolve_checkpoint}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "quick"
    cmd = ["ric", "demo", "--quick", "--out", str(out)]  # the console script, as the README runs it
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def world(demo, name):
    summary = json.loads((demo / "summary.json").read_text())["worlds"][name]
    rows = ResultsTable(demo / name / "results.csv", summary["reward_names"]).rows()
    return summary, rows


def means_of(rows, model, key, names):
    return np.array([np.mean([r[n] for r in rows if r["model"] == model and r["preference"] == key]) for n in names])


def test_artefacts_and_one_schema(demo):
    for name in ("summary.json", "pareto.png", "image_grid.png", "text_samples.md", "timing.json"):
        assert (demo / name).stat().st_size > 0, name
    top = json.loads((demo / "summary.json").read_text())
    assert set(top["worlds"]) == {"text", "image"}
    for name, s in top["worlds"].items():
        assert s == json.loads((demo / name / "summary.json").read_text())  # the world's own sweep file
        assert s["schema"] == SCHEMA and s["hypervolume_units"].startswith("raw")
        assert set(s["models"]) == {"ric", "ric_online", "baseline"}
        assert all(len(m["preferences"]) == 11 for m in s["models"].values())
        assert not any(p.startswith("/") for p in s["model_specs"].values())  # no absolute paths in the file
    grid = Image.open(demo / "image_grid.png")
    assert grid.height == 11 * 16 * 4  # 11 preferences of 16 px pictures, upscaled 4x


@pytest.mark.parametrize("name", ["text", "image"])
def test_summary_is_recomputed_from_results_csv(demo, name):
    s, rows = world(demo, name)
    names = s["reward_names"]
    stats = RewardStats.load(RESOLVE[name](demo / name / s["model_specs"]["ric_online"]))
    np.testing.assert_allclose(s["reference_point"], stats.denormalize(stats.z_min - 0.5), atol=1e-5)
    for model, m in s["models"].items():
        keys = list(m["preferences"])
        means = np.array([means_of(rows, model, k, names) for k in keys])
        np.testing.assert_allclose([[m["preferences"][k]["mean"][n] for n in names] for k in keys], means, atol=1e-5)
        assert m["hypervolume"] == pytest.approx(hypervolume(means, s["reference_point"]), abs=1e-5)
        w = np.array([parse_key(k) for k in keys])
        for j, n in enumerate(names):  # steering ranks the summary's means (6 decimals: near-ties are ties)
            rho = spearman(w[:, j], [m["preferences"][k]["mean"][n] for k in keys])
            assert (m["steering"][n] is None) if np.isnan(rho) else m["steering"][n] == pytest.approx(rho, abs=1e-6)


def test_quality_measures_are_recomputed_from_the_outputs(demo):
    s, rows = world(demo, "text")
    for model, m in s["models"].items():
        for key, share in m["quality"]["well_formed"]["per_preference"].items():
            sel = [r for r in rows if r["model"] == model and r["preference"] == key]
            assert share == pytest.approx(np.mean([well_formed(r["output"]) for r in sel]), abs=1e-6)
    s, rows = world(demo, "image")
    for model, m in s["models"].items():
        sel = [r for r in rows if r["model"] == model and r["preference"] == "0.5,0.5"]
        images = [Image.open(demo / "image" / r["output"]) for r in sel]
        expected = compliance(images, [r["prompt"] for r in sel]).mean()
        assert m["quality"]["compliance"]["per_preference"]["0.5,0.5"] == pytest.approx(expected, abs=1e-6)
        assert m["quality"]["compliance"]["worst_preference"] == min(
            m["quality"]["compliance"]["per_preference"].values()
        )


@pytest.mark.parametrize("name", ["text", "image"])
def test_targets_in_the_csv_are_the_mapped_preferences(demo, name):
    s, rows = world(demo, name)
    ckpt = RESOLVE[name](demo / name / s["model_specs"]["ric_online"])
    stats, inference = RewardStats.load(ckpt), read_config(ckpt)["inference"]
    mine = [r for r in rows if r["model"] == "ric_online"]
    for r in mine[:: max(1, len(mine) // 7)]:
        z = map_preference(
            parse_key(r["preference"]), method=inference["mapping"], stats=stats, levels=inference["quantile_levels"]
        )
        targets = json.loads(r["targets"])
        np.testing.assert_allclose([targets[n] for n in s["reward_names"]], stats.denormalize(z), atol=1e-5)
    baseline = [r for r in rows if r["model"] == "baseline"]
    assert baseline and not any(r["targets"] for r in baseline)  # the baseline has no reward input
    if name == "image":  # ... so one pass serves every preference: identical outputs along the sweep
        by_cell = {}
        for r in baseline:
            by_cell.setdefault((r["prompt_index"], r["sample"]), set()).add(
                np.asarray(Image.open(demo / "image" / r["output"])).tobytes()
            )
        assert all(len(v) == 1 for v in by_cell.values())


def test_benchmark_quick_compares_ric_with_the_baselines(demo, tmp_path):
    from ric_demo.benchmark import policy_passes
    from ric_demo.benchmark import run as benchmark

    out = tmp_path / "bench"
    summary = benchmark(["--quick", "--demo-out", str(demo), "--out", str(out)])
    assert (out / "summary.json").exists() and (out / "pareto.png").stat().st_size > 0
    assert set(summary["worlds"]) == {"image", "text"}
    for name, s in summary["worlds"].items():
        want = {"ric", "ric_online", "soups", "morlhf", "baseline"} | ({"filtered_sft"} if name == "image" else set())
        assert set(s["models"]) == want
        assert set(s["models"]["morlhf"]["preferences"]) == {"1,0", "0.5,0.5", "0,1"}
        assert s["models"]["morlhf"]["compute"]["runs"] == 3 and s["models"]["soups"]["compute"]["runs"] == 2
        assert 0 < s["sweep_s"] < 3600  # the sweep's own wall time (ric_demo.study_cost reads it)
        demo_world, _ = world(demo, name)  # the same world reference point: HVs of both sweeps compare
        assert s["reference_point"] == demo_world["reference_point"]
        ratios = summary["comparison"][name]
        for model in ("soups", "morlhf", "baseline"):
            c, mine = s["models"][model]["compute"], s["models"]["ric_online"]["compute"]
            assert ratios[model]["ric_online_samples_fraction"] == pytest.approx(mine["samples"] / c["samples"], 1e-3)
            assert ratios[model]["ric_online_passes_fraction"] == pytest.approx(
                policy_passes(mine) / policy_passes(c), 1e-3
            )
        if name == "image":  # MORLHF is RL: 3 DDPO runs of 1 epoch, 4 rollouts x 10 steps x 2 CFG branches trained
            rl = json.loads((out / "image" / "ddpo" / "w_1_0" / "preference.json").read_text())
            assert "RL" in rl["method"] and s["models"]["morlhf"]["compute"]["policy_forward_backward"] == 3 * 80
            assert s["models"]["filtered_sft"]["compute"]["runs"] == 3
        rows = ResultsTable(out / name / "results.csv", s["reward_names"]).rows()
        if name == "text":  # the GRPO runs' well-formed share, recomputed from their texts
            sel = [r for r in rows if r["model"] == "morlhf"]
            assert ratios["morlhf"]["well_formed"] == pytest.approx(
                np.mean([well_formed(r["output"]) for r in sel]), abs=1e-6
            )
    again = benchmark(["--quick", "--demo-out", str(demo), "--out", str(out)])  # everything cached: same summary
    assert again["comparison"] == summary["comparison"]


def test_readme_tables_are_written_from_the_summaries(demo, tmp_path):
    from ric_demo.tables import main as tables

    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- demo-table:start -->\nold\n<!-- demo-table:end -->\nafter\n")
    assert tables(["--demo", str(demo), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    s = json.loads((demo / "summary.json").read_text())["worlds"]["image"]["models"]
    row = next(ln for ln in text.splitlines() if ln.startswith("| 0 | image |"))
    assert f"{s['baseline']['hypervolume']:.4g}" in row  # the number in the table is the one in the file
    with pytest.raises(ValueError, match="benchmark-table"):
        tables(["--benchmark", str(demo), "--readme", str(readme)])
