"""Training steps/s: our cached-latent path vs the diffusers LoRA recipe, same model, batch and data.

    python benchmarks/diffusion_train_speed.py                 # small latent-space SD on the CPU
    python benchmarks/diffusion_train_speed.py --sd15 --device cuda --resolution 512 --batch-size 4

The recipe loads and transforms the images, runs the VAE encoder and the text encoder at every step;
the cached path reads the VAE posterior and text states computed once (ric_diffusion.cache). Both
then run the same UNet + LoRA + reward-conditioner step. The two loops alternate in one process.
``--sd15`` builds the real SD 1.5 UNet/VAE/text-encoder architectures from config, random weights.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ric_diffusion.cache import build_cache, image_transform
from ric_diffusion.conditioning import RewardConditioner, encode_token_ids
from ric_diffusion.config import ConditioningConfig, LoraSection, ModelConfig
from ric_diffusion.data import Record, RecordSet
from ric_diffusion.models import Components, add_lora, load_components, make_tiny_sd


def sd15_components() -> Components:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from rewards.clip_tokenizer import build_clip_tokenizer

    unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)  # SD 1.5's defaults
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2, sample_size=512,
    )  # fmt: skip
    te = CLIPTextModel(
        CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12)
    )
    return Components(unet, vae, te, build_clip_tokenizer(), DDPMScheduler(beta_schedule="scaled_linear"))


def small_components(resolution: int) -> Components:
    """A small SD-shaped model: the VAE downsamples 8x as SD's does, so the UNet sees resolution / 8."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    tiny = load_components(ModelConfig(pretrained=str(make_tiny_sd(Path(tempfile.mkdtemp()) / "sd"))))
    vae = AutoencoderKL(
        block_out_channels=(32, 64, 64, 64), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=8, sample_size=resolution,
    )  # fmt: skip
    unet = UNet2DConditionModel.from_config({**tiny.unet.config, "sample_size": resolution // 8})
    return Components(unet, vae.requires_grad_(False), tiny.text_encoder, tiny.tokenizer, tiny.noise_scheduler)


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
    dev = torch.device(args.device)
    tmp = Path(tempfile.mkdtemp())
    comps = sd15_components() if args.sd15 else small_components(args.resolution)
    comps.unet.requires_grad_(False)
    for m in (comps.unet, comps.vae, comps.text_encoder):
        m.to(dev)
    from PIL import Image

    rng = np.random.default_rng(0)
    n = 4 * args.batch_size
    records = []
    for i in range(n):
        path = tmp / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (args.resolution, args.resolution, 3), dtype=np.uint8)).save(path)
        records.append(Record(key=str(path), caption=f"a photo of object {i} on a table", path=str(path)))
    data = RecordSet(records)
    z = rng.normal(size=(n, 2))

    cond = RewardConditioner(2, comps.text_dim, ConditioningConfig(strategy="embed")).to(dev)
    params = add_lora(comps.unet, LoraSection(rank=16, alpha=16)) + list(cond.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    t0 = time.perf_counter()
    cache = build_cache(data, z, comps, cond, args.resolution, batch_size=args.batch_size)
    cache_s = time.perf_counter() - t0
    tf = image_transform(args.resolution)
    sched = comps.noise_scheduler

    def unet_step(latents: torch.Tensor, states: torch.Tensor, rewards: torch.Tensor) -> None:
        noise = torch.randn_like(latents)
        t = torch.randint(0, sched.config.num_train_timesteps, (latents.shape[0],), device=dev)
        pred = comps.unet(sched.add_noise(latents, noise, t), t, encoder_hidden_states=cond(states, rewards)).sample
        F.mse_loss(pred, noise).backward()
        opt.step()
        opt.zero_grad()

    def cached(step: int) -> None:
        idx = torch.arange(step * args.batch_size, (step + 1) * args.batch_size) % n
        lat = (cache.latent_mean[idx] + cache.latent_std[idx] * torch.randn_like(cache.latent_mean[idx])).to(dev)
        states = cache.caption_states[cache.caption_index[idx]].to(dev)
        unet_step(lat, states, cache.rewards[idx].to(dev))

    def recipe(step: int) -> None:
        idx = [(step * args.batch_size + j) % n for j in range(args.batch_size)]
        pixels = torch.stack([tf(data.open_image(records[i])) for i in idx]).to(dev)
        with torch.no_grad():
            lat = comps.vae.encode(pixels).latent_dist.sample() * comps.vae.config.scaling_factor
            ids = cond.token_ids(comps.tokenizer, [records[i].caption for i in idx])
            states = encode_token_ids(comps.text_encoder, ids)
        unet_step(lat, states, torch.as_tensor(z[idx], dtype=torch.float32, device=dev))

    def timed(fn) -> float:
        fn(0)  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for s in range(args.steps):
            fn(s)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return args.steps / (time.perf_counter() - start)

    rates: dict[str, list[float]] = {"cached": [], "recipe": []}
    for _ in range(args.rounds):
        rates["recipe"].append(timed(recipe))
        rates["cached"].append(timed(cached))
    best = {k: max(v) for k, v in rates.items()}
    size = "SD 1.5 architecture" if args.sd15 else "small SD-shaped model (VAE 8x down)"
    print(f"{size}, {args.resolution}px, batch {args.batch_size}, device {dev}, best of {args.rounds} rounds")
    print(f"  one-off cache build : {cache_s:.2f} s for {n} images")
    for k in ("recipe", "cached"):
        print(f"  {k:7s}: {best[k]:7.2f} steps/s  {best[k] * args.batch_size:8.1f} samples/s")
    ratio = best["cached"] / best["recipe"]
    print(f"  speed-up (cached / recipe): {ratio:.2f}x")
    return ratio


if __name__ == "__main__":
    main()
