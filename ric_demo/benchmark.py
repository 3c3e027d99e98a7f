"""``ric benchmark``: RiC against Rewarded Soups and MORLHF-style baselines on the demo worlds, with compute.

    ric benchmark --out runs/benchmark            # or: python -m ric_demo.benchmark

Per world: the demo's RiC (offline, and after its online stage) and its unconditioned baseline
(trained first by ``ric demo`` into ``--demo-out`` when missing), then one baseline run per preference
(``configs/demo/demo.yaml``; MORLHF by RL: image: DDPO-style policy gradient, ``ric_diffusion.ddpo``; text:
GRPO with ``reward_weights``, ``ric_text.morlhf``; and for images reward-filtered SFT,
``ric_diffusion.reward_filtered_sft``), Rewarded Soups from the two one-hot RL runs, and the
demo's sweep (same prompts, seeds and reference point) over every model. Writes each world's sweep into
``--out/<world>/`` and ``summary.json`` (both worlds, and RiC's hypervolume relative to each model and its
compute as a fraction of theirs: training samples, policy passes (``policy_passes``) and wall time) and
``pareto.png`` (one panel per world) into ``--out``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ric_demo import settings
from ric_demo.settings import stage, world_settings
from ric_runtime.config import console
from ric_runtime.io import atomic_write_json


def image_world(
    demo: Path, out: Path, seed: int, quick: bool = False, caches: Path | None = None, grid: str = "paper"
) -> dict[str, Any]:
    """``caches``: the folder whose ``cache/`` holds the world (default ``demo``; ``ric study`` shares one);
    ``grid``: the sweep's preferences (``ric_demo.sweeps.grid_args``)."""
    from ric_demo import image_demo

    models = image_demo.image_models(demo, quick)
    if not all(p.is_dir() for p in models.values()):
        stage("image world: training RiC and its baseline first (ric demo --modality image)")
        models = image_demo.train_image(demo, seed, quick, caches)
    cache = settings.world_dir(caches or demo, "image", seed, quick)
    ddpo, filtered = image_ddpo(cache, out / "image" / "ddpo", seed, quick), image_filtered_sft(cache, out, seed, quick)
    everything = {
        "ric": models["ric"],
        "ric_online": models["ric_online"],
        "soups": f"soup:{ddpo / 'w_1_0'},{ddpo / 'w_0_1'}",  # Rewarded Soups of the one-hot RL runs
        "morlhf": f"per-preference:{ddpo}",
        "filtered_sft": f"per-preference:{filtered}",
        "baseline": models["baseline"],
    }
    return image_demo.sweep_image(demo, everything, seed, quick, folder=out / "image", grid=grid)


def image_ddpo(cache: Path, runs: Path, seed: int, quick: bool) -> Path:
    """MORLHF for images: a DDPO-style RL run per preference (``ric_diffusion.ddpo``); returns their folder."""
    from ric_demo import image_demo
    from ric_diffusion.config import DiffusionConfig
    from ric_diffusion.ddpo import run as ddpo

    b = world_settings("benchmark", quick)
    rl = dict(b["ddpo"])
    steps = settings.trainer_config(DiffusionConfig, "image", quick).inference.num_inference_steps
    stage(f"image world: DDPO-style RL (MORLHF), {rl['epochs']} epochs per preference in {b['preferences']}")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in rl.items()]
    ddpo(
        [
            "--preferences",
            *b["preferences"],
            *flags,
            f"--sample-steps={steps}",  # the sampler RiC's sweep uses
            "--out",
            str(runs),
            "--",
            *image_demo.base_args(cache, seed, quick, "online.iterations=0"),
        ]
    )
    return runs


def image_filtered_sft(cache: Path, out: Path, seed: int, quick: bool) -> Path:
    """The second image baseline, reward-filtered SFT per preference; returns its runs' folder."""
    from ric_demo import image_demo
    from ric_diffusion.reward_filtered_sft import run as filtered_sft

    b, runs = world_settings("benchmark", quick), out / "image" / "filtered_sft"
    stage(f"image world: reward-filtered SFT, one run per preference in {b['preferences']}")
    filtered_sft(
        [
            "--preferences",
            *b["preferences"],
            "--pool-size",
            str(b["image_pool"]),
            "--quantile",
            "0.25",
            "--seed",
            str(seed),
            "--out",
            str(runs),
            "--",
            *image_demo.base_args(cache, seed, quick, *image_demo.baseline_overrides(quick)),
        ]
    )
    return runs


def text_world(
    demo: Path, out: Path, seed: int, quick: bool = False, caches: Path | None = None, grid: str = "paper"
) -> dict[str, Any]:
    """``caches``: the folder whose ``cache/`` holds the world (default ``demo``; ``ric study`` shares one);
    ``grid``: the sweep's preferences (``ric_demo.sweeps.grid_args``)."""
    from ric_demo import text_demo
    from ric_demo.text_world import build_world
    from ric_text.morlhf import run as morlhf

    models = text_demo.text_models(demo, quick)
    if not all(p.is_dir() for p in models.values()):
        stage("text world: training RiC and its baseline first (ric demo --modality text)")
        models = text_demo.train_text(demo, seed, quick, caches)
    world = build_world(settings.world_dir(caches or demo, "text", seed, quick), seed, quick)
    b = world_settings("benchmark", quick)
    stage(f"text world: GRPO with reward_weights (MORLHF), one run per preference in {b['preferences']}")
    runs = out / "text" / "morlhf"
    morlhf(  # finished runs with these settings are reused (ric_runtime.io.finished_run), changed ones refused
        [
            "--preferences",
            *b["preferences"],
            "--steps",
            str(b["text_grpo_steps"]),
            "--num-generations",
            "8",
            "--out",
            str(runs),
            "--",
            *text_demo.base_args(world, seed, quick, "online.iterations=0"),
            "train.learning_rate=2e-3",
        ]
    )
    everything = {
        "ric": models["ric"],
        "ric_online": models["ric_online"],
        "soups": f"soup:{runs / 'w_1_0' / 'final'},{runs / 'w_0_1' / 'final'}",
        "morlhf": f"per-preference:{runs}",
        "baseline": models["baseline"],
    }
    return text_demo.sweep_text(demo, everything, seed, quick, folder=out / "text", grid=grid)


def compare(summary: dict[str, Any], ric: str = "ric_online") -> dict[str, Any]:
    """RiC's hypervolume relative to each model and its compute (samples, wall time) as a fraction of theirs."""
    mine = summary["models"][ric]
    out = {}
    for name, m in summary["models"].items():
        row: dict[str, Any] = {"hypervolume": m["hypervolume"]}
        row.update({q: v["mean"] for q, v in m.get("quality", {}).items()})
        if m["hypervolume"] > 0:
            row[f"{ric}_hypervolume_ratio"] = round(mine["hypervolume"] / m["hypervolume"], 4)
        c, rc = m.get("compute"), mine.get("compute")
        if c and rc:
            row["samples"], row["policy_passes"] = c["samples"], policy_passes(c)
            row[f"{ric}_samples_fraction"] = round(rc["samples"] / c["samples"], 4)
            row[f"{ric}_passes_fraction"] = round(policy_passes(rc) / policy_passes(c), 4)
            row["wall_time_s"] = c["wall_time_s"]
        out[name] = row
    return out


def policy_passes(compute: dict[str, Any]) -> int:
    """Passes through the policy a model's training cost: forward+backward passes over a sample, plus
    generation (image: one UNet evaluation per sampler step and guidance branch; text: one per generated
    sequence, its cost with a KV cache being about one forward over it).

    Example:
        >>> policy_passes({"policy_forward_backward": 100, "generated_samples": 4, "unet_forward_generation": 160})
        260
    """
    generation = compute.get("unet_forward_generation", compute.get("generated_samples", 0))
    return int(compute["policy_forward_backward"] + generation)


def print_comparison(comparison: dict[str, Any]) -> None:
    head = f"{'world':6s} {'model':12s} {'HV':>9s} {'RiC/HV':>7s} {'passes':>10s} {'RiC/passes':>10s} {'wall s':>8s}"
    print(f"\n{head} {'well-formed/compliance':>22s}")
    for world, rows in comparison.items():
        for name, r in rows.items():
            quality = r.get("well_formed", r.get("compliance", "-"))
            print(
                f"{world:6s} {name:12s} {r['hypervolume']:9.4g} {r.get('ric_online_hypervolume_ratio', '-')!s:>7s} "
                f"{r.get('policy_passes', '-')!s:>10s} {r.get('ric_online_passes_fraction', '-')!s:>10s} "
                f"{r.get('wall_time_s', '-')!s:>8s} {quality!s:>22s}"
            )


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """``ric benchmark`` from its arguments; returns the summary (also in ``--out/summary.json``)."""
    ap = argparse.ArgumentParser(prog="ric benchmark", description=__doc__.splitlines()[0])
    ap.add_argument("--modality", choices=["image", "text", "both"], default="both")
    ap.add_argument("--out", default="runs/benchmark")
    ap.add_argument("--demo-out", default="runs/demo", help="where ric demo's models are (trained there if missing)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="on ric demo --quick's models, with tiny baselines")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out, demo = Path(args.out), Path(args.demo_out)
    worlds = {}
    for world, fn in (("image", image_world), ("text", text_world)):
        if args.modality in (world, "both"):
            worlds[world] = fn(demo, out, args.seed, args.quick)
    summary = write_summary(out, args.seed, args.quick, worlds)
    print_comparison(summary["comparison"])
    return summary


def write_summary(out: Path, seed: int, quick: bool, worlds: dict[str, Any]) -> dict[str, Any]:
    """``summary.json`` (every world's sweep and RiC's comparison with each model) and ``pareto.png``."""
    from ric_eval.plots import plot_panels

    summary = {
        "seed": seed,
        "quick": quick,
        "preferences_of_per_preference_runs": world_settings("benchmark", quick)["preferences"],
        "worlds": worlds,
        "comparison": {w: compare(s) for w, s in worlds.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "summary.json", summary)
    plot_panels(out / "pareto.png", {f"{w} world": s for w, s in worlds.items()})
    return summary


def main(argv: list[str] | None = None) -> int:
    return console(run, argv, "ric benchmark")


if __name__ == "__main__":
    raise SystemExit(main())
