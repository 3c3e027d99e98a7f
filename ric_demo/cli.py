"""``ric demo``: RiC end to end on two small worlds it builds itself, on a CPU, with no downloads.

For each world: build data (cached) -> pre-train a tiny base model (cached) -> relabel -> offline RiC
-> one online MORS iteration -> a sweep of 11 preferences on held-out prompts, next to a baseline
trained on the same data for the same steps without reward conditioning. Writes results.csv,
summary.json, pareto.png, image_grid.png and text_samples.md into --out and prints a summary table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ric_core.grids import paper_grid
from ric_demo.report import plot_pareto, write_results_csv, write_summary

# Steps and sizes: full run (<= 10 min on 2 cores) and --quick (a smoke run, <= 90 s). The text world's
# pre-training steps live with its corpus in text_world.build_world.
TEXT = {
    False: {"ric": 500, "online_samples": 128, "online_steps": 100, "per_prompt": 16},
    True: {"ric": 30, "online_samples": 16, "online_steps": 10, "per_prompt": 1},
}
IMAGE = {
    False: {"images": 2000, "pretrain": 300, "ric": 250, "online_samples": 32, "online_steps": 30, "per_prompt": 3,
            "lr": 3e-3, "guidance": 2.0, "sampling_steps": 20},
    True: {"images": 200, "pretrain": 20, "ric": 10, "online_samples": 8, "online_steps": 4, "per_prompt": 1,
           "lr": 3e-3, "guidance": 2.0, "sampling_steps": 10},
}  # fmt: skip


_START = time.time()


def _stage(msg: str) -> None:
    print(f"[ric demo {time.time() - _START:6.1f}s] {msg}", flush=True)


def text_overrides(world: Any, seed: int) -> list[str]:
    """The text world's trainer settings, shared by RiC, its baseline and the benchmark's GRPO runs."""
    from ric_demo.text_world import REWARDS

    return [
        f"model.pretrained={world.base_model}", f"data.source={world.train_file}", "data.kind=jsonl",
        "data.min_tokens=1", f"rewards={json.dumps(REWARDS)}", "lora.rank=16", "lora.alpha=32", "lora.dropout=0.0",
        "lora.target_modules=[c_attn, c_proj, c_fc]", "train.batch_size=16", "train.learning_rate=5e-3",
        "train.lr_scheduler=constant", "train.report_to=none", f"train.seed={seed}", "train.logging_steps=50",
        "generation.max_new_tokens=72", "generation.batch_size=64",
        "inference.mapping=quantile_linear",  # targets on the data's own trade-off: a graded sweep, not two modes
    ]  # fmt: skip


def image_overrides(model: Path, data: Path, seed: int, p: dict[str, Any]) -> list[str]:
    """The image world's trainer settings, shared by RiC, its baseline and the benchmark's baselines."""
    from ric_demo.image_world import REWARDS

    return [
        f"model.pretrained={model}", "model.pixel_space=true", f"data.source={data}", "data.resolution=16",
        f"rewards={json.dumps(REWARDS)}", "conditioning.reward_drop_prob=0.1",
        "conditioning.fourier_features=8", "conditioning.hidden_dim=64", "lora.rank=16", "lora.alpha=16",
        "train.batch_size=32", f"train.learning_rate={p['lr']}", "train.report_to=none", f"train.seed={seed}",
        f"inference.num_inference_steps={p['sampling_steps']}", f"inference.guidance_scale={p['guidance']}",
        "inference.mapping=quantile_linear",  # targets follow the data's trade-off (see ric_core.mapping)
        "inference.quantile_levels=[0.01, 0.99]",  # the JPEG maximum is one outlier: aiming at it drifts colours
    ]  # fmt: skip


def run_text(out: Path, seed: int, quick: bool) -> dict[str, Any]:
    from rewards import RewardSet
    from ric_core.stats import RewardStats
    from ric_demo.report import sweep_metrics, text_table
    from ric_demo.text_world import HELD_OUT, REWARDS, build_world, prompt_for, well_formed
    from ric_text.generate import TextGenerator
    from ric_text.train import main as text_train

    p = TEXT[quick]
    _stage("text world: corpus, tokenizer and pre-trained tiny GPT-2 (cached)")
    world = build_world(out / "cache" / f"text_world_s{seed}{'_quick' if quick else ''}", seed, quick)
    common = text_overrides(world, seed)
    _stage("text world: relabel -> offline RiC -> 1 online MORS iteration (ric_text)")
    ric_dir = out / "text" / "ric"
    text_train([*common, f"train.output_dir={ric_dir}", f"train.max_steps={p['ric']}", f"train.save_steps={p['ric']}",
                "online.iterations=1", f"online.num_samples={p['online_samples']}", "online.shard_size=64",
                f"online.steps={p['online_steps']}", "online.num_origin_samples=256", "online.learning_rate=1e-3",
                f"online.seed={seed}"])  # fmt: skip
    total = p["ric"] + p["online_steps"]
    _stage(f"text world: baseline, the same data and {total} steps without reward tags")
    base_dir = out / "text" / "baseline"
    text_train([*common, f"train.output_dir={base_dir}", f"train.max_steps={total}", f"train.save_steps={total}",
                "prompt.use_tags=false"])  # fmt: skip
    models = {
        "ric": ric_dir / f"checkpoint-{p['ric']}",
        "ric_online": ric_dir / "final",
        "baseline": base_dir / "final",
    }
    stats = RewardStats.load(ric_dir / "final")
    prompts = [prompt_for(prod) for prod in HELD_OUT for _ in range(p["per_prompt"])]
    grid, w1 = paper_grid(2), paper_grid(2)[:, 0]
    rs, rows, result = RewardSet(REWARDS, progress=False), [], {}
    ref = stats.z_min - 0.5
    for name, ckpt in models.items():
        _stage(f"text world: sweep of 11 preferences x {len(prompts)} held-out prompts, {name}")
        gen = TextGenerator.from_checkpoint(ckpt)
        means, formed, samples = [], [], []
        for i, w in enumerate(grid):
            res = gen(prompts, preference=w.tolist(), seed=seed * 1000 + i)
            scores = rs(prompts=prompts, completions=[r.text for r in res]).values
            ok = [well_formed(r.text) for r in res]
            means.append(scores.mean(0))
            formed.append(float(np.mean(ok)))
            samples.append([r.text for r in res[:: p["per_prompt"]]])
            for r, s, good in zip(res, scores, ok, strict=True):
                rows.append({"world": "text", "model": name, "w1": round(float(w[0]), 1), "prompt": r.prompt.strip(),
                             REWARDS[0]: float(s[0]), REWARDS[1]: float(s[1]), "compliance": float(good),
                             "targets": json.dumps(r.targets), "output": r.text})  # fmt: skip
        means = np.array(means)
        result[name] = {**sweep_metrics(w1, means, stats, np.array(formed), ref),
                        "mean_rewards_z": stats.normalize(means).round(6).tolist()}  # fmt: skip
        if name == "ric_online":
            text_table(out / "text_samples.md", w1, samples, means, stats.names)
    return {"reward_names": list(stats.names), "w1": w1.tolist(), "reference_point_z": ref.round(6).tolist(),
            "compliance_measure": "share of well-formed template reviews", "models": result, "rows": rows}  # fmt: skip


def run_image(out: Path, seed: int, quick: bool) -> dict[str, Any]:
    from ric_demo.image_world import build_dataset, pretrain_base
    from ric_diffusion.models import make_tiny_sd
    from ric_diffusion.train import main as diffusion_train

    p = IMAGE[quick]
    cache = out / "cache" / f"image_world_s{seed}{'_quick' if quick else ''}"
    _stage("image world: shapes dataset and pre-trained tiny pixel UNet (cached)")
    data = build_dataset(cache, p["images"], seed)
    model, marker = cache / "model", cache / "model" / "pretrained.json"
    key = {"steps": p["pretrain"], "seed": seed, "data": json.loads((cache / "done.json").read_text())}
    if not marker.exists() or json.loads(marker.read_text()) != key:  # a changed world retrains its base
        shutil.rmtree(model, ignore_errors=True)
        make_tiny_sd(
            model,
            pixel_space=True,
            sample_size=16,
            seed=seed,
            beta_schedule="squaredcos_cap_v2",
            model_max_length=16,
            prediction_type="sample",
        )  # 8-word captions fit 16 tokens; x0-prediction
        # leaves no residual noise in 20 DDIM steps (with epsilon it does, and noise then decides JPEG size)
        pretrain_base(data, model, p["pretrain"], seed)
        marker.write_text(json.dumps(key))
    common = image_overrides(model, data, seed, p)
    _stage("image world: relabel -> offline RiC -> 1 online MORS iteration (ric_diffusion)")
    ric_dir = out / "image" / "ric"
    diffusion_train([*common, f"train.output_dir={ric_dir}", f"train.max_steps={p['ric']}",
                     f"train.checkpoint_every={p['ric']}", "train.checkpoints_total_limit=null", "online.iterations=1",
                     f"online.num_samples={p['online_samples']}", "online.shard_size=32",
                     f"online.steps={p['online_steps']}", "online.num_origin_samples=256", "online.learning_rate=5e-4",
                     f"online.seed={seed}"])  # fmt: skip
    total = p["ric"] + p["online_steps"]
    _stage(f"image world: baseline, the same data and {total} steps without reward conditioning")
    base_dir = out / "image" / "baseline"
    diffusion_train([*common, f"train.output_dir={base_dir}", f"train.max_steps={total}",
                     f"train.checkpoint_every={total}", "conditioning.strategy=none"])  # fmt: skip
    last = total
    models = {"ric": ric_dir / f"checkpoint-{p['ric']}", "ric_online": ric_dir / f"checkpoint-{last}",
              "baseline": base_dir / f"checkpoint-{total}"}  # fmt: skip
    return sweep_image(out, models, seed, p["per_prompt"])


def sweep_image(out: Path, models: dict[str, Path], seed: int, per_prompt: int) -> dict[str, Any]:
    """The image world's sweep: 11 preferences x held-out captions for each model; the second is RiC's
    final checkpoint (its statistics set the reference point) and draws the grid."""
    from rewards import reward_set_from_config
    from ric_core.stats import RewardStats
    from ric_demo.image_world import HELD_OUT, REWARDS, caption, compliance, pixel_compliance
    from ric_demo.report import image_grid, sweep_metrics
    from ric_diffusion.pipeline import RiCDiffusionPipeline

    stats = RewardStats.load(models["ric_online"])
    prompts = [caption(*c) for c in HELD_OUT for _ in range(per_prompt)]
    grid, w1 = paper_grid(2), paper_grid(2)[:, 0]
    rs, rows, result, ref = reward_set_from_config(REWARDS), [], {}, stats.z_min - 0.5
    rs.progress = False
    (out / "image_samples").mkdir(parents=True, exist_ok=True)
    for name, ckpt in models.items():
        _stage(f"image world: sweep of 11 preferences x {len(prompts)} held-out prompts, {name}")
        pipe = RiCDiffusionPipeline.from_checkpoint(ckpt)
        means, comp, pixels, pictures = [], [], [], []
        fixed = pipe.conditioner.strategy == "none"  # no reward input: the slider cannot change its images
        for i, w in enumerate(grid):
            if i == 0 or not fixed:  # one seed for all preferences: only the slider moves
                res = pipe(prompts, preference=w.tolist(), seed=seed * 1000)
                scores = rs(images=res.images).values
                c, pc = compliance(res.images, prompts), pixel_compliance(res.images, prompts)
            targets = json.dumps(pipe.targets(w.tolist()).tolist())
            means.append(scores.mean(0))
            comp.append(float(c.mean()))
            pixels.append(round(float(pc.mean()), 6))
            pictures.append(res.images[::per_prompt])
            for j, (im, s, ci, pci) in enumerate(zip(res.images, scores, c, pc, strict=True)):
                path = out / "image_samples" / f"{name}_w{w[0]:.1f}_{j:03d}.png"
                im.save(path)
                rows.append({
                    "world": "image", "model": name, "w1": round(float(w[0]), 1), "prompt": prompts[j],
                    "jpeg_compressibility": float(s[0]), "toy_stripes": float(s[1]), "compliance": float(ci),
                    "pixel_compliance": float(pci),
                    "targets": targets, "output": str(path.relative_to(out)),
                })  # fmt: skip
        means = np.array(means)
        result[name] = {**sweep_metrics(w1, means, stats, np.array(comp), ref), "pixel_compliance": pixels,
                        "mean_rewards_z": stats.normalize(means).round(6).tolist()}  # fmt: skip
        if name == "ric_online":
            image_grid(out / "image_grid.png", pictures)
    return {"reward_names": list(stats.names), "w1": w1.tolist(), "reference_point_z": ref.round(6).tolist(),
            "compliance_measure": "share of images whose dominant colour and background are the captioned ones",
            "pixel_compliance_measure": "share of pixels in the captioned colour or background (shade-invariant)",
            "models": result, "rows": rows}  # fmt: skip


def print_table(summary: dict[str, Any], out: Path) -> None:
    print("\n world  model        spearman(w1,r1)  spearman(w1,r2)  hypervolume  min compliance")
    for world, info in summary["worlds"].items():
        for model, m in info["models"].items():
            print(f" {world:6s} {model:12s} {m['spearman_w1_reward1']:15.3f}  {m['spearman_w1_reward2']:15.3f}  "
                  f"{m['hypervolume']:11.3f}  {m['min_compliance']:14.3f}")  # fmt: skip
    print(f"\nartefacts in {out}: results.csv, summary.json, pareto.png, image_grid.png, text_samples.md")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="ric demo", description=__doc__.splitlines()[0])
    ap.add_argument("--modality", choices=["image", "text", "both"], default="both")
    ap.add_argument("--out", default="runs/demo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a much smaller run for smoke tests")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the demo never downloads
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start, worlds, rows, timings = time.time(), {}, [], {}
    for world, fn in (("text", run_text), ("image", run_image)):
        if args.modality in (world, "both"):
            t0 = time.time()
            info = fn(out, args.seed, args.quick)
            rows += info.pop("rows")
            worlds[world] = info
            timings[world] = round(time.time() - t0, 1)
    summary = {"seed": args.seed, "quick": args.quick, "worlds": worlds}  # no paths or timings: same seed, same file
    write_results_csv(out / "results.csv", rows)
    write_summary(out / "summary.json", summary)
    (out / "timing.json").write_text(json.dumps({**timings, "total_s": round(time.time() - start, 1)}))
    plot_pareto(out / "pareto.png", worlds)
    print_table(summary, out)
    print(f"total wall time {time.time() - start:.0f} s")
    return summary


def cli(argv: list[str] | None = None) -> None:
    """The ``ric`` console command: ``ric demo [...]`` or ``ric benchmark [...]``."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "benchmark":
        from ric_demo.benchmark import main as benchmark

        benchmark(argv[1:])
        return
    if not argv or argv[0] != "demo":
        print("usage: ric demo [--modality image|text|both] [--out DIR] [--seed N] [--quick]\n"
              "       ric benchmark [--modality image|text|both] [--out DIR] [--demo-out DIR] [--seed N]")  # fmt: skip
        raise SystemExit(2)
    main(argv[1:])
