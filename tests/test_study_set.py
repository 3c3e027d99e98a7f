"""``benchmarks/study_set.sh`` as users run it, at smoke size: two workers, two parts that need one world and one
model (one builds them while the other waits on the lock), then a resumed session that reruns only what is
not done."""

import os
import subprocess
from pathlib import Path

import pytest

from ric_demo.study_cost import elapsed_minutes

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "study_set.sh"


def _run_set(out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEEDS": "0", "PARTS": "mapping:text ood:text", "STUDY_FLAGS": "--quick"}
    return subprocess.run(["bash", str(SCRIPT), str(out), "2"], env=env, capture_output=True, text=True, timeout=900)


def _part_lines(out: Path) -> list[str]:
    return [line for line in (out / "times").read_text().splitlines() if not line.startswith("session")]


@pytest.mark.e2e
def test_the_study_set_runs_parts_side_by_side_and_resumes(tmp_path):
    out = tmp_path / "set"
    first = _run_set(out)
    assert first.returncode == 0, first.stderr[-2000:]
    parts = _part_lines(out)
    assert sorted(p.split()[0] for p in parts) == ["mapping_text_s0", "ood_text_s0"]
    assert all(" rc=0 " in p for p in parts), parts
    assert {p.split()[3] for p in parts} == {"worker1", "worker2"}  # both workers took a part
    for name in ("mapping_text_s0", "ood_text_s0"):
        assert (out / "done" / name).is_file()
        assert (out / "docs_parts" / name / f"{name.split('_')[0]}.md").is_file()
    assert len(list((out / "models").glob("s0_quick/text/ric"))) == 1  # one model, shared through the lock
    assert 0 < elapsed_minutes(out) < 15 and "min" in first.stdout

    (out / "done" / "ood_text_s0").unlink()  # as if that part had been killed: its claim is left behind
    (out / "queue" / "ood_text_s0").mkdir(parents=True, exist_ok=True)
    second = _run_set(out)
    assert second.returncode == 0, second.stderr[-2000:]
    again = _part_lines(out)[len(parts) :]
    assert [p.split()[0] for p in again] == ["ood_text_s0"] and " rc=0 " in again[0]  # only the unfinished part
    assert (out / "times").read_text().count("session start=") == 2
