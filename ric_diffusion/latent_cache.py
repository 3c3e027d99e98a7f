"""Cache what offline training never changes: VAE latents and text-encoder states.

The offline stage trains on a fixed dataset, so the VAE posterior of every image and the text
states of every caption (with its tags, in the ``text`` strategy) are computed once; a training
step then runs only the UNet and the reward embedder. Latents are cached as the VAE posterior's mean
and std and sampled every step, so training sees the same distribution as the diffusers recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torchvision import transforms
from tqdm.auto import tqdm

from ric_diffusion.conditioning import RewardConditioner
from ric_diffusion.config import DiffusionConfig
from ric_diffusion.data import RecordSet
from ric_diffusion.models import Components
from ric_diffusion.text_states import encode_texts, time_ids


@dataclass
class TrainCache:
    latent_mean: torch.Tensor  # (N, C, h, w), scaled by the VAE scaling factor
    latent_std: torch.Tensor  # (N, C, h, w), zeros in pixel space
    caption_index: torch.Tensor  # (N,) index into caption_states
    caption_states: torch.Tensor  # (U, 77, D) states of each distinct caption
    empty_states: torch.Tensor  # (1, 77, D) states of "" (the dropped condition)
    tagged_states: torch.Tensor | None  # (N, 77, D) caption + tags (text strategy only)
    rewards: torch.Tensor  # (N, K) normalised rewards
    # SDXL only (None otherwise): pooled embeddings beside each states table, and the size/crop ids
    caption_pooled: torch.Tensor | None = None  # (U, P)
    empty_pooled: torch.Tensor | None = None  # (1, P)
    tagged_pooled: torch.Tensor | None = None  # (N, P)
    time_ids: torch.Tensor | None = None  # (N, 6)

    def __len__(self) -> int:
        return self.latent_mean.shape[0]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: v.contiguous() for k, v in self.__dict__.items() if v is not None}

    def select(self, idx: torch.Tensor | list[int], rewards: torch.Tensor | None = None) -> TrainCache:
        """Rows ``idx`` (caption table kept whole), optionally with new normalised rewards (M, K)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        rows = {k: None if v is None else v[idx] for k, v in self.__dict__.items() if k in PER_ROW}
        if rewards is not None:
            rows["rewards"] = torch.as_tensor(rewards, dtype=torch.float32)
        return TrainCache(**{**self.__dict__, **rows})


# the fields with one row per training sample (the caption tables and the empty condition are shared)
PER_ROW = ("latent_mean", "latent_std", "caption_index", "tagged_states", "rewards", "tagged_pooled", "time_ids")


def concat_caches(a: TrainCache, b: TrainCache) -> TrainCache:
    """Rows of ``a`` then ``b``; b's caption indices shift past a's caption table."""
    if (a.tagged_states is None) != (b.tagged_states is None):
        raise ValueError("cannot mix caches of the text and embed strategies")

    def cat(name: str) -> torch.Tensor | None:
        x, y = getattr(a, name), getattr(b, name)
        return None if x is None else torch.cat([x, y])

    joined = {k: cat(k) for k in (*PER_ROW, "caption_states", "caption_pooled")}
    joined["caption_index"] = torch.cat([a.caption_index, b.caption_index + a.caption_states.shape[0]])
    return TrainCache(**{**a.__dict__, **joined})


def image_transform(resolution: int) -> transforms.Compose:
    """Resize the shorter side, center crop, scale to [-1, 1] (the paper: center crop, no flip)."""
    return transforms.Compose(
        [
            transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(resolution),
            transforms.ToTensor(),
            transforms.Normalize([0.5], [0.5]),
        ]
    )


def fingerprint(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@torch.no_grad()
def encode_images(comps: Components, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels (B, 3, H, W) in [-1, 1] -> scaled posterior mean and std (B, C, h, w)."""
    dist = comps.vae.encode(pixels.to(comps.vae.device, comps.vae.dtype)).latent_dist
    mean = getattr(dist, "mean", None)
    if mean is None:  # the pixel-space identity: a point mass
        mean = dist.mode()
        std = torch.zeros_like(mean)
    else:
        std = dist.std
    return mean.float().cpu() * comps.vae_scale, std.float().cpu() * comps.vae_scale


def build_cache(
    records: RecordSet,
    rewards_z: np.ndarray,
    comps: Components,
    conditioner: RewardConditioner,
    resolution: int,
    batch_size: int = 16,
) -> TrainCache:
    """Compute latents and text states for ``records`` (all readable) with normalised rewards (N, K)."""
    tf = image_transform(resolution)
    means, stds, sizes = [], [], []
    for start in tqdm(range(0, len(records), batch_size), desc="cache latents", unit="batch"):
        images = [records.open_image(r) for r in records.records[start : start + batch_size]]
        sizes += [(im.height, im.width) for im in images]  # SDXL's original-size ids
        m, s = encode_images(comps, torch.stack([tf(im) for im in images]))
        means.append(m)
        stds.append(s)
    captions = [r.caption for r in records.records]
    unique = sorted(set(captions))
    position = {c: i for i, c in enumerate(unique)}
    caption_states, caption_pooled = _cpu(*encode_texts(comps, conditioner, unique))
    empty_states, empty_pooled = _cpu(*encode_texts(comps, conditioner, [""]))
    tagged = tagged_pooled = None
    if conditioner.strategy == "text":
        tagged, tagged_pooled = _cpu(*encode_texts(comps, conditioner, captions, rewards_z))
    return TrainCache(
        latent_mean=torch.cat(means),
        latent_std=torch.cat(stds),
        caption_index=torch.tensor([position[c] for c in captions], dtype=torch.long),
        caption_states=caption_states,
        empty_states=empty_states,
        tagged_states=tagged,
        rewards=torch.as_tensor(rewards_z, dtype=torch.float32),
        caption_pooled=caption_pooled,
        empty_pooled=empty_pooled,
        tagged_pooled=tagged_pooled,
        time_ids=torch.tensor([time_ids(hw, resolution) for hw in sizes], dtype=torch.float32)
        if comps.is_sdxl
        else None,
    )


def _cpu(*tensors: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    return tuple(None if t is None else t.float().cpu() for t in tensors)


def save_cache(cache: TrainCache, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(cache.tensors(), tmp)
    os.replace(tmp, path)


def load_cache(path: str | os.PathLike) -> TrainCache:
    t = load_file(path)
    return TrainCache(**{k: t.get(k) for k in TrainCache.__dataclass_fields__})


def cached_tensors(
    cfg: DiffusionConfig,
    acc: Any,
    comps: Components,
    conditioner: RewardConditioner,
    records: RecordSet,
    z: np.ndarray,
) -> TrainCache:
    """Build (main process) or load the latent/text cache for these records and rewards."""
    cc = cfg.conditioning
    key = fingerprint(
        {
            "model": cfg.model.pretrained,
            "pixel": cfg.model.pixel_space,
            "res": cfg.data.resolution,
            "strategy": cc.strategy,
            "tags": cc.tag_template,
            "keys": [r.key for r in records.records],
            "captions": [r.caption for r in records.records],
            "z": np.round(z, 1).tolist() if cc.strategy == "text" else None,
        }
    )
    path = Path(cfg.train.output_dir) / "cache" / f"train-{key}.safetensors"
    if acc.is_main_process and not path.exists():
        save_cache(build_cache(records, z, comps, conditioner, cfg.data.resolution, cfg.train.cache_batch_size), path)
    acc.wait_for_everyone()
    return load_cache(path)
