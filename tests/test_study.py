"""``ric study`` at smoke size, run as users run it: both built studies, both worlds, one seed, then a rerun."""

import json
import os
import subprocess
import sys

import pytest

from ric_demo.study import STUDIES

RIC = [sys.executable, "-c", "from ric_demo.cli import cli; raise SystemExit(cli())"]  # the `ric` console script


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """One ``--out`` for every quick study, as a user runs the set: the demo models are trained once."""
    return tmp_path_factory.mktemp("study") / "runs"


def test_every_study_names_its_settings_once_per_world():
    for study, spec in STUDIES.items():
        for quick in (True, False):
            for world in spec.worlds:
                names = [s.name for s in spec.settings(quick) if world in s.worlds]
                assert len(names) == len(set(names)) and names, (study, world)


@pytest.mark.e2e
def test_quick_studies_write_tables_and_plots_and_rerun_for_free(quick_runs, tmp_path):
    """``ric study all --quick``: the six studies in one command (the set's smoke run)."""
    out, docs = quick_runs, tmp_path / "docs"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [*RIC, "study", "all", "--quick", "--seeds", "0"]
    r = subprocess.run([*cmd, "--out", str(out), "--docs", str(docs)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (docs / "compute.md").is_file() and (docs / "compute.png").stat().st_size > 0
    for study in ("mapping", "ood", "objectives", "correlation", "mors"):
        table = json.loads((docs / f"{study}.json").read_text())["table"]
        assert set(table) == set(STUDIES[study].worlds)
        for name, world in table.items():
            assert list(world) == [s.name for s in STUDIES[study].settings(True) if name in s.worlds]
            for measures in world.values():
                assert 0.0 <= measures["quality"][0] <= 1.0 and measures["hypervolume"][0] >= 0.0
        text = (docs / f"{study}.md").read_text()
        assert "## text world" in text and "--quick" in text and (docs / f"{study}.png").stat().st_size > 0
    objectives = json.loads((docs / "objectives.json").read_text())["table"]["text"]
    assert all(0 < m["mors_acceptance"][0] <= 1 and 0 <= m["hv_side"][0] <= 1 for m in objectives.values())
    for world, correlation in json.loads((docs / "correlation.json").read_text())["table"].items():
        assert correlation["rho-0.8"]["data_corr"][0] < -0.3 and correlation["rho+0.8"]["data_corr"][0] > 0.3, world
    for world in json.loads((docs / "mors.json").read_text())["table"].values():  # MORS keeps fewer at 0.9
        assert world["q0.9-it1"]["mors_acceptance"][0] < world["q0.5-it1"]["mors_acceptance"][0]
        assert world["q0.5-it1"]["hv_raised"][0] in (0.0, 1.0) and world["offline"]["hv_raised"][0] == 0.0
    ood = json.loads((docs / "ood.json").read_text())["table"]
    assert ood["image"]["range_1.5x"]["targets_outside"][0] > 0 == ood["image"]["range_1x"]["targets_outside"][0]
    results = sorted(out.glob("*/*/s0_quick/*/results.csv"))
    stamps = [p.stat().st_mtime_ns for p in results]
    cmd = [*RIC, "study", "mapping", "--quick", "--seeds", "0"]
    r = subprocess.run([*cmd, "--out", str(out), "--docs", str(docs)], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and [p.stat().st_mtime_ns for p in results] == stamps  # nothing swept again


def test_the_objectives_study_shares_the_demo_model_at_n_2():
    from ric_demo.settings import trainer_config
    from ric_demo.text_world import REWARD_NAMES
    from ric_text.config import TextConfig

    settings = [s for s in STUDIES["objectives"].settings(False) if s.worlds == ("text",)]
    assert [s.variant.key for s in settings] == ["", "N3", "N4", "N5"]  # N2's folder is the demo's own
    assert list(trainer_config(TextConfig, "text", False).rewards) == REWARD_NAMES[:2]
    assert [len(s.variant.rewards) for s in settings[1:]] == [3, 4, 5]
    # the image world's N = 2..5 all train on the five-reward world, N = 2 included (the same data for every N)
    image = [s for s in STUDIES["objectives"].settings(False) if s.worlds == ("image",)]
    assert [s.variant.key for s in image] == ["N2", "N3", "N4", "N5"]
    assert [s.variant.rewards[:2] for s in image] == [("jpeg_compressibility", "toy_stripes")] * 4


def test_a_study_asked_for_a_world_it_lacks_says_which_it_has(tmp_path, monkeypatch, capsys):
    import dataclasses

    from ric_demo.study import main

    monkeypatch.setitem(STUDIES, "ood", dataclasses.replace(STUDIES["ood"], worlds=("text",)))
    with pytest.raises(SystemExit) as exit_:
        main(["ood", "--worlds", "image", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "no image world yet; it runs on: text" in capsys.readouterr().err


def test_normalised_hypervolume_compares_numbers_of_objectives():
    import numpy as np

    from ric_demo.study_measures import hv_side

    lo, hi = np.zeros(3), np.full(3, 2.0)
    assert hv_side(np.array([[2.0, 2.0, 2.0]]), lo, hi) == pytest.approx(1.0)  # the data's best of all at once
    assert hv_side(np.array([[1.0, 1.0, 1.0]]), lo, hi) == pytest.approx(0.5)  # half of every range: side 0.5
    assert hv_side(np.array([[1.0, 1.0]]), lo[:2], hi[:2]) == pytest.approx(0.5)  # the same for N = 2
    assert hv_side(np.array([[-1.0, 2.0, 2.0]]), lo, hi) == 0.0  # below one reward's minimum: nothing


def test_path_spearman_and_separation_read_each_objectives_own_path():
    import numpy as np

    from ric_core.grids import path_grid
    from ric_demo.study_measures import path_spearman, separation
    from ric_eval.table import preference_key

    names = ["a", "b", "c"]
    prefs = {preference_key(w): {"mean": dict(zip(names, w.tolist(), strict=True))} for w in path_grid(3)}
    assert path_spearman(prefs, names) == pytest.approx([1.0, 1.0, 1.0])  # reward k follows weight k
    flipped = {k: {"mean": {n: -v for n, v in p["mean"].items()}} for k, p in prefs.items()}
    assert path_spearman(flipped, names) == pytest.approx([-1.0, -1.0, -1.0])

    class Identity:
        def normalize(self, x):
            return np.asarray(x)

    assert separation(prefs, names, Identity()) == pytest.approx(1.0)  # one-hot k: reward k 1, others 0


def test_readme_study_tables_are_the_study_files(tmp_path):
    from ric_demo.tables import main as tables

    docs = tmp_path / "study"
    docs.mkdir()
    table = "| setting | hv |\n|---|---|\n| q0.9 | 12.5 |\n"
    (docs / "mors.md").write_text(f"# Study: mors\n\nrun on ...\n\n## text world\n\n{table}")
    (docs / "ood.md").write_text("# Study: ood\n\n## text world\n")  # no block for it in this README: left out
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- study-mors:start -->\nold\n<!-- study-mors:end -->\nb\n")
    assert tables(["--studies", str(docs), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "| q0.9 | 12.5 |" in text and "**text world**" in text and "old" not in text and "Study: ood" not in text


@pytest.mark.e2e
def test_quick_compute_study_sets_every_method_against_its_compute(quick_runs, tmp_path):
    """``ric study compute --quick``: a benchmark per seed (RiC, RL, soups, filtered SFT), the table of
    hypervolume against policy passes and wall time, and the goal ratios read from the benchmark's files.
    Run after the other studies, it sweeps the demo models they trained (and adds the baselines)."""
    from ric_demo.benchmark import policy_passes

    out, docs = quick_runs, tmp_path / "docs"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [*RIC, "study", "compute", "--quick", "--seeds", "0", "--out", str(out), "--docs", str(docs)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    shared = out / "models" / "s0_quick"  # the demo models every study sweeps, with the baselines beside them
    assert (shared / "image" / "baseline").is_dir() and (shared / "text" / "baseline").is_dir()
    assert not (out / "compute" / "s0_quick" / "demo").exists()
    result = json.loads((docs / "compute.json").read_text())
    bench = json.loads((out / "compute" / "s0_quick" / "summary.json").read_text())  # ric benchmark's own file
    for world, t in result["table"].items():
        expected = {"ric", "ric_online", "morlhf", "soups", "baseline"} | (
            {"filtered_sft"} if world == "image" else set()
        )
        assert set(t["models"]) == expected
        models = bench["worlds"][world]["models"]
        for name, m in t["models"].items():
            assert m["hypervolume"] == [models[name]["hypervolume"]]
            assert m["policy_passes"] == [policy_passes(models[name]["compute"])] and m["wall_time_s"][0] > 0
        rl, mine = models["morlhf"]["compute"], models["ric_online"]["compute"]
        assert t["goal"]["passes_share"] == [pytest.approx(policy_passes(mine) / policy_passes(rl))]
        assert mine["wall_time_s"] > models["ric"]["compute"]["wall_time_s"]  # the online stage adds to offline's
    text = (docs / "compute.md").read_text()
    assert "## image world" in text and "## text world" in text and "Goal, RiC + online" in text
    assert (docs / "compute.png").stat().st_size > 0
    ckpts = sorted((out / "compute" / "s0_quick" / "image" / "ddpo").glob("*/checkpoint-*"))
    stamps = [p.stat().st_mtime_ns for p in ckpts]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and [p.stat().st_mtime_ns for p in ckpts] == stamps  # nothing trained again


def test_the_cost_of_the_studies_is_read_back_from_their_files(tmp_path):
    """Training time from each run's compute.json (a copied offline checkpoint's taken off an online variant),
    sweep time from its prompt file to its done.json, per study."""
    from ric_demo.study_cost import costs, elapsed_minutes, markdown

    def record(folder, seconds):
        folder.mkdir(parents=True)
        (folder / "compute.json").write_text(json.dumps({"wall_time_s": seconds}))

    record(tmp_path / "models/s0/text/ric/checkpoint-500", 60.0)  # the demo's model: shared
    record(tmp_path / "models/s0/text/ric/final", 90.0)
    record(tmp_path / "models/s0/N3/text/ric/final", 120.0)  # objectives
    record(tmp_path / "models/s0/q0.5/text/ric/checkpoint-500", 60.0)  # mors: a copy of the demo's offline run
    record(tmp_path / "models/s0/q0.5/text/ric/online/iter0/policy", 96.0)
    record(tmp_path / "compute/s0/image/ddpo/w_1_0/checkpoint-80", 300.0)
    record(tmp_path / "models/s0/image/baseline/checkpoint-40", 60.0)  # trained for the compute study only
    sweep = tmp_path / "ood/text/s0/unseen"
    sweep.mkdir(parents=True)
    for name, t in (("prompts.jsonl", 1000.0), ("done.json", 1180.0)):
        (sweep / name).write_text("{}")
        os.utime(sweep / name, (t, t))
    table = costs(tmp_path)
    assert table["shared (the demo's RiC models)"]["training_min"] == pytest.approx(1.5)
    assert table["objectives"]["training_min"] == pytest.approx(2.0)
    assert table["mors"]["training_min"] == pytest.approx(0.6)  # 96 s - the copied 60 s
    assert table["compute"]["training_min"] == pytest.approx(6.0)
    assert table["ood"]["sweep_min"] == pytest.approx(3.0) and table["ood"]["sweeps"] == 1
    (sweep / "done.json").write_text(json.dumps({"sweep_s": 60.0}))  # recorded by the sweep: the file times aside
    assert costs(tmp_path)["ood"]["sweep_min"] == pytest.approx(1.0)
    bench = tmp_path / "compute/s0/text"  # the compute study's benchmark sweep: its summary records sweep_s
    bench.mkdir(parents=True)
    (bench / "prompts.jsonl").write_text("{}")
    os.utime(bench / "prompts.jsonl", (0.0, 0.0))  # file times would say hours: a rerun rewrote the summary
    (bench / "summary.json").write_text(json.dumps({"sweep_s": 90.0}))
    assert costs(tmp_path)["compute"]["sweep_min"] == pytest.approx(1.5)
    assert elapsed_minutes(tmp_path) is None  # not a study_set.sh run
    (tmp_path / "times").write_text(  # two sessions (the set resumed): 100 + 20 minutes, the gap not counted
        "session start=1000\nood_image_s0 rc=0 180s worker1 end=1180\nmors_image_s0 rc=0 5s worker2 end=7000\n"
        "session start=90000\nmapping_text_s0 rc=0 1200s worker1 end=91200\n"
    )
    assert elapsed_minutes(tmp_path) == pytest.approx(120.0) and "Elapsed: 120 min" in markdown(table, tmp_path)


def test_a_setting_that_is_another_by_definition_reports_that_ones_sweep():
    """lp1 and lp2 are linear and l2 (ric_core.mapping): the mapping study copies their rows, in its order,
    and sweeps them once; --quick sweeps 5 preferences where the paper's grid has 11."""
    from ric_demo.study import setting_rows
    from ric_demo.study_specs import sweep_grid

    settings = [s for s in STUDIES["mapping"].settings(False) if "image" in s.worlds]
    swept = {s.name: {"hypervolume": float(i)} for i, s in enumerate(settings) if s.same_as is None}
    rows = setting_rows(settings, swept)
    assert list(rows) == [s.name for s in settings]
    assert rows["lp1"] == swept["linear"] and rows["lp2"] == swept["l2"] and rows["lp4"] == swept["lp4"]
    assert {"lp1", "lp2"}.isdisjoint(swept) and rows["lp1"] is not swept["linear"]  # a copy, not shared
    assert sweep_grid("paper", True) == "simplex:0.25" and sweep_grid("paths", True) == "paths"
    assert sweep_grid("paper", False) == "paper"


def test_mors_variants_name_their_quantile_and_rule_whatever_the_preset_sets():
    """The image preset keeps quantile 0.5: a mors variant left to the preset would silently be at 0.5 and its
    row mislabelled, so every variant passes the quantile and rule its name says."""
    from ric_core.online import OnlineConfig

    for s in STUDIES["mors"].settings(False):
        if not s.variant.online:
            continue
        given = dict(o.split("=", 1) for o in s.variant.online)
        name = s.name.rsplit("-it", 1)[0]
        quantile = float(name[1:4]) if name.startswith("q") else 0.7
        assert float(given["online.quantile"]) == quantile and 0 < quantile < 1, s.name
        assert given["online.mors_rule"] == ("all" if name.endswith("-all") else "any"), s.name
    assert OnlineConfig().quantile == 0.7  # the paper's, which the q0.7 and n* rows stand for


def test_a_rerun_sweep_adds_its_own_time_to_the_one_recorded(tmp_path):
    """sweep_clock counts on from the summary's sweep_s: reading a finished sweep back adds seconds, not the
    hours since it ran."""
    import time

    from ric_demo.sweeps import sweep_clock

    record = tmp_path / "summary.json"
    assert sweep_clock(record) == pytest.approx(time.time(), abs=5)
    record.write_text(json.dumps({"sweep_s": 600.0}))
    assert time.time() - sweep_clock(record) == pytest.approx(600.0, abs=5)
