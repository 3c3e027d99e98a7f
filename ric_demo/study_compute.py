"""``ric study compute``: hypervolume against training compute for every method, both worlds, 3 seeds.

    ric study compute [--quick] [--seeds 0 1 2] [--out runs/study] [--docs docs/study]

Per seed it runs ``ric benchmark`` (the demo's RiC offline and after its online stage, MORLHF by RL
one run per preference, Rewarded Soups of the one-hot RL runs, for images reward-filtered SFT, and the
unconditioned baseline) under ``--out/compute/s<seed>`` (which holds that benchmark's ``summary.json``, so
``python -m ric_demo.tables --benchmark`` reads it) and reads each model's hypervolume, quality and
``compute.json`` (summed over a method's runs) back. Compute is counted two ways: policy passes
(``ric_demo.benchmark.policy_passes``: forward+backward passes over a sample plus generation passes) and
training wall time. The goal of issue #20 is checked per world: RiC + online's hypervolume over MORLHF's and
Rewarded Soups', and its compute as a share of the MORLHF runs' (which include the soups' ingredients).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ric_runtime.io import atomic_write_json, atomic_write_text, exclusive

MEASURES = ("hypervolume", "policy_passes", "wall_time_s", "quality")
GOAL = ("hv_vs_morlhf", "hv_vs_soups", "passes_share", "wall_share", "quality")
METHOD_ORDER = ("ric", "ric_online", "morlhf", "soups", "filtered_sft", "baseline")


def seed_folder(out: Path, seed: int, quick: bool) -> Path:
    return out / "compute" / f"s{seed}{'_quick' if quick else ''}"


def benchmark_seed(worlds: list[str], out: Path, seed: int, quick: bool) -> dict[str, Any]:
    """``ric benchmark`` for one seed into the seed's folder (the benchmark's ``summary.json`` and
    ``pareto.png``), on the worlds and the demo models the other studies share (``study_models.ric_checkpoint``:
    trained once, to which it adds the unconditioned baselines); returns each world's sweep summary."""
    from ric_demo import benchmark
    from ric_demo.study_models import models_root
    from ric_demo.study_specs import sweep_grid

    folder = seed_folder(out, seed, quick)
    demo = models_root(out, seed, quick)  # the demo models every other study sweeps
    fns = {"image": benchmark.image_world, "text": benchmark.text_world}
    grid = sweep_grid("paper", quick)
    for world in worlds:
        demo_models(world, out, seed, quick)
    summaries = {w: fns[w](demo, folder, seed, quick, caches=out, grid=grid) for w in worlds}
    benchmark.write_summary(folder, seed, quick, summaries)
    return summaries


def demo_models(world: str, out: Path, seed: int, quick: bool) -> None:
    """The demo's RiC models (``study_models.ric_checkpoint``) and its unconditioned baseline for (world, seed),
    trained under the models' lock, so a study sweeping them beside this one waits rather than trains."""
    from ric_demo import image_demo, text_demo
    from ric_demo.study_models import model_lock, models_root, ric_checkpoint

    demo = models_root(out, seed, quick)
    if world == "image":
        models, train = image_demo.image_models, image_demo.train_image
    else:
        models, train = text_demo.text_models, text_demo.train_text
    with exclusive(model_lock(demo, world)):
        ric_checkpoint(world, out, seed, quick)
        if not all(p.is_dir() for p in models(demo, quick).values()):
            train(demo, seed, quick, caches=out)


def model_rows(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per model: hypervolume, policy passes, wall time and mean quality read from one world's summary."""
    from ric_demo.benchmark import policy_passes

    rows = {}
    for name, m in summary["models"].items():
        c = m.get("compute") or {}
        quality = next(iter(m.get("quality", {}).values()), {}).get("mean", float("nan"))
        rows[name] = {
            "hypervolume": float(m["hypervolume"]),
            "policy_passes": float(policy_passes(c)) if c else float("nan"),
            "wall_time_s": float(c.get("wall_time_s", float("nan"))),
            "quality": float(quality),
        }
    return rows


def goal_row(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    """RiC + online against the RL baseline and its soups: hypervolume ratios (>= 1 meets the goal), its
    compute as a share of the MORLHF runs' (<= 0.10 meets it) and its quality (>= 0.95 meets it)."""
    mine, rl, soups = rows["ric_online"], rows["morlhf"], rows["soups"]
    return {
        "hv_vs_morlhf": mine["hypervolume"] / rl["hypervolume"] if rl["hypervolume"] > 0 else float("inf"),
        "hv_vs_soups": mine["hypervolume"] / soups["hypervolume"] if soups["hypervolume"] > 0 else float("inf"),
        "passes_share": mine["policy_passes"] / rl["policy_passes"],
        "wall_share": mine["wall_time_s"] / rl["wall_time_s"],
        "quality": mine["quality"],
    }


def aggregate(per_seed: dict[int, dict[str, dict[str, dict[str, float]]]], world: str) -> dict[str, Any]:
    """Per model and measure, and for the goal, the per-seed values (the studies' cell format; tables show
    mean +- sd), with the number of seeds meeting each goal."""
    seeds = sorted(per_seed)
    models = [m for m in METHOD_ORDER if all(m in per_seed[s][world] for s in seeds)]
    table = {m: {k: [per_seed[s][world][m][k] for s in seeds] for k in MEASURES} for m in models}
    goals = [goal_row(per_seed[s][world]) for s in seeds]
    met = {
        "hv_vs_morlhf": sum(g["hv_vs_morlhf"] >= 1 for g in goals),
        "hv_vs_soups": sum(g["hv_vs_soups"] >= 1 for g in goals),
        "passes_share": sum(g["passes_share"] <= 0.10 for g in goals),
        "wall_share": sum(g["wall_share"] <= 0.10 for g in goals),
        "quality": sum(g["quality"] >= 0.95 for g in goals),
    }
    return {"models": table, "goal": {k: [g[k] for g in goals] for k in GOAL}, "goal_met": met, "n_seeds": len(seeds)}


def run_compute(worlds: list[str], seeds: list[int], out: Path, docs: Path, quick: bool) -> dict[str, Any]:
    """The study: a benchmark per seed and world, aggregated, written as ``compute.json/.md/.png``."""
    start = time.time()
    per_seed: dict[int, dict[str, dict[str, dict[str, float]]]] = {}
    for seed in seeds:
        per_seed[seed] = {w: model_rows(s) for w, s in benchmark_seed(worlds, out, seed, quick).items()}
    table = {w: aggregate(per_seed, w) for w in worlds}
    docs.mkdir(parents=True, exist_ok=True)
    atomic_write_json(docs / "compute.json", {"seeds": seeds, "quick": quick, "table": table, "per_seed": per_seed})
    command = f"ric study compute{' --quick' if quick else ''} --seeds {' '.join(map(str, seeds))}"
    atomic_write_text(docs / "compute.md", markdown(table, seeds, quick, time.time() - start, command))
    plot(docs / "compute.png", table)
    return table


LABELS = {
    "ric": "RiC",
    "ric_online": "RiC + online",
    "morlhf": "MORLHF (RL)",
    "soups": "Rewarded Soups",
    "filtered_sft": "reward-filtered SFT",
    "baseline": "unconditioned",
}


def _cell(v: list[float], digits: int = 3) -> str:
    return f"{np.mean(v):.{digits}g} +- {np.std(v):.2g}"


def markdown(table: dict[str, Any], seeds: list[int], quick: bool, seconds: float, command: str) -> str:
    from ric_demo.study_measures import run_line

    lines = ["# Study: compute", "", run_line(command, seeds, quick, seconds)]
    lines += [
        "Each cell: mean +- sd over the seeds. Policy passes: forward+backward passes over a sample plus generation",
        "passes (image: UNet evaluations; text: generated sequences); a method's runs are summed. Quality:",
        "caption compliance (image), well-formed reviews (text).",
        "",
    ]
    for world, t in table.items():
        rl = "DDPO-style policy gradient" if world == "image" else "GRPO"
        lines += [f"## {world} world", "", f"MORLHF (RL) is {rl}, one run per preference.", ""]
        lines += ["| model | hypervolume | policy passes | training wall s | quality |", "|---|---|---|---|---|"]
        for m, r in t["models"].items():
            lines.append(
                f"| {LABELS.get(m, m)} | {_cell(r['hypervolume'])} | {_cell(r['policy_passes'])} | "
                f"{_cell(r['wall_time_s'])} | {_cell(r['quality'], 2)} |"
            )
        g, met, n = t["goal"], t["goal_met"], t["n_seeds"]
        lines += [
            "",
            f"Goal, RiC + online per seed: hypervolume ÷ MORLHF's {_cell(g['hv_vs_morlhf'])} (≥ 1 on "
            f"{met['hv_vs_morlhf']}/{n} seeds), ÷ Rewarded Soups' {_cell(g['hv_vs_soups'])} (≥ 1 on "
            f"{met['hv_vs_soups']}/{n}); policy passes as a share of the MORLHF runs' {_cell(g['passes_share'])} "
            f"(≤ 0.10 on {met['passes_share']}/{n}), wall time {_cell(g['wall_share'])} (≤ 0.10 on "
            f"{met['wall_share']}/{n}); quality {_cell(g['quality'], 2)} (≥ 0.95 on {met['quality']}/{n}).",
            "",
        ]
    return "\n".join(lines)


def plot(path: Path, table: dict[str, Any]) -> None:
    """Hypervolume (mean ± sd) against policy passes and against wall time, one row of panels per world."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(table), 2, figsize=(10, 3.6 * len(table)), squeeze=False)
    for row, (world, t) in zip(axes, table.items(), strict=True):
        axes_ = (("policy_passes", "policy passes"), ("wall_time_s", "training wall time (s)"))
        for ax, (key, label) in zip(row, axes_, strict=True):
            for m, r in t["models"].items():
                x, y = r[key], r["hypervolume"]
                colour = f"C{METHOD_ORDER.index(m)}"  # one colour per method in every panel
                ax.errorbar(
                    np.mean(x),
                    np.mean(y),
                    xerr=np.std(x),
                    yerr=np.std(y),
                    fmt="o",
                    capsize=3,
                    color=colour,
                    label=LABELS[m],
                )
            ax.set_xscale("log")
            ax.set(xlabel=label, ylabel="hypervolume", title=f"{world} world")
        row[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
