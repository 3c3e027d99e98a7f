"""The README's result tables, written from the runs' ``summary.json`` files (never typed by hand).

    python -m ric_demo.tables --demo runs/demo_s0 runs/demo_s1 runs/demo_s2 --benchmark runs/benchmark \\
        --studies docs/study --readme README.md

Each table replaces the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in the README
(``demo-table``, ``benchmark-table``, and ``study-<name>`` for each ``ric study`` table in ``--studies``
whose block the README has), with the machine and date it was measured on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

NAMES = {"ric": "RiC", "ric_online": "RiC + online", "soups": "Rewarded Soups", "baseline": "unconditioned"}


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}g}" if abs(x) < 1 else f"{x:,.{digits}g}"


def _quality(m: dict[str, Any]) -> float | None:
    q = m.get("quality", {})
    first = next(iter(q.values()), None)
    return None if first is None else first["worst_preference"]


def machine() -> str:
    return f"{os.cpu_count()}-core {platform.machine()} CPU, {datetime.date.today().isoformat()}"


def demo_table(runs: list[Path]) -> str:
    """Seed x world: steering of RiC + online, hypervolumes, worst-preference quality."""
    lines = [
        "| seed | world | Spearman w_k↔r_k (RiC + online) | HV RiC → + online | HV unconditioned | "
        "worst-preference quality RiC + online (unconditioned) |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        top = json.loads((run / "summary.json").read_text())
        for world, s in top["worlds"].items():
            m = s["models"]
            rho = " / ".join(
                "–" if (x := m["ric_online"]["steering"][n]) is None else f"{x:.2f}" for n in s["reward_names"]
            )
            hv = f"{_fmt(m['ric']['hypervolume'], 4)} → {_fmt(m['ric_online']['hypervolume'], 4)}"
            quality = f"{_quality(m['ric_online']):.2f} ({_quality(m['baseline']):.2f})"
            lines.append(
                f"| {top['seed']} | {world} | {rho} | {hv} | {_fmt(m['baseline']['hypervolume'], 4)} | {quality} |"
            )
    timing = [json.loads((r / "timing.json").read_text())["total_s"] for r in runs if (r / "timing.json").exists()]
    note = (
        f"Measured by `ric demo --seed N` on a {machine()}; full runs took {', '.join(f'{t:.0f} s' for t in timing)}."
    )
    return "\n".join(lines) + "\n\n" + note


def model_label(world: str, name: str) -> str:
    """A benchmark model's name in the tables: the RL baseline named for what trains it."""
    rl = {"text": "MORLHF (GRPO)", "image": "MORLHF (DDPO RL)"}
    return {"morlhf": rl[world], "filtered_sft": "reward-filtered SFT"}.get(name, NAMES.get(name, name))


def benchmark_table(run: Path) -> str:
    """World x model: hypervolume, RiC + online's ratios of hypervolume and compute, quality."""
    top = json.loads((run / "summary.json").read_text())
    lines = [
        "| world | model | hypervolume | RiC + online ÷ it | training samples | policy passes | RiC + online ÷ it "
        "| wall s | quality (mean) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for world, rows in top["comparison"].items():
        for name, r in rows.items():
            quality = next((f"{k.replace('_', '-')} {r[k]:.2f}" for k in ("compliance", "well_formed") if k in r), "–")
            samples, passes = (f"{r[k]:,}" if k in r else "–" for k in ("samples", "policy_passes"))
            wall = f"{r['wall_time_s']:,.0f}" if "wall_time_s" in r else "–"
            lines.append(
                f"| {world} | {model_label(world, name)} | {_fmt(r['hypervolume'], 3)} | "
                f"{_fmt(r.get('ric_online_hypervolume_ratio'))} | {samples} | {passes} | "
                f"{_fmt(r.get('ric_online_passes_fraction'))} | {wall} | {quality} |"
            )
    return "\n".join(lines) + f"\n\nMeasured by `ric benchmark --seed {top['seed']}` on a {machine()}."


def study_table(path: Path) -> str:
    """A ``ric study`` table file (``docs/study/<name>.md``, written by the study) without its title, the
    world headings in bold: the same numbers, read from the file."""
    lines = path.read_text().strip().splitlines()[1:]
    return "\n".join(f"**{ln[3:]}**" if ln.startswith("## ") else ln for ln in lines).strip()


def replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"the README has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    return head + start + "\n" + body + "\n" + end + rest.split(end, 1)[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", nargs="*", type=Path, default=[], help="ric demo output folders, one per seed")
    ap.add_argument("--benchmark", type=Path, help="a ric benchmark output folder")
    ap.add_argument("--studies", type=Path, help="a folder of ric study tables (docs/study)")
    ap.add_argument("--readme", type=Path, default=Path("README.md"))
    args = ap.parse_args(argv)
    text = args.readme.read_text()
    for name, given in (("demo-table", args.demo), ("benchmark-table", args.benchmark)):
        if given:
            replace_block(text, name, "")  # a README without the block fails before any file is read
    if args.demo:
        text = replace_block(text, "demo-table", demo_table(args.demo))
    if args.benchmark:
        text = replace_block(text, "benchmark-table", benchmark_table(args.benchmark))
    for table in sorted(args.studies.glob("*.md")) if args.studies else []:
        if f"<!-- study-{table.stem}:start -->" in text:
            text = replace_block(text, f"study-{table.stem}", study_table(table))
    args.readme.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
