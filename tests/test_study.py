"""``ric study`` at smoke size, run as users run it: both built studies, both worlds, one seed, then a rerun."""

import json
import os
import subprocess
import sys

import pytest

from ric_demo.study import STUDIES

RIC = [sys.executable, "-c", "from ric_demo.cli import cli; raise SystemExit(cli())"]  # the `ric` console script


def test_every_study_names_its_settings_once():
    for study, make in STUDIES.items():
        for quick in (True, False):
            names = [s.name for s in make(quick)]
            assert len(names) == len(set(names)) and names, study


@pytest.mark.e2e
def test_quick_studies_write_tables_and_plots_and_rerun_for_free(tmp_path):
    out, docs = tmp_path / "runs", tmp_path / "docs"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for study in ("mapping", "ood"):
        cmd = [*RIC, "study", study, "--quick", "--seeds", "0"]
        r = subprocess.run([*cmd, "--out", str(out), "--docs", str(docs)], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        table = json.loads((docs / f"{study}.json").read_text())["table"]
        assert set(table) == {"image", "text"}
        for world in table.values():
            assert list(world) == [s.name for s in STUDIES[study](True)]
            for measures in world.values():
                assert 0.0 <= measures["quality"][0] <= 1.0 and measures["hypervolume"][0] >= 0.0
        text = (docs / f"{study}.md").read_text()
        assert "## image world" in text and "--quick" in text and (docs / f"{study}.png").stat().st_size > 0
    ood = json.loads((docs / "ood.json").read_text())["table"]
    assert ood["image"]["range_1.5x"]["targets_outside"][0] > 0 == ood["image"]["range_1x"]["targets_outside"][0]
    results = sorted(out.glob("*/*/s0_quick/*/results.csv"))
    stamps = [p.stat().st_mtime_ns for p in results]
    cmd = [*RIC, "study", "mapping", "--quick", "--seeds", "0"]
    r = subprocess.run([*cmd, "--out", str(out), "--docs", str(docs)], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and [p.stat().st_mtime_ns for p in results] == stamps  # nothing swept again
