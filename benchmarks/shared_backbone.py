"""Images/s for aesthetic + clip_score: two separate scorers vs one RewardSet sharing the backbone.

    python benchmarks/shared_backbone.py [--model ViT-L-14] [--images 8] [--repeats 2]

Random backbone and head weights (no download): speed does not depend on the weights. The two
paths run interleaved in one process so machine noise hits both alike; the ratio is the result.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rewards import RewardSet
from rewards.aesthetic import AestheticMLP, AestheticReward
from rewards.clip_backbone import load_backbone
from rewards.clip_score import ClipScore


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", default="ViT-L-14", help="open_clip architecture (random weights); the real reward uses ViT-L-14"
    )
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    torch.manual_seed(0)

    backbone = load_backbone(args.model, None)
    head = Path(tempfile.mkdtemp()) / "head.pth"
    torch.save(AestheticMLP(backbone.embed_dim).state_dict(), head)
    aes = AestheticReward(weights=head, backbone=backbone, batch_size=args.batch_size)
    clip = ClipScore(backbone=backbone, batch_size=args.batch_size)
    shared = RewardSet([aes, clip], batch_size=args.batch_size, progress=False)

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for _ in range(args.images)]
    prompts = [f"a photo of object number {i}" for i in range(args.images)]

    def separate() -> np.ndarray:
        return np.stack([aes(images=images), clip(images=images, prompts=prompts)], axis=1)

    def together() -> np.ndarray:
        return shared(images=images, prompts=prompts).values

    np.testing.assert_allclose(separate(), together(), rtol=1e-4, atol=1e-5)  # warm-up and same answer
    times: dict[str, list[float]] = {"separate": [], "shared": []}
    for _ in range(args.repeats):
        for label, fn in (("separate", separate), ("shared", together)):
            t0 = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in times.items()}
    ips = {k: args.images / v for k, v in best.items()}
    print(
        f"backbone {args.model} (random weights), {args.images} images, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads, best of {args.repeats}"
    )
    print(f"  two separate scorers : {ips['separate']:6.2f} images/s")
    print(f"  shared RewardSet     : {ips['shared']:6.2f} images/s")
    ratio = ips["shared"] / ips["separate"]
    print(f"  speed-up             : {ratio:.2f}x")
    return ratio


if __name__ == "__main__":
    main()
