"""What both demo worlds add to the shared sweep: the world's reference point and its quality measures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ric_core.stats import RewardStats
from ric_eval.summary import add_quality
from ric_eval.table import ResultsTable
from ric_runtime.io import atomic_write_json

REFERENCE_RULE = "the world's training data: z_min - 0.5 of each normalised reward, written in raw units"


def write_prompts(path: Path, text: str) -> Path:
    """The sweep's prompt file, left untouched when it already holds ``text``: its time stays the sweep's
    start, which ``ric_demo.study_cost`` reads."""
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def grid_args(grid: str) -> list[str]:
    """The sweep's ``--grid`` flags: "paper", "paths", "simplex" or "simplex:STEP" (a lattice of that step).

    >>> grid_args("simplex:0.25")
    ['--grid', 'simplex', '--step', '0.25']
    """
    name, _, step = grid.partition(":")
    return ["--grid", name, *(["--step", step] if step else [])]


def reference_args(ckpt: Path) -> list[str]:
    """``--reference-point`` from the RiC checkpoint's training statistics (z_min - 0.5, in raw units):
    a point fixed by the world, so ``ric demo`` and ``ric benchmark`` measure every model against it."""
    stats = RewardStats.load(ckpt)
    ref = stats.denormalize(stats.z_min - 0.5)
    return ["--reference-point", *[f"{x:.6f}" for x in ref], "--reference-rule", REFERENCE_RULE]


def sweep_clock(record: Path) -> float:
    """A sweep's start time: now, less the ``sweep_s`` its ``record`` (a summary.json or a study cell's
    done.json) already holds, so a resumed or re-read sweep adds its own minutes instead of the file times
    telling the hours between the runs (``ric_demo.study_cost`` reads ``sweep_s``)."""
    return time.time() - (json.loads(record.read_text()).get("sweep_s", 0.0) if record.is_file() else 0.0)


def add_world_measures(
    folder: Path,
    summary: dict[str, Any],
    measures: dict[str, tuple[str, Callable[[dict[str, Any]], float]]],
    started: float | None = None,
) -> dict[str, Any]:
    """Quality measures per row (name -> (description, row -> 0..1)) from ``folder/results.csv``, added
    to the summary, which is written back; with ``started`` (``sweep_clock``) also ``sweep_s``, the sweep's
    wall time over all its runs."""
    rows = ResultsTable(folder / "results.csv", summary["reward_names"]).rows()
    for name, (description, per_row) in measures.items():
        add_quality(summary, rows, name, description, lambda sel, f=per_row: [f(r) for r in sel])
    if started is not None:
        summary["sweep_s"] = round(time.time() - started, 1)
    atomic_write_json(folder / "summary.json", summary)
    return summary
