"""``ric demo``: RiC end to end on two small worlds it builds itself, on a CPU, with no downloads.

For each world: build data (cached) -> pre-train a tiny base model (cached) -> relabel -> offline RiC
-> online MORS (text: 1 iteration, image: 2) -> the shared preference sweep (``ric_eval``, through the modality's
benchmark) of 11 preferences on held-out prompts, next to a baseline trained on the same data for the
same steps without reward conditioning. Settings: ``configs/demo/``. Writes ``<world>/results.csv`` and
``<world>/summary.json`` (the one sweep schema), ``summary.json`` (both worlds), ``pareto.png``,
``image_grid.png`` and ``text_samples.md`` into --out and prints a summary table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from ric_runtime.config import console
from ric_runtime.io import atomic_write_json

USAGE = (
    "usage: ric demo [--modality image|text|both] [--out DIR] [--seed N] [--quick]\n"
    "       ric benchmark [--modality image|text|both] [--out DIR] [--demo-out DIR] [--seed N] [--quick]\n"
    "       ric study {mapping,ood,objectives,correlation,mors} [--worlds image text] [--seeds 0 1 2]\n"
    "                 [--out DIR] [--docs DIR] [--quick]"
)


def run_world(world: str, out: Path, seed: int, quick: bool) -> dict[str, Any]:
    """Train and sweep one world; returns its summary (the shared schema + quality measures)."""
    from ric_demo import image_demo, report, text_demo

    if world == "text":
        summary = text_demo.sweep_text(out, text_demo.train_text(out, seed, quick), seed, quick)
        report.text_samples(out / "text_samples.md", out / "text", summary)
    else:
        summary = image_demo.sweep_image(out, image_demo.train_image(out, seed, quick), seed, quick)
        report.image_grid(out / "image_grid.png", out / "image", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    from ric_demo.report import print_table
    from ric_eval.plots import plot_panels

    ap = argparse.ArgumentParser(prog="ric demo", description=__doc__.splitlines()[0])
    ap.add_argument("--modality", choices=["image", "text", "both"], default="both")
    ap.add_argument("--out", default="runs/demo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a much smaller run for smoke tests")
    args = ap.parse_args(argv)
    if args.seed < 0:
        ap.error(f"--seed must be >= 0; got {args.seed}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the demo never downloads
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start, worlds, timings = time.time(), {}, {}
    for world in ("text", "image"):
        if args.modality in (world, "both"):
            t0 = time.time()
            worlds[world] = run_world(world, out, args.seed, args.quick)
            timings[world] = round(time.time() - t0, 1)
    # no timings in summary.json: the same seed gives the same file (timing.json holds them)
    atomic_write_json(out / "summary.json", {"seed": args.seed, "quick": args.quick, "worlds": worlds})
    (out / "timing.json").write_text(json.dumps({**timings, "total_s": round(time.time() - start, 1)}))
    plot_panels(out / "pareto.png", {f"{w} world": s for w, s in worlds.items()})
    print_table(worlds, out)
    print(f"total wall time {time.time() - start:.0f} s")
    return 0


def cli(argv: list[str] | None = None) -> int:
    """The ``ric`` console command: ``ric demo [...]``, ``ric benchmark [...]`` or ``ric study NAME [...]``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if argv and argv[0] == "benchmark":
        from ric_demo.benchmark import main as benchmark

        return benchmark(argv[1:])
    if argv and argv[0] == "study":
        from ric_demo.study import cli as study

        return study(argv[1:])
    if not argv or argv[0] != "demo":
        print(USAGE, file=sys.stderr)
        what = f"unknown command {argv[0]!r}" if argv else "no command given"
        print(f"ric: error: {what}; the commands are 'ric demo', 'ric benchmark' and 'ric study'", file=sys.stderr)
        return 2
    return console(main, argv[1:], "ric demo")
