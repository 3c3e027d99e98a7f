"""The GPU benchmark suite: what users care about, on the real architectures with random weights.

    python benchmarks/gpu_suite.py --out runs/gpu --device cuda --peak-tflops 790   # H200 bf16 dense peak
    python benchmarks/gpu_suite.py --out runs/gpu-tiny --tiny                         # CPU smoke (CI test)

Every comparison runs side by side in one process, timed after a warm-up with CUDA synchronised:
1. SD 1.5 LoRA training, 512 px, batch 8: the trainer's cached step vs the diffusers recipe (VAE and text
   encoder every step): samples/s, peak memory, MFU (FLOPs of one step from torch's FlopCounterMode);
   with and without gradient checkpointing.
2. SDXL LoRA training: a clear skip line until SDXL is supported.
3. Generation, 30 steps, batch 4: RiCDiffusionPipeline vs the stock StableDiffusionPipeline on the same
   weights (reward-conditioning overhead) and the third guidance branch (reward guidance).
4. Reward scoring, batch 64: aesthetic + clip_score on one ViT-L/14 pass vs two separate backbones.
5. LLM (~1.1B Llama, bf16): RiC SFT tokens/s through the trl path (LoRA, 512 tokens), and generation
   tokens/s batched (64 prompts) vs one prompt at a time.
Writes ``results.json`` and ``results.md`` (device, versions, every figure, every ratio, each goal) to --out.
A section that fails is reported with its error and the others still run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the training-speed benchmark's helpers
import diffusion_train_speed as dts  # noqa: E402
from gpu_common import flops_of, peak_memory, profile_table, reset_memory, timed  # noqa: E402
from gpu_llm import llm  # noqa: E402

from ric_diffusion.architectures import sd15_components  # noqa: E402

GOALS = {  # (figure, comparison, threshold): reported, never asserted
    "train_speedup": (">=", 1.5),
    "train_mfu": (">=", 0.35),
    "generation_overhead": ("<", 0.03),
    "reward_guidance_cost": ("<=", 0.55),
    "scoring_speedup": (">=", 1.8),
    "llm_batched_speedup": (">=", 10.0),
}


# ---- 1. SD 1.5 LoRA training --------------------------------------------------------------------------------
def sd_training(args: argparse.Namespace) -> dict[str, Any]:
    res, b = (64, 2) if args.tiny else (512, 8)
    out: dict[str, Any] = {"resolution": res, "batch": b}
    out |= train_variant(args, res, b, checkpointing=False)
    out |= train_variant(args, res, b, checkpointing=True)
    out["train_speedup"] = round(out["plain_cached_samples_per_s"] / out["recipe_samples_per_s"], 3)
    out["train_mfu"] = out["plain_mfu"]
    return out


def train_variant(
    args: argparse.Namespace, res: int, b: int, checkpointing: bool, make: Any = None, name: str = "sd15"
) -> dict[str, Any]:
    """The trainer's own step on cached tensors (and, without checkpointing, the recipe's encode + step)."""
    comps = make() if make else dts.small_components(res) if args.tiny else sd15_components()
    tmp = Path(tempfile.mkdtemp())
    data, z = dts.make_data(tmp, 4 * b, res)
    trainer = dts.make_trainer(comps, z, tmp, b, args.device, args.precision, checkpointing)
    cache = dts.build_cache(data.samples(), z, comps, trainer.conditioner, res, batch_size=b)

    def cached() -> None:
        trainer.fit(cache, trainer.step + 1, checkpoints=False)

    def recipe() -> None:
        batch = dts.build_cache(data.samples(), z, comps, trainer.conditioner, res, batch_size=b)
        trainer.fit(batch, trainer.step + 1, checkpoints=False)

    tag = "checkpointing" if checkpointing else "plain"
    reset_memory(args.device)
    step_s = timed(cached, args.reps, args.device)
    flops = flops_of(cached)
    out = {
        f"{tag}_cached_samples_per_s": round(b / step_s, 2),
        f"{tag}_peak_memory_gib": peak_memory(args.device),
        f"{tag}_gflops_per_step": round(flops / 1e9, 2),
        f"{tag}_mfu": round(flops / step_s / (args.peak_tflops * 1e12), 5),
    }
    if not checkpointing:
        out["recipe_samples_per_s"] = round(b / timed(recipe, args.reps, args.device), 2)
        if args.profile:  # what dominates the training step, for the goals that are missed
            profile_table(cached, args.device, Path(args.out) / f"profile_{name}_train_step.txt")
    return out


def sdxl_training(args: argparse.Namespace) -> dict[str, Any]:
    """SDXL base 1.0's architecture (random weights) at 1024 px, batch 2, with gradient checkpointing: speed
    and peak memory beside docs/memory-estimate.md's computed figure."""
    from ric_diffusion.architectures import sdxl_components
    from ric_diffusion.config import ModelConfig
    from ric_diffusion.models import load_components
    from ric_diffusion.tiny import make_tiny_sdxl

    def tiny() -> Any:
        return load_components(ModelConfig(pretrained=str(make_tiny_sdxl(Path(tempfile.mkdtemp()) / "sdxl"))))

    res, b = (32, 2) if args.tiny else (1024, 2)
    out: dict[str, Any] = {"resolution": res, "batch": b}
    return out | train_variant(args, res, b, checkpointing=True, make=tiny if args.tiny else sdxl_components)


def sd35m_training(args: argparse.Namespace) -> dict[str, Any]:
    """SD 3.5 Medium's architecture (random weights) at 1024 px, batch 2: the cached step (T5 and the VAE ran
    once, at caching) against the recipe that runs the three text encoders and the VAE every step."""
    from ric_diffusion.architectures import sd35_medium_components
    from ric_diffusion.config import ModelConfig
    from ric_diffusion.models import load_components
    from ric_diffusion.tiny import make_tiny_sd3

    def tiny() -> Any:
        return load_components(ModelConfig(pretrained=str(make_tiny_sd3(Path(tempfile.mkdtemp()) / "sd3"))))

    res, b = (32, 2) if args.tiny else (1024, 2)
    out: dict[str, Any] = {"resolution": res, "batch": b}
    make = tiny if args.tiny else sd35_medium_components
    out |= train_variant(args, res, b, checkpointing=False, make=make, name="sd35m")
    out["t5_cache_speedup"] = round(out["plain_cached_samples_per_s"] / out["recipe_samples_per_s"], 3)
    return out


# ---- 3. generation ---------------------------------------------------------------------------------------------
def generation(args: argparse.Namespace) -> dict[str, Any]:
    from ric_core.stats import RewardStats
    from ric_diffusion.conditioning import RewardConditioner
    from ric_diffusion.config import DiffusionConfig
    from ric_diffusion.models import build_pipeline
    from ric_diffusion.pipeline import RiCDiffusionPipeline

    res, steps, n = (64, 4, 2) if args.tiny else (512, 30, 4)
    comps = dts.small_components(res) if args.tiny else sd15_components()
    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    for m in (comps.unet, comps.vae, comps.text_encoder):
        m.to(args.device, dtype)
    cfg = DiffusionConfig()
    stats = RewardStats.from_scores(np.random.default_rng(0).normal(size=(64, 2)), ["r1", "r2"])
    cond = RewardConditioner(2, comps.text_dim, cfg.conditioning).to(args.device, dtype)
    ric = RiCDiffusionPipeline(comps, cond, stats, cfg)
    stock = build_pipeline(comps).to(args.device)
    prompts = ["a lighthouse at dusk"] * n
    kw = {"num_inference_steps": steps, "height": res, "width": res}

    def run_stock() -> None:
        stock(prompts, guidance_scale=7.5, generator=torch.Generator().manual_seed(0), output_type="np", **kw)

    def run_ric(reward_guidance: float) -> None:
        ric(
            prompts,
            preference=[0.5, 0.5],
            guidance_scale=7.5,
            reward_guidance_scale=reward_guidance,
            seed=0,
            output_type="np",
            **kw,
        )

    t_stock = timed(run_stock, args.reps, args.device)
    t_ric = timed(lambda: run_ric(7.5), args.reps, args.device)  # equal scales: the stock two branches
    t_guided = timed(lambda: run_ric(9.0), args.reps, args.device)  # a third branch on the reward condition
    if args.profile:
        profile_table(lambda: run_ric(9.0), args.device, Path(args.out) / "profile_generation.txt")
    return {
        "resolution": res,
        "steps": steps,
        "batch": n,
        "stock_images_per_s": round(n / t_stock, 3),
        "ric_images_per_s": round(n / t_ric, 3),
        "ric_reward_guidance_images_per_s": round(n / t_guided, 3),
        "generation_overhead": round(t_ric / t_stock - 1, 4),
        "reward_guidance_cost": round(t_guided / t_ric - 1, 4),
    }


# ---- 4. reward scoring ---------------------------------------------------------------------------------------------
def scoring(args: argparse.Namespace) -> dict[str, Any]:
    from PIL import Image

    from rewards import RewardSet
    from rewards.aesthetic import AestheticMLP, AestheticReward
    from rewards.clip_backbone import OpenClipBackbone
    from rewards.clip_score import ClipScore

    name, width, n = ("ric-gpu-tiny-clip", 32, 8) if args.tiny else ("ViT-L-14", 768, 64)
    if args.tiny:
        register_tiny_clip(name)
    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    head = Path(tempfile.mkdtemp()) / "head.pth"
    torch.save(AestheticMLP(width).state_dict(), head)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)) for _ in range(n)]
    prompts = ["a photo"] * n

    def pair(shared: bool) -> RewardSet:
        one = OpenClipBackbone(name, None, args.device, dtype)
        two = one if shared else OpenClipBackbone(name, None, args.device, dtype)
        on = {"device": args.device, "dtype": dtype}
        rewards = [AestheticReward(weights=str(head), backbone=one, **on), ClipScore(backbone=two, **on)]
        return RewardSet(rewards, batch_size=n, progress=False)

    shared, separate = pair(True), pair(False)
    t_shared = timed(lambda: shared(images=images, prompts=prompts), args.reps, args.device)
    t_separate = timed(lambda: separate(images=images, prompts=prompts), args.reps, args.device)
    return {
        "batch": n,
        "shared_images_per_s": round(n / t_shared, 2),
        "separate_images_per_s": round(n / t_separate, 2),
        "scoring_speedup": round(t_separate / t_shared, 3),
    }


def register_tiny_clip(name: str) -> None:
    import open_clip

    cfg = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    }
    path = Path(tempfile.mkdtemp()) / f"{name}.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)


SECTIONS = {
    "sd15_training": sd_training,
    "sdxl_training": sdxl_training,
    "sd35m_training": sd35m_training,
    "generation": generation,
    "scoring": scoring,
    "llm": llm,
}


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal the issue sets, with the measured figure and whether it is met."""
    out = []
    for section in results["sections"].values():
        for key, (op, threshold) in GOALS.items():
            if key in section:
                value = section[key]
                met = {">=": value >= threshold, "<": value < threshold, "<=": value <= threshold}[op]
                out.append({"figure": key, "value": value, "goal": f"{op} {threshold}", "met": bool(met)})
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# GPU suite: {results['device']}",
        "",
        f"{results['date']}; torch {results['torch']}, "
        f"CUDA {results['cuda']}; peak {results['peak_tflops']} TFLOP/s; {'tiny' if results['tiny'] else 'real'} sizes",
        "",
        "| section | figure | value |",
        "|---|---|---|",
    ]
    for name, section in results["sections"].items():
        lines += [f"| {name} | {k} | {v} |" for k, v in section.items()]
    lines += ["", "| goal | value | target | met |", "|---|---|---|---|"]
    lines += [
        f"| {g['figure']} | {g['value']} | {g['goal']} | {'yes' if g['met'] else '**no**'} |" for g in results["goals"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for results.json and results.md")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--peak-tflops", type=float, default=790.0, help="the chip's dense bf16 peak (H200: 790)")
    ap.add_argument("--tiny", action="store_true", help="tiny models: a CPU smoke run of every section")
    ap.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run these sections only")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per figure")
    ap.add_argument("--profile", action="store_true", help="torch.profiler tables of the training step and generation")
    args = ap.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    args.precision = "no" if args.device == "cpu" else "bf16"
    torch.manual_seed(0)
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "date": datetime.date.today().isoformat(),
        "peak_tflops": args.peak_tflops,
        "tiny": args.tiny,
        "sections": {},
    }
    for name, fn in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        try:
            results["sections"][name] = fn(args)
        except Exception as e:  # one broken section must not cost the others' figures
            results["sections"][name] = {"error": f"{type(e).__name__}: {e}"[:300]}
        results["sections"][name]["wall_s"] = round(time.perf_counter() - start, 1)
        print(f"[gpu suite] {name}: {results['sections'][name]}", flush=True)
    results["goals"] = goals(results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
