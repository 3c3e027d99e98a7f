"""Preference sweeps, shared by the image and text benchmarks: a resumable results table and its summary.

A sweep evaluates models on a grid of preferences x prompts x seeds (x samples). Each finished cell
is one row of ``results.csv``; rows are appended and flushed as they come, so an interrupted sweep
resumes by skipping the cells already in the file. The summary (mean and standard error per model,
preference and reward; each model's Pareto set and exact hypervolume) is computed from the CSV
alone, so it can always be rebuilt from what is on disk.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ric_core.pareto import hypervolume, non_dominated

CELL = ("model", "preference", "prompt_index", "seed", "sample")  # one row per cell
BASE_COLUMNS = (*CELL, "prompt", "targets", "output")


def preference_key(w: Sequence[float]) -> str:
    """A preference as it is written in the CSV: ``"0.3,0.7"`` (rounded to 6 decimals, no ``-0``)."""
    return ",".join(f"{round(float(x), 6) + 0.0:g}" for x in w)


def parse_preferences(specs: Sequence[str], num_rewards: int) -> list[np.ndarray]:
    """``["1,0", "0.5,0.5"]`` -> validated weight vectors (one per run of a per-preference baseline).

    Example:
        >>> [w.tolist() for w in parse_preferences(["1,0", "0.5,0.5"], 2)]
        [[1.0, 0.0], [0.5, 0.5]]
    """
    from ric_core.mapping import validate_preference

    out = []
    for spec in specs:
        try:
            w = [float(x) for x in spec.split(",")]
        except ValueError:
            raise ValueError(f"preference {spec!r}: write comma-separated weights, e.g. 0.3,0.7") from None
        out.append(validate_preference(w, num_rewards))
    return out


def soup_weights(preference: Sequence[float], num_ingredients: int) -> list[float]:
    """Rewarded Soups mixes ingredient i's weight delta with weight w_i: one weight per ingredient."""
    if len(preference) != num_ingredients:
        raise ValueError(f"a soup of {num_ingredients} LoRAs needs {num_ingredients} weights; got {len(preference)}")
    return [float(w) for w in preference]


def preference_dirname(w: Sequence[float]) -> str:
    """The run folder of one preference: ``w_0.3_0.7``."""
    return "w_" + preference_key(w).replace(",", "_")


class ResultsTable:
    """An append-only ``results.csv`` whose columns are fixed by the reward names.

    Example:
        >>> import tempfile
        >>> t = ResultsTable(Path(tempfile.mkdtemp()) / "results.csv", ["r1", "r2"])
        >>> t.append([{"model": "m", "preference": "1,0", "prompt_index": 0, "seed": 0, "sample": 0,
        ...            "prompt": "p", "targets": "", "output": "x", "r1": 1.0, "r2": 2.0}])
        >>> t.done() == {("m", "1,0", 0, 0, 0)}
        True
    """

    def __init__(self, path: str | os.PathLike, reward_names: Sequence[str]):
        self.path, self.reward_names = Path(path), list(reward_names)
        self.columns = [*BASE_COLUMNS, *self.reward_names]
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open(newline="") as f:
                header = next(csv.reader(f), [])
            if header != self.columns:
                raise ValueError(
                    f"{self.path} has columns {header}, but this sweep writes {self.columns}: resume with the same "
                    "rewards, or give a new --out"
                )

    def rows(self) -> list[dict[str, Any]]:
        """Every complete row (a line cut short by a crash is ignored), typed."""
        if not self.path.exists():
            return []
        out = []
        with self.path.open(newline="") as f:
            for row in csv.DictReader(f):
                if None in row.values() or None in row:  # a truncated last line
                    continue
                try:
                    typed = {**row, "prompt_index": int(row["prompt_index"]), "seed": int(row["seed"]),
                             "sample": int(row["sample"])}  # fmt: skip
                    typed.update({n: float(row[n]) for n in self.reward_names})
                except ValueError:
                    continue
                out.append(typed)
        return out

    def done(self) -> set[tuple]:
        return {tuple(r[c] for c in CELL) for r in self.rows()}

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        if not new:
            self._repair_tail()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="raise")
            if new:
                writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())

    def _repair_tail(self) -> None:
        """Drop a last line that a crash cut short, so new rows start on a line of their own."""
        with self.path.open("rb") as f:  # one byte per append; the whole file only after a crash
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
        data = self.path.read_bytes()
        self.path.write_bytes(data[: data.rfind(b"\n") + 1])


class Candidate(Protocol):
    """One model under evaluation, whatever it is (RiC checkpoint, base model, soup, per-preference runs)."""

    def covers(self, preference: Sequence[float]) -> bool:
        """False where the model has nothing for this preference (a per-preference baseline)."""

    def generate(
        self, prompts: list[str], preference: Sequence[float], seeds: list[int]
    ) -> tuple[list[Any], dict[str, float] | None]:
        """One output per prompt (the i-th drawn with ``seeds[i]``) and the raw targets it aimed at, if any."""

    def compute(self) -> dict[str, Any] | None:
        """Training compute of the model (samples, forward/backward passes, wall time), if recorded."""


def read_compute(ckpt: str | os.PathLike) -> dict[str, Any] | None:
    """A checkpoint's ``compute.json`` (what its training cost), or None when it has none."""
    f = Path(ckpt) / "compute.json"
    return json.loads(f.read_text()) if f.exists() else None


class PerPreferenceRuns:
    """One trained run per preference (MORLHF-style baselines): ``root/*/preference.json`` names each run's
    weights. ``load(run_dir)`` builds the modality's model for one run (one is kept loaded at a time);
    ``resolve(run_dir)`` finds the checkpoint whose ``compute.json`` counts.
    """

    def __init__(self, root: str | os.PathLike, load: Callable[[Path], Any], resolve: Callable[[Path], Path]):
        self.runs: dict[str, Path] = {}
        for f in sorted(Path(root).glob("*/preference.json")):
            self.runs[preference_key(json.loads(f.read_text())["preference"])] = f.parent
        if not self.runs:
            raise FileNotFoundError(f"per-preference:{root}: no */preference.json (one run folder per preference)")
        self.load, self.resolve, self._loaded = load, resolve, {}

    def covers(self, preference: Sequence[float]) -> bool:
        return preference_key(preference) in self.runs

    def preferences(self) -> list[list[float]]:
        return [[float(x) for x in key.split(",")] for key in self.runs]

    def generate(self, prompts: list[str], preference: Sequence[float], seeds: list[int]):
        key = preference_key(preference)
        if key not in self._loaded:
            self._loaded = {key: self.load(self.runs[key])}
        return self._loaded[key].generate(prompts, preference, seeds)

    def compute(self) -> dict[str, Any] | None:
        return add_compute([read_compute(self.resolve(r)) for r in self.runs.values()])


def extend_grid(grid: np.ndarray, models: dict[str, Any]) -> np.ndarray:
    """The grid plus every preference a per-preference model was trained at (so each run is measured),
    in the grid's order (descending w1); ``models`` may define ``preferences() -> list of weights``."""
    keys = {preference_key(w) for w in grid}
    extra: dict[str, np.ndarray] = {}  # key -> weights, each new preference once
    for m in models.values():
        for w in getattr(m, "preferences", list)():
            if preference_key(w) not in keys:
                extra[preference_key(w)] = np.asarray(w, dtype=np.float64)
    if not extra:
        return grid
    full = np.concatenate([grid, np.stack(list(extra.values()))])
    return full[np.lexsort(full.T[::-1])[::-1]]


def cell_seed(seed: int, prompt_index: int, sample: int) -> int:
    """Each cell's own seed: a cell's output does not depend on what else was in its batch (resume-safe)."""
    return (seed * 1_000_003 + prompt_index * 1_009 + sample) % (2**31)


def run_sweep(
    table: ResultsTable,
    models: dict[str, Candidate],
    prompts: Sequence[str],
    grid: np.ndarray,
    seeds: Sequence[int],
    per_prompt: int,
    score: Callable[[list[str], list[Any]], np.ndarray],
    store: Callable[[str, str, int, int, int, Any], str],
    batch_size: int = 16,
    progress: bool = True,
) -> int:
    """Generate, score and append every cell of models x grid x seeds x prompts x samples not yet in ``table``.

    ``score(prompts, outputs)`` returns (B, K) rewards in ``table.reward_names`` order; ``store(model,
    preference_key, prompt_index, seed, sample, output)`` saves one output and returns what the CSV's
    ``output`` column holds (a path, or the text). Returns the number of cells generated.
    """
    from tqdm.auto import tqdm

    done = table.done()
    todo = []
    for name, model in models.items():
        for w in grid:
            if not model.covers(w):
                continue
            key = preference_key(w)
            for seed in seeds:
                cells = [(pi, s) for pi in range(len(prompts)) for s in range(per_prompt)]
                todo += [(name, w, key, seed, pi, s) for pi, s in cells if (name, key, pi, seed, s) not in done]
    bar = tqdm(total=len(todo), desc="sweep", unit="cell", disable=not progress)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        # a chunk may span models or preferences: split it into runs of one (model, preference)
        for name, key in dict.fromkeys((c[0], c[2]) for c in chunk):
            part = [c for c in chunk if c[0] == name and c[2] == key]
            w, ps = part[0][1], [prompts[c[4]] for c in part]
            outputs, targets = models[name].generate(ps, w, [cell_seed(c[3], c[4], c[5]) for c in part])
            values = np.asarray(score(ps, outputs), dtype=np.float64)
            rows = []
            for (_, _, _, seed, pi, s), out, v in zip(part, outputs, values, strict=True):
                rows.append({"model": name, "preference": key, "prompt_index": pi, "seed": seed, "sample": s,
                             "prompt": prompts[pi], "targets": json.dumps(targets) if targets else "",
                             "output": store(name, key, pi, seed, s, out),
                             **{n: float(x) for n, x in zip(table.reward_names, v, strict=True)}})  # fmt: skip
            table.append(rows)
            bar.update(len(part))
    bar.close()
    return len(todo)


def summarise(
    rows: list[dict[str, Any]],
    reward_names: Sequence[str],
    ref: Sequence[float] | None = None,
    compute: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Per model and preference: mean and standard error of each reward; per model: Pareto set and hypervolume.

    ``ref`` (raw reward units, all objectives maximised) defaults to the worst mean over all models
    minus 10% of the range, so every model is measured against the same point; it is written out.

    Example:
        >>> rows = [{"model": "m", "preference": p, "r1": a, "r2": b}
        ...         for p, a, b in [("1,0", 2.0, 0.0), ("0,1", 0.0, 2.0), ("0.5,0.5", 1.0, 1.0)]]
        >>> s = summarise(rows, ["r1", "r2"], ref=[-1, -1])
        >>> s["models"]["m"]["hypervolume"]
        7.0
    """
    names = list(reward_names)
    models: dict[str, dict[str, Any]] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        prefs = {}
        keys = dict.fromkeys(r["preference"] for r in rows if r["model"] == model)
        for pref in sorted(keys, key=lambda k: [-float(x) for x in k.split(",")]):  # w1 descending, as the grid
            vals = np.array([[r[n] for n in names] for r in rows if r["model"] == model and r["preference"] == pref])
            n = len(vals)
            se = vals.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(names))
            prefs[pref] = {"n": n, "mean": dict(zip(names, vals.mean(0).round(6).tolist(), strict=True)),
                           "stderr": dict(zip(names, se.round(6).tolist(), strict=True))}  # fmt: skip
        models[model] = {"preferences": prefs}
    means = {m: np.array([[p["mean"][n] for n in names] for p in v["preferences"].values()]) for m, v in models.items()}
    if ref is None:
        allm = np.concatenate(list(means.values())) if means else np.zeros((1, len(names)))
        lo, hi = allm.min(0), allm.max(0)
        ref = lo - 0.1 * np.where(hi > lo, hi - lo, 1.0)
    ref = np.asarray(ref, dtype=np.float64)
    for model, info in models.items():
        pts, keys = means[model], list(info["preferences"])
        mask = non_dominated(pts)
        info["pareto_set"] = [
            {"preference": k, "mean": pts[i].round(6).tolist()} for i, k in enumerate(keys) if mask[i]
        ]
        info["hypervolume"] = round(hypervolume(pts, ref), 6)
        if compute and model in compute:
            info["compute"] = compute[model]
    return {"reward_names": names, "reference_point": ref.round(6).tolist(), "hypervolume_units": "raw rewards",
            "models": models}  # fmt: skip


def add_compute(records: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Sum compute records (a soup's ingredients, a set of per-preference runs); None if any is missing."""
    if not records or any(r is None for r in records):
        return None
    keys = [k for k in records[0] if all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                                         for r in records)]  # fmt: skip
    return {k: round(sum(r[k] for r in records), 3) for k in keys} | {"runs": len(records)}


def read_prompts(
    path: str | None, dataset: str | None = None, column: str = "prompt", split: str = "test"
) -> list[str]:
    """Prompts from a text file (one per line, ``#`` comments skipped), a JSONL file (``column`` of each
    row) or a ``datasets`` name/path + column."""
    if dataset:
        from datasets import load_dataset

        ds = load_dataset(dataset, split=split)
        if column not in ds.column_names:
            raise ValueError(f"{dataset} has no column {column!r}; it has {ds.column_names}: pass --prompts-column")
        return [str(x) for x in ds[column]]
    if path is None:
        raise ValueError("give a prompt file (one prompt per line) or a datasets name")
    lines = Path(path).read_text().splitlines()
    if str(path).endswith(".jsonl"):
        rows = [json.loads(ln) for ln in lines if ln.strip()]
        missing = [i for i, r in enumerate(rows) if column not in r]
        if missing:
            raise ValueError(f"{path}: row {missing[0] + 1} has no {column!r} field; pass --prompts-column")
        return [str(r[column]) for r in rows]
    prompts = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    if not prompts:
        raise ValueError(f"{path}: no prompts (one per line)")
    return prompts


def make_grid(num_objectives: int, grid: str = "paper", step: float = 0.1) -> np.ndarray:
    """``paper`` (11 points for N=2, 13 vectors for N=3) or ``simplex`` (all weights on a ``step`` lattice)."""
    from ric_core.grids import paper_grid, simplex_grid

    if grid == "paper":
        return paper_grid(num_objectives)
    if grid == "simplex":
        return simplex_grid(num_objectives, step)
    raise ValueError(f"--grid must be 'paper' or 'simplex'; got {grid!r}")


def parse_reward_specs(specs: Sequence[str]) -> list[Any]:
    """``--rewards`` items: registry names, or JSON (a ``{"name": ..., kwargs}`` dict or a quoted name)."""
    return [json.loads(s) if s.strip().startswith(("{", '"')) else s for s in specs]


def parse_models(specs: Sequence[str]) -> dict[str, str]:
    models = {}
    for spec in specs:
        name, sep, target = spec.partition("=")
        if not sep or not name or not target:
            raise ValueError(f"--model {spec!r}: expected NAME=SPEC, e.g. ric=runs/sd15-aes-jpeg")
        if name in models:
            raise ValueError(f"--model name {name!r} given twice")
        models[name] = target
    return models


def sweep_arg_parser(description: str, prompts_help: str) -> argparse.ArgumentParser:
    """The options both benchmarks share (models, rewards, prompts, grid, seeds, reference point, out)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", action="append", required=True, help="NAME=SPEC; repeat for each model")
    ap.add_argument("--rewards", nargs="+", required=True, help="registry names or JSON dicts, in preference order")
    ap.add_argument("--prompts", help=prompts_help)
    ap.add_argument("--prompts-dataset", help="a datasets name or path instead of --prompts")
    ap.add_argument("--prompts-column", default="prompt")
    ap.add_argument("--prompts-split", default="test")
    ap.add_argument("--max-prompts", type=int)
    ap.add_argument("--grid", default="paper", choices=["paper", "simplex"])
    ap.add_argument("--step", type=float, default=0.1, help="simplex grid step")
    ap.add_argument("--objectives", type=int, help="weights per preference (default: number of --rewards)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--reference-point", type=float, nargs="+", help="raw reward units; default: from the data")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", default="runs/benchmark")
    return ap


def run_benchmark(
    args: Any,
    default_prompts: str,
    make_rewards: Callable[[list[Any]], Any],
    load: Callable[[str], Candidate],
    score: Callable[[Any, list[str], list[Any]], np.ndarray],
    store: Callable[[str, str, int, int, int, Any], str],
) -> tuple[dict[str, Any], ResultsTable]:
    """The benchmark CLIs' shared body (options from ``sweep_arg_parser``): parse the models, read the
    prompts, build the reward set (``make_rewards(specs)``, after the cheap checks), load each model spec
    (``load``), sweep the grid extended by per-preference runs, and write results, summary and plot.
    ``score(rewards, prompts, outputs)`` returns raw scores (B, K); ``store`` is ``run_sweep``'s.
    """
    specs = parse_models(args.model)  # fail on a bad spec before loading anything
    prompts = read_prompts(
        args.prompts or default_prompts, args.prompts_dataset, args.prompts_column, args.prompts_split
    )
    prompts = prompts[: args.max_prompts] if args.max_prompts else prompts
    rewards = make_rewards(parse_reward_specs(args.rewards))  # e.g. rewards.reward_set_from_config
    rewards.progress = False  # the sweep has its own progress bar
    grid = make_grid(args.objectives or len(rewards.names), args.grid, args.step)
    models = {name: load(spec) for name, spec in specs.items()}
    grid = extend_grid(grid, models)  # per-preference runs are measured at their own preferences too
    out = Path(args.out)
    table = ResultsTable(out / "results.csv", rewards.names)
    run_sweep(table, models, prompts, grid, args.seeds, args.per_prompt,
              lambda ps, outputs: score(rewards, ps, outputs), store, args.batch_size)  # fmt: skip
    return write_outputs(out, table, models, args, specs, len(prompts), grid), table


def write_outputs(
    out: Path, table: ResultsTable, models: dict[str, Any], args: Any, specs: dict[str, str], n_prompts: int, grid: Any
) -> dict[str, Any]:
    """summary.json (atomic), pareto.png and the printed table, all from what results.csv holds."""
    from ric_core.io import atomic_write_json

    rows = table.rows()
    summary = summarise(rows, table.reward_names, args.reference_point, {n: m.compute() for n, m in models.items()})
    summary.update({"prompts": n_prompts, "seeds": list(args.seeds), "samples_per_prompt": args.per_prompt,
                    "grid": [preference_key(w) for w in grid], "model_specs": specs})  # fmt: skip
    atomic_write_json(out / "summary.json", summary)
    plot_fronts(out / "pareto.png", summary, rows)
    print_table(summary)
    return summary


def print_table(summary: dict[str, Any]) -> None:
    print(f"\n{'model':16s} {'hypervolume':>12s} {'samples':>10s} {'wall s':>8s}  (ref {summary['reference_point']})")
    for name, m in summary["models"].items():
        c = m.get("compute") or {}
        print(f"{name:16s} {m['hypervolume']:12.4g} {c.get('samples', '-')!s:>10s} {c.get('wall_time_s', '-')!s:>8s}")


def plot_fronts(path: str | os.PathLike, summary: dict[str, Any], rows: list[dict[str, Any]] | None = None) -> None:
    """All models on one plot (first two rewards); see ``draw_fronts``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    draw_fronts(ax, summary, rows)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_fronts(ax: Any, summary: dict[str, Any], rows: list[dict[str, Any]] | None = None, title: str = "") -> None:
    """Mean obtained rewards per preference for every model, its Pareto set ringed; where rows carry
    targets (RiC), the targets as faint crosses joined to what was obtained."""
    names = summary["reward_names"]
    for i, (model, info) in enumerate(summary["models"].items()):
        colour = f"C{i % 10}"
        pts = np.array([[p["mean"][n] for n in names[:2]] for p in info["preferences"].values()])
        label = f"{model} (HV {info['hypervolume']:.3g}"
        label += f", {info['compute']['samples']} samples)" if info.get("compute") else ")"
        ax.plot(pts[:, 0], pts[:, 1], "o-", color=colour, ms=4, lw=1, label=label)
        front = np.array([p["mean"][:2] for p in info["pareto_set"]])
        ax.scatter(front[:, 0], front[:, 1], s=60, facecolors="none", edgecolors=colour)
        for _pref, target, obtained in _targets(model, info, rows or [], names):
            ax.plot(*zip(target, obtained, strict=True), color=colour, alpha=0.25, lw=0.8)
            ax.scatter(*target, marker="x", color=colour, alpha=0.35, s=18)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1] if len(names) > 1 else "")
    ax.set_title(title or "mean reward per preference (rings: Pareto set; x: targets)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _targets(model: str, info: dict[str, Any], rows: list[dict[str, Any]], names: Sequence[str]):
    """(preference, mean raw target (2,), mean obtained (2,)) where the rows carry targets for both plotted rewards."""
    for pref, p in info["preferences"].items():
        ts = [
            json.loads(r["targets"]) for r in rows if r["model"] == model and r["preference"] == pref and r["targets"]
        ]
        ts = [[t[n] for n in names[:2]] for t in ts if all(n in t for n in names[:2])]
        if ts and len(names) >= 2:
            yield pref, np.mean(np.array(ts), axis=0), [p["mean"][n] for n in names[:2]]
