"""``ric benchmark``: RiC against Rewarded Soups and MORLHF-style baselines on the demo worlds, with compute.

    ric benchmark --out runs/benchmark            # or: python -m ric_demo.benchmark

Per world: the demo's RiC (offline, and after one online iteration) and its unconditioned baseline
(trained first by ``ric demo`` into ``--demo-out`` when missing), then one baseline run per preference
in ``PREFERENCES`` (image: reward-filtered SFT, ``ric_diffusion.morlhf``; text: GRPO with
``reward_weights``, ``ric_text.morlhf``), Rewarded Soups from the two one-hot runs, and one sweep of
the 11 paper preferences over every model (``ric_diffusion.benchmark`` / ``ric_text.benchmark``).
Writes ``summary.json`` (both worlds, hypervolumes, compute, RiC's hypervolume relative to each model
and its compute as a fraction of theirs) and ``pareto.png`` (one panel per world) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ric_core.io import atomic_write_json
from ric_core.sweep import draw_fronts

PREFERENCES = {False: ["1,0", "0.75,0.25", "0.5,0.5", "0.25,0.75", "0,1"], True: ["1,0", "0.5,0.5", "0,1"]}
POOL = {False: 512, True: 16}  # images sampled from the base for reward-filtered SFT
TEXT_GRPO_STEPS = {False: 60, True: 2}  # GRPO steps per preference (each samples and scores 16 completions)


def _stage(msg: str) -> None:
    print(f"[ric benchmark] {msg}", flush=True)


def image_world(demo: Path, out: Path, seed: int, quick: bool = False) -> dict[str, Any]:
    from ric_demo import cli
    from ric_demo.image_world import HELD_OUT, REWARDS, caption
    from ric_diffusion.benchmark import main as sweep
    from ric_diffusion.morlhf import main as morlhf

    p = cli.IMAGE[quick]
    ric, total = demo / "image" / "ric", p["ric"] + p["online_steps"]  # each baseline run gets RiC's steps
    if not (ric / f"checkpoint-{total}").is_dir():
        _stage("image world: training RiC and its baseline first (ric demo --modality image)")
        cli.run_image(demo, seed, quick)
    cache = demo / "cache" / f"image_world_s{seed}{'_quick' if quick else ''}"
    overrides = cli.image_overrides(cache / "model", cache / "images", seed, p)
    _stage(f"image world: reward-filtered SFT (MORLHF-style), one run per preference in {PREFERENCES[quick]}")
    runs = out / "image" / "morlhf"
    morlhf(["--preferences", *PREFERENCES[quick], "--pool-size", str(POOL[quick]), "--quantile", "0.25",
            "--seed", str(seed), "--out", str(runs), "--", *overrides, f"train.max_steps={total}",
            f"train.checkpoint_every={total}"])  # fmt: skip
    prompts = out / "image" / "prompts.txt"
    prompts.write_text("".join(caption(*c) + "\n" for c in HELD_OUT))
    _stage("image world: sweep of the 11 preferences over every model")
    offline, online = ric / f"checkpoint-{p['ric']}", ric / f"checkpoint-{total}"
    summary = sweep([
        "--model", f"ric={offline}", "--model", f"ric_online={online}",
        "--model", f"soups=soup:{runs / 'w_1_0'},{runs / 'w_0_1'}", "--model", f"morlhf=per-preference:{runs}",
        "--model", f"baseline={demo / 'image' / 'baseline'}", "--rewards", *[json.dumps(r) for r in REWARDS],
        "--prompts", str(prompts), "--images-per-prompt", str(p["per_prompt"]), "--seeds", str(seed),
        "--batch-size", "24", "--out", str(out / "image"),
    ])  # fmt: skip
    add_compliance(summary, out / "image")
    return summary


def add_compliance(summary: dict[str, Any], folder: Path) -> None:
    """Caption compliance per model (share of pictures in the captioned colour on the captioned
    background) and its worst preference, from the sweep's saved images."""
    from PIL import Image

    from ric_core.sweep import ResultsTable
    from ric_demo.image_world import compliance

    rows = ResultsTable(folder / "results.csv", summary["reward_names"]).rows()
    for name, m in summary["models"].items():
        per_pref = []
        for k in m["preferences"]:
            sel = [r for r in rows if r["model"] == name and r["preference"] == k]
            per_pref.append(compliance([Image.open(folder / r["output"]) for r in sel], [r["prompt"] for r in sel]))
        m["compliance"] = round(float(np.mean(np.concatenate(per_pref))), 4)
        m["compliance_worst_preference"] = round(float(min(c.mean() for c in per_pref)), 4)


def text_world(demo: Path, out: Path, seed: int, quick: bool = False) -> dict[str, Any]:
    from ric_demo import cli
    from ric_demo.text_world import HELD_OUT, REWARDS, build_world, prompt_for
    from ric_text.benchmark import main as sweep
    from ric_text.morlhf import main as morlhf

    p = cli.TEXT[quick]
    ric = demo / "text" / "ric"
    if not (ric / "final").is_dir():
        _stage("text world: training RiC and its baseline first (ric demo --modality text)")
        cli.run_text(demo, seed, quick)
    world = build_world(demo / "cache" / f"text_world_s{seed}{'_quick' if quick else ''}", seed, quick)
    _stage(f"text world: GRPO with reward_weights (MORLHF), one run per preference in {PREFERENCES[quick]}")
    runs = out / "text" / "morlhf"
    prefs = PREFERENCES[quick]
    done = all((runs / f"w_{w.replace(',', '_')}" / "final" / "compute.json").exists() for w in prefs)
    if not done:
        morlhf(["--preferences", *prefs, "--steps", str(TEXT_GRPO_STEPS[quick]), "--num-generations", "8",
                "--out", str(runs), "--", *cli.text_overrides(world, seed), "train.learning_rate=2e-3"])  # fmt: skip
    prompts = out / "text" / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": prompt_for(x)}) + "\n" for x in HELD_OUT))
    _stage("text world: sweep of the 11 preferences over every model")
    offline = ric / f"checkpoint-{p['ric']}"
    summary = sweep([
        "--model", f"ric={offline}", "--model", f"ric_online={ric / 'final'}",
        "--model", f"soups=soup:{runs / 'w_1_0' / 'final'},{runs / 'w_0_1' / 'final'}",
        "--model", f"morlhf=per-preference:{runs}", "--model", f"baseline={demo / 'text' / 'baseline' / 'final'}",
        "--rewards", *REWARDS, "--prompts", str(prompts), "--samples-per-prompt", str(p["per_prompt"]),
        "--seeds", str(seed), "--batch-size", "64", "--out", str(out / "text"),
    ])  # fmt: skip
    add_well_formed(summary, out / "text" / "results.csv")
    return summary


def add_well_formed(summary: dict[str, Any], results: Path) -> None:
    """Share of well-formed template reviews per model (and its worst preference): RL can buy the toy
    rewards with degenerate text (a review of "superb superb ..."), which hypervolume alone rewards."""
    from ric_core.sweep import ResultsTable
    from ric_demo.text_world import well_formed

    rows = ResultsTable(results, summary["reward_names"]).rows()
    for name, m in summary["models"].items():
        per_pref = [[well_formed(r["output"]) for r in rows if r["model"] == name and r["preference"] == k]
                    for k in m["preferences"]]  # fmt: skip
        m["well_formed"] = round(sum(map(sum, per_pref)) / max(1, sum(map(len, per_pref))), 4)
        m["well_formed_worst_preference"] = round(min(sum(x) / len(x) for x in per_pref if x), 4)


def compare(summary: dict[str, Any], ric: str = "ric_online") -> dict[str, Any]:
    """RiC's hypervolume relative to each model and its compute (samples, wall time) as a fraction of theirs."""
    models, mine = summary["models"], summary["models"][ric]
    out = {}
    for name, m in models.items():
        row: dict[str, Any] = {"hypervolume": m["hypervolume"]}
        for key in ("well_formed", "compliance"):
            if key in m:
                row[key] = m[key]
        if m["hypervolume"] > 0:
            row[f"{ric}_hypervolume_ratio"] = round(mine["hypervolume"] / m["hypervolume"], 4)
        c, rc = m.get("compute"), mine.get("compute")
        if c and rc:
            row["samples"] = c["samples"]
            row[f"{ric}_samples_fraction"] = round(rc["samples"] / c["samples"], 4)
            row["wall_time_s"] = c["wall_time_s"]
        out[name] = row
    return out


def plot(path: Path, worlds: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(worlds), figsize=(6.5 * len(worlds), 5), squeeze=False)
    for ax, (world, summary) in zip(axes[0], worlds.items(), strict=True):
        draw_fronts(ax, summary, title=f"{world} world: mean reward per preference (rings: Pareto set)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
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
    summary = {"seed": args.seed, "quick": args.quick, "preferences_of_per_preference_runs": PREFERENCES[args.quick],
               "worlds": worlds,
               "comparison": {w: compare(s) for w, s in worlds.items()}}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "summary.json", summary)
    plot(out / "pareto.png", worlds)
    print_comparison(summary["comparison"])
    return summary


def print_comparison(comparison: dict[str, Any]) -> None:
    print(f"\n{'world':6s} {'model':11s} {'HV':>9s} {'RiC/HV':>7s} {'samples':>9s} {'RiC/samples':>11s} {'wall s':>8s}"
          f" {'well-formed/compliance':>22s}")  # fmt: skip
    for world, rows in comparison.items():
        for name, r in rows.items():
            quality = r.get("well_formed", r.get("compliance", "-"))
            print(f"{world:6s} {name:11s} {r['hypervolume']:9.4g} {r.get('ric_online_hypervolume_ratio', '-')!s:>7s} "
                  f"{r.get('samples', '-')!s:>9s} {r.get('ric_online_samples_fraction', '-')!s:>11s} "
                  f"{r.get('wall_time_s', '-')!s:>8s} {quality!s:>22s}")  # fmt: skip


if __name__ == "__main__":
    main()
