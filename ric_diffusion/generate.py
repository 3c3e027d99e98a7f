"""Generate images from a RiC checkpoint for a prompt and a preference (or explicit rewards).

    python -m ric_diffusion.generate --checkpoint runs/sd15-aesthetic-jpeg \
        --prompt "a lighthouse at dusk" --preference 0.7 0.3 --num-images 4 --out samples/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ric_core.mapping import METHODS
from ric_diffusion.pipeline import RiCDiffusionPipeline
from ric_runtime.config import console, require_at_least_one
from ric_runtime.io import atomic_write_json

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def generate(argv: list[str] | None = None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="a checkpoint-<step> folder or a run folder (latest)")
    ap.add_argument("--prompt", required=True, action="append", help="repeat for several prompts")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--preference", type=float, nargs="+", help="one weight per reward, e.g. 0.7 0.3")
    group.add_argument("--rewards", type=float, nargs="+", help="explicit normalised target rewards")
    ap.add_argument("--mapping", choices=METHODS, help="preference -> target rule (default: the checkpoint's)")
    ap.add_argument("--num-images", type=int, default=1, help="images per prompt")
    ap.add_argument("--steps", type=int, help="sampling steps (default: the checkpoint's config)")
    ap.add_argument("--guidance-scale", type=float)
    ap.add_argument("--reward-guidance-scale", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base-model", help="override the base model path or id")
    ap.add_argument("--height", type=int, help="pixels (default: the UNet's sample_size x the VAE's factor)")
    ap.add_argument("--width", type=int)
    ap.add_argument("--dtype", choices=sorted(DTYPES), help="default: float16 on CUDA, float32 on CPU")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--ema", action="store_true", help="use the EMA weights")
    ap.add_argument("--out", default="samples", help="output folder")
    args = ap.parse_args(argv)

    require_at_least_one(args, "num_images", "steps", "height", "width")
    dtype = DTYPES[args.dtype or ("float16" if str(args.device).startswith("cuda") else "float32")]
    pipe = RiCDiffusionPipeline.from_checkpoint(
        args.checkpoint, base_model=args.base_model, device=args.device, dtype=dtype, use_ema=args.ema
    )
    out = pipe(
        args.prompt,
        preference=args.preference,
        rewards=args.rewards,
        mapping=args.mapping,
        num_images_per_prompt=args.num_images,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance_scale,
        reward_guidance_scale=args.reward_guidance_scale,
        seed=args.seed,
        height=args.height,
        width=args.width,
    )
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(out.images):
        paths.append(folder / f"{i // args.num_images:03d}_{i % args.num_images:02d}.png")
        image.save(paths[-1])
    meta = {
        "prompts": args.prompt,
        "reward_names": list(pipe.reward_names),
        "targets": out.targets.tolist(),
        "preference": args.preference,
        "seed": args.seed,
        "files": [p.name for p in paths],
    }
    atomic_write_json(folder / "generation.json", meta)
    print(json.dumps({"targets": dict(zip(pipe.reward_names, out.targets.tolist(), strict=True)), "out": str(folder)}))
    return paths


def main(argv: list[str] | None = None) -> int:
    """The ``ric-diffusion-generate`` console script: 0 on success, 2 and one line on bad input."""
    return console(generate, argv, "ric-diffusion-generate")


if __name__ == "__main__":
    raise SystemExit(main())
