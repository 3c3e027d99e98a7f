"""Training steps/s: our cached-latent path vs the diffusers LoRA recipe, same model, batch and data.

    python benchmarks/diffusion_train_speed.py                 # small latent-space SD on the CPU
    python benchmarks/diffusion_train_speed.py --sd15 --device cuda --resolution 512 --batch-size 4

Both paths run the trainer's own optimizer step (``DiffusionTrainer.fit``, so ``loss_on`` + backward +
AdamW, exactly what training runs). The cached path fits on the VAE posteriors and text states computed
once (``ric_diffusion.latent_cache``); the recipe path, like the diffusers LoRA script, loads and
transforms the batch's images and runs the VAE encoder and the text encoder at every step before the
same fit step. The two loops alternate in one process.
``--sd15`` builds the real SD 1.5 UNet/VAE/text-encoder architectures from config, random weights.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ric_core.stats import RewardStats
from ric_diffusion.architectures import sd15_components
from ric_diffusion.config import DiffusionConfig, ModelConfig
from ric_diffusion.data import Record, RecordSet
from ric_diffusion.latent_cache import build_cache
from ric_diffusion.models import Components, load_components
from ric_diffusion.tiny import make_tiny_sd
from ric_diffusion.train import DiffusionTrainer


def small_components(resolution: int) -> Components:
    """A small SD-shaped model: the VAE downsamples 8x as SD's does, so the UNet sees resolution / 8."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    tiny = load_components(ModelConfig(pretrained=str(make_tiny_sd(Path(tempfile.mkdtemp()) / "sd"))))
    vae = AutoencoderKL(
        block_out_channels=(32, 64, 64, 64),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=resolution,
    )
    unet = UNet2DConditionModel.from_config({**tiny.unet.config, "sample_size": resolution // 8})
    return Components(unet, vae.requires_grad_(False), tiny.text_encoder, tiny.tokenizer, tiny.noise_scheduler)


def make_data(tmp: Path, n: int, resolution: int) -> tuple[RecordSet, np.ndarray]:
    """``n`` random pictures with captions, and (n, 2) normalised rewards."""
    from PIL import Image

    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        path = tmp / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8)).save(path)
        records.append(Record(key=str(path), caption=f"a photo of object {i} on a table", path=str(path)))
    return RecordSet(records), rng.normal(size=(n, 2))


def make_trainer(
    comps: Components,
    z: np.ndarray,
    tmp: Path,
    batch_size: int,
    device: str,
    precision: str = "no",
    checkpointing: bool = False,
) -> DiffusionTrainer:
    """The real trainer (LoRA rank 16 + embed conditioner, AdamW) on ``comps``."""
    from accelerate import Accelerator

    overrides = {"output_dir": str(tmp / "run"), "batch_size": batch_size, "report_to": "none", "log_every": 10**9}
    cfg = DiffusionConfig()
    cfg.train.__dict__.update(overrides, gradient_checkpointing=checkpointing)
    cfg.lora.rank, cfg.lora.alpha = 16, 16
    for m in comps.frozen:
        m.to(device)
    stats = RewardStats.from_scores(z, ["r1", "r2"])
    return DiffusionTrainer(cfg, Accelerator(cpu=device == "cpu", mixed_precision=precision), comps, stats)


def rate(fn, steps: int, device: str) -> float:
    """Steps/s of ``fn(step)`` over ``steps`` calls after one warm-up call (CUDA synchronised)."""
    fn(0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for s in range(steps):
        fn(s)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per path per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sd15", action="store_true", help="real SD 1.5 architectures (random weights)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    tmp, b = Path(tempfile.mkdtemp()), args.batch_size
    comps = sd15_components() if args.sd15 else small_components(args.resolution)
    data, z = make_data(tmp, 4 * b, args.resolution)
    trainer = make_trainer(comps, z, tmp, b, args.device)
    t0 = time.perf_counter()
    cache = build_cache(data.samples(), z, comps, trainer.conditioner, args.resolution, batch_size=b)
    cache_s = time.perf_counter() - t0

    def cached(step: int) -> None:
        trainer.fit(cache, trainer.step + 1, checkpoints=False)

    def recipe(step: int) -> None:
        idx = [(step * b + j) % len(data) for j in range(b)]
        batch = build_cache(
            RecordSet([data.records[i] for i in idx]).samples(),
            z[idx],
            comps,
            trainer.conditioner,
            args.resolution,
            batch_size=b,
        )
        trainer.fit(batch, trainer.step + 1, checkpoints=False)

    rates: dict[str, list[float]] = {"cached": [], "recipe": []}
    for _ in range(args.rounds):
        rates["recipe"].append(rate(recipe, args.steps, args.device))
        rates["cached"].append(rate(cached, args.steps, args.device))
    best = {k: max(v) for k, v in rates.items()}
    size = "SD 1.5 architecture" if args.sd15 else "small SD-shaped model (VAE 8x down)"
    print(f"{size}, {args.resolution}px, batch {b}, device {args.device}, best of {args.rounds} rounds")
    print(f"  one-off cache build : {cache_s:.2f} s for {len(data)} images")
    for k in ("recipe", "cached"):
        print(f"  {k:7s}: {best[k]:7.2f} steps/s  {best[k] * b:8.1f} samples/s")
    ratio = best["cached"] / best["recipe"]
    print(f"  speed-up (cached / recipe): {ratio:.2f}x")
    return ratio


if __name__ == "__main__":
    main()
