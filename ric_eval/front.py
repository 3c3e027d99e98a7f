"""Find the measured front of a checkpoint in the sweeps' ``summary.json`` files (for the app).

A sweep's summary names its models by spec (paths relative to the summary's folder). The front of a
checkpoint is the per-preference means of the model whose spec resolves to the same checkpoint, from
any sweep that measured it: ``ric demo``, ``ric benchmark`` or a modality's benchmark CLI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ric_eval.summary import SCHEMA


@dataclass
class Front:
    """One model's measured means per preference, raw reward units, grid order."""

    model: str
    summary: Path
    reward_names: list[str]
    preferences: list[str]
    means: np.ndarray  # (P, K) raw


def _same(spec_path: Path, target: Path, resolve: Callable[[Path], Path]) -> bool:
    try:
        return resolve(spec_path).resolve() == target
    except (FileNotFoundError, OSError, ValueError):
        return False


def front_in(summary_file: Path, ckpt: Path, resolve: Callable[[Path], Path]) -> Front | None:
    """The front of ``ckpt`` in one summary file, or None when that sweep did not measure it."""
    try:
        summary = json.loads(summary_file.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if summary.get("schema") != SCHEMA:
        return None
    target = resolve(ckpt).resolve()
    for name, spec in summary.get("model_specs", {}).items():
        if ":" in spec or name not in summary["models"]:  # soups and per-preference runs are not one checkpoint
            continue
        path = Path(spec) if os.path.isabs(spec) else summary_file.parent / spec
        if _same(path, target, resolve):
            prefs = summary["models"][name]["preferences"]
            names = summary["reward_names"]
            means = np.array([[p["mean"][n] for n in names] for p in prefs.values()])
            return Front(name, summary_file, list(names), list(prefs), means)
    return None


def candidate_summaries(ckpt: Path, levels: int = 4) -> list[Path]:
    """``summary.json`` in the checkpoint's folder, its parents (``levels`` up) and their subfolders."""
    out: list[Path] = []
    for folder in [ckpt, *ckpt.resolve().parents][: levels + 1]:
        out += [folder / "summary.json", *sorted(folder.glob("*/summary.json"))]
    return [p for p in dict.fromkeys(out) if p.is_file()]


def find_front(
    ckpt: str | os.PathLike, resolve: Callable[[Path], Path], summaries: Iterable[str | os.PathLike] = ()
) -> Front | None:
    """The newest measured front of ``ckpt``: in the given summary files first, else near the checkpoint."""
    ckpt = Path(ckpt)
    files = [Path(s) for s in summaries] or candidate_summaries(ckpt)
    found = [f for f in (front_in(s, ckpt, resolve) for s in files) if f is not None]
    return max(found, key=lambda f: f.summary.stat().st_mtime) if found else None
