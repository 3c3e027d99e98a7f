"""What the ``ric study`` set cost, read back from the files its runs left: training wall time (each run's
``compute.json``) and sweep wall time (a sweep's first file to its ``done.json``), per study.

    python -m ric_demo.study_cost --out runs/study [--write docs/study/cost.md]

The studies run in parts and resume, so no single run's clock covers the set; this sums what each part
recorded. Not counted: building the worlds and pre-training their base models (about a minute per world).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from ric_demo.study_specs import STUDIES


def variant_study() -> tuple[dict[str, str], set[str]]:
    """Variant folder -> the study that trains it ("" is the demo's own model, shared by every study), and
    the folders of online variants (copies of the demo's offline run)."""
    owner, online = {"": "shared (the demo's RiC models)"}, set()
    for name, spec in STUDIES.items():
        for quick in (False, True):
            for s in spec.settings(quick):
                owner.setdefault(s.variant.key, name)
                if s.variant.online:
                    online.add(s.variant.key)
    return owner, online


def run_seconds(run: Path, copied: bool = False) -> float:
    """A run's training wall time: the largest ``wall_time_s`` of its checkpoints (the trainers add it up
    over resumed stages). ``copied``: the run started from a copy of another's offline checkpoint, whose
    time is the other run's and is taken off (when the online records count on from it)."""
    walls = [json.loads(p.read_text()).get("wall_time_s", 0.0) for p in run.rglob("compute.json")]
    offline = [json.loads(p.read_text()).get("wall_time_s", 0.0) for p in run.glob("checkpoint-*/compute.json")]
    top, base = max(walls, default=0.0), max(offline, default=0.0)
    return top - base if copied and top > base else top


def sweep_seconds(folder: Path, end: str) -> float:
    """From the sweep's prompt file (its first write) to ``end`` (its last)."""
    starts = [p.stat().st_mtime for p in folder.glob("prompts.*")]
    return (folder / end).stat().st_mtime - min(starts) if starts and (folder / end).exists() else 0.0


def recorded_sweep_seconds(record: Path) -> float:
    """The ``sweep_s`` a sweep's record holds (written since 2026-12-02), else its file times."""
    seconds = json.loads(record.read_text()).get("sweep_s")
    return sweep_seconds(record.parent, record.name) if seconds is None else seconds


def costs(out: Path) -> dict[str, dict[str, float]]:
    """{study: {"training_min", "sweep_min", "runs", "sweeps"}} from the files under ``out``."""
    (owner, online), table = variant_study(), defaultdict(lambda: defaultdict(float))
    for ric in out.glob("models/s*/**/ric"):
        parts = ric.relative_to(out / "models").parts  # (seed, world, ric) or (seed, variant, world, ric)
        key = parts[1] if len(parts) == 4 else ""
        row = table[owner.get(key, key)]
        row["training_min"] += run_seconds(ric, key in online) / 60
        row["runs"] += 1
    baselines = [*out.glob("models/s*/image/baseline"), *out.glob("models/s*/text/baseline")]  # compute's only
    for run in [*baselines, *out.glob("compute/s*/*/*/w_*")]:
        if run.is_dir() and run.name != "cache":
            table["compute"]["training_min"] += run_seconds(run) / 60
            table["compute"]["runs"] += 1
    done_files = [(done.parts[-5], done) for done in out.glob("*/*/s*/*/done.json")]  # <study>/<world>/s*/<group>
    summaries = [("compute", s) for s in out.glob("compute/s*/*/summary.json")]  # the benchmark's world sweeps
    for study, record in done_files + summaries:
        table[study]["sweep_min"] += recorded_sweep_seconds(record) / 60
        table[study]["sweeps"] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


def elapsed_minutes(out: Path) -> float | None:
    """The set's elapsed wall time when run by ``benchmarks/study_set.sh``, which may be called several times
    (it resumes): each session's ``session start=EPOCH`` line in ``times`` to the ``end=EPOCH`` of its last
    finished part, summed over sessions; None for other runs.

    Example: a session from t = 0 whose parts ended at 60 s and 7,200 s is 120 minutes."""
    times = out / "times"
    if not times.is_file():
        return None
    spans: list[list[float]] = []  # [start, last end] per session
    for line in times.read_text().splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if line.startswith("session ") and "start" in fields:
            spans.append([float(fields["start"]), float(fields["start"])])
        elif spans and "end" in fields:
            spans[-1][1] = max(spans[-1][1], float(fields["end"]))
    return sum(end - start for start, end in spans) / 60 if spans else None


def markdown(table: dict[str, dict[str, float]], out: Path) -> str:
    lines = [
        "| study | training runs | training min | sweeps | sweep min | total min |",
        "|---|---|---|---|---|---|",
    ]
    for study, r in table.items():
        total = r.get("training_min", 0) + r.get("sweep_min", 0)
        lines.append(
            f"| {study} | {int(r.get('runs', 0))} | {r.get('training_min', 0):.1f} | {int(r.get('sweeps', 0))} | "
            f"{r.get('sweep_min', 0):.1f} | {total:.1f} |"
        )
    whole = sum(r.get("training_min", 0) + r.get("sweep_min", 0) for r in table.values())
    lines += ["", f"All studies: {whole:.0f} min of recorded wall time (`python -m ric_demo.study_cost --out {out}`)."]
    if (elapsed := elapsed_minutes(out)) is not None:
        lines.append(
            f"Elapsed: {elapsed:.0f} min from the set's start to its last part, summed over the sessions it ran in "
            "(`bash benchmarks/study_set.sh`: two workers, one thread each, on this machine's two cores)."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/study"))
    ap.add_argument("--write", type=Path, help="also write the table here (e.g. docs/study/cost.md)")
    args = ap.parse_args(argv)
    text = markdown(costs(args.out), args.out)
    print(text)
    if args.write:
        args.write.write_text("# Study: cost\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
