"""The benchmark CLIs' shared options and body: parse models and rewards, read prompts, sweep, write
``results.csv``, ``summary.json`` and ``pareto.png``. The modality supplies loading, scoring and storing."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ric_eval.plots import plot_fronts
from ric_eval.summary import summarise
from ric_eval.sweep import Candidate, extend_grid, make_grid, run_sweep
from ric_eval.table import ResultsTable, preference_key
from ric_runtime.io import atomic_write_json, read_prompts


def parse_reward_specs(specs: Sequence[str]) -> list[Any]:
    """``--rewards`` items: registry names, or JSON (a ``{"name": ..., kwargs}`` dict or a quoted name)."""
    return [json.loads(s) if s.strip().startswith(("{", '"')) else s for s in specs]


def parse_models(specs: Sequence[str]) -> dict[str, str]:
    """``["ric=runs/a", "base=runs/b"]`` -> {"ric": "runs/a", "base": "runs/b"}, names unique."""
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
    ap.add_argument("--grid", default="paper", choices=["paper", "simplex", "paths"])
    ap.add_argument("--step", type=float, default=0.1, help="simplex grid step")
    ap.add_argument("--objectives", type=int, help="weights per preference (default: number of --rewards)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--reference-point", type=float, nargs="+", help="raw reward units; default: from the data")
    ap.add_argument("--reference-rule", help="where --reference-point comes from, in words (kept in summary.json)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", default="runs/benchmark")
    return ap


def check_sweep_args(args: Any) -> None:
    """Refuse the numbers that would crash the sweep later or measure something other than asked."""
    import math

    k = len(args.rewards)
    if k < 2:
        raise ValueError(f"--rewards: a sweep compares at least 2 rewards; got {k}")
    if any(s < 0 for s in args.seeds):
        raise ValueError(f"--seeds must be >= 0; got {args.seeds}")
    for name, value, least in [("--batch-size", args.batch_size, 1), ("--max-prompts", args.max_prompts, 1)]:
        if value is not None and value < least:
            raise ValueError(f"{name} must be >= {least}; got {value}")
    if args.objectives is not None and args.objectives < 2:
        raise ValueError(f"--objectives must be >= 2; got {args.objectives}")
    ref = args.reference_point
    if ref is not None and (len(ref) != k or not all(map(math.isfinite, ref))):
        raise ValueError(f"--reference-point needs {k} finite values (raw units, one per reward); got {ref}")


def run_benchmark(
    args: Any,
    default_prompts: str,
    make_rewards: Callable[[list[Any]], Any],
    load: Callable[[str], Candidate],
    score: Callable[[Any, list[str], list[Any]], np.ndarray],
    store: Callable[[str, str, int, int, int, Any], str],
) -> tuple[dict[str, Any], ResultsTable]:
    """The benchmark CLIs' shared body (options from :func:`sweep_arg_parser`): parse the models, read the
    prompts, build the reward set (``make_rewards(specs)``, after the cheap checks), load each model spec
    (``load``), sweep the grid extended by per-preference runs, and write results, summary and plot.
    ``score(rewards, prompts, outputs)`` returns raw scores (B, K); ``store`` is ``run_sweep``'s.
    """
    specs = parse_models(args.model)  # fail on a bad spec before loading anything
    check_sweep_args(args)
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

    def scorer(ps: list[str], outputs: list[Any]) -> np.ndarray:
        return score(rewards, ps, outputs)

    run_sweep(table, models, prompts, grid, args.seeds, args.per_prompt, scorer, store, args.batch_size)
    return write_outputs(out, table, models, args, specs, len(prompts), grid), table


def relative_specs(specs: dict[str, str], out: Path) -> dict[str, str]:
    """Model specs with paths written relative to the summary's folder (so a summary names its models
    wherever the folder is moved; the app resolves them from there)."""
    rel = {}
    for name, spec in specs.items():
        prefix = next((p for p in ("soup:", "per-preference:") if spec.startswith(p)), "")
        parts = spec.removeprefix(prefix).split(",")
        if all(Path(p).exists() for p in parts):
            parts = [os.path.relpath(Path(p).resolve(), out.resolve()) for p in parts]
        rel[name] = prefix + ",".join(parts)
    return rel


def write_outputs(
    out: Path, table: ResultsTable, models: dict[str, Any], args: Any, specs: dict[str, str], n_prompts: int, grid: Any
) -> dict[str, Any]:
    """summary.json (atomic), pareto.png and the printed table, all from what results.csv holds."""
    rows = table.rows()
    compute = {n: m.compute() for n, m in models.items()}
    summary = summarise(rows, table.reward_names, args.reference_point, compute, getattr(args, "reference_rule", None))
    summary.update(
        {
            "prompts": n_prompts,
            "seeds": list(args.seeds),
            "samples_per_prompt": args.per_prompt,
            "grid": [preference_key(w) for w in grid],
            "model_specs": relative_specs(specs, out),
        }
    )
    atomic_write_json(out / "summary.json", summary)
    plot_fronts(out / "pareto.png", summary, rows)
    print_table(summary)
    return summary


def print_table(summary: dict[str, Any]) -> None:
    """Hypervolume, steering and compute per model, on the terminal."""
    names = summary["reward_names"]
    print(f"\n{'model':16s} {'hypervolume':>12s} {'spearman per reward':>22s} {'samples':>10s} {'wall s':>8s}")
    for name, m in summary["models"].items():
        c = m.get("compute") or {}
        rho = "/".join("-" if m["steering"][n] is None else f"{m['steering'][n]:.2f}" for n in names)
        print(
            f"{name:16s} {m['hypervolume']:12.4g} {rho:>22s} {c.get('samples', '-')!s:>10s} "
            f"{c.get('wall_time_s', '-')!s:>8s}"
        )
    print(f"(hypervolume in {summary['hypervolume_units']}, reference point {summary['reference_point']})")
