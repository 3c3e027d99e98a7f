"""Cache what offline training never changes: VAE latents and text-encoder states.

The offline stage trains on a fixed dataset, so the VAE posterior of every image and the text
states of every caption (with its tags, in the ``text`` strategy) are computed once; a training
step then runs only the UNet and the reward embedder. Latents are cached as the VAE posterior's mean
and std and sampled every step, so training sees the same distribution as the diffusers recipe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torchvision import transforms
from tqdm.auto import tqdm

from rewards.score_shards import Sample, owner
from ric_diffusion.conditioning import RewardConditioner
from ric_diffusion.config import DiffusionConfig
from ric_diffusion.data import RecordSet, RecordStream
from ric_diffusion.models import Components
from ric_diffusion.text_states import encode_texts, time_ids
from ric_runtime.io import atomic_write_json, fingerprint


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


def concat_caches(*caches: TrainCache) -> TrainCache:
    """Rows of every cache in turn; each one's caption indices shift past the caption tables before it."""
    if len({c.tagged_states is None for c in caches}) > 1:
        raise ValueError("cannot mix caches of the text and embed strategies")

    def cat(name: str) -> torch.Tensor | None:
        parts = [getattr(c, name) for c in caches]
        return None if parts[0] is None else torch.cat(parts)

    joined = {k: cat(k) for k in (*PER_ROW, "caption_states", "caption_pooled")}
    offsets = np.cumsum([0] + [c.caption_states.shape[0] for c in caches[:-1]])
    joined["caption_index"] = torch.cat([c.caption_index + int(o) for c, o in zip(caches, offsets, strict=True)])
    return TrainCache(**{**caches[0].__dict__, **joined})


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
    shift = comps.vae_shift  # SD3: z = (x - shift) * scale
    return (mean.float().cpu() - shift) * comps.vae_scale, std.float().cpu() * comps.vae_scale


def build_cache(
    samples: Sequence[Sample],
    rewards_z: np.ndarray,
    comps: Components,
    conditioner: RewardConditioner,
    resolution: int,
    batch_size: int = 16,
) -> TrainCache:
    """Latents and text states of ``samples`` (all readable; images open batch by batch) with their
    normalised rewards (N, K)."""
    tf = image_transform(resolution)
    means, stds, sizes = [], [], []
    for start in tqdm(range(0, len(samples), batch_size), desc="cache latents", unit="batch", leave=False):
        images = [s.load() for s in samples[start : start + batch_size]]
        sizes += [(im.height, im.width) for im in images]  # SDXL's original-size ids
        m, s = encode_images(comps, torch.stack([tf(im) for im in images]))
        means.append(m)
        stds.append(s)
    captions = [s.caption for s in samples]
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


def save_cache(cache: TrainCache, path: str | os.PathLike, keys: Sequence[str] | None = None) -> None:
    """Write atomically; ``keys`` (one per row) go into the file's metadata, to check the order on load."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(cache.tensors(), tmp, metadata=None if keys is None else {"keys": json.dumps(list(keys))})
    os.replace(tmp, path)


def load_cache(path: str | os.PathLike) -> TrainCache:
    t = load_file(path)
    return TrainCache(**{k: t.get(k) for k in TrainCache.__dataclass_fields__})


def cache_keys(path: str | os.PathLike) -> list[str]:
    with safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {}).get("keys", "[]"))


def cached_tensors(
    cfg: DiffusionConfig,
    acc: Any,
    comps: Components,
    conditioner: RewardConditioner,
    source: RecordSet | RecordStream,
    records: RecordSet,
    z: np.ndarray,
) -> TrainCache:
    """Build or load the latent/text cache of ``records`` (the readable ones of ``source``) with rewards z
    (N, K): every process encodes its own shards into safetensors parts, then all load the parts."""
    cc = cfg.conditioning
    keys = [r.key for r in records.records]
    key = fingerprint(
        {
            "model": cfg.model.pretrained,
            "pixel": cfg.model.pixel_space,
            "res": cfg.data.resolution,
            "strategy": cc.strategy,
            "tags": cc.tag_template,
            "shard_size": cfg.data.shard_size,
            "keys": keys,
            "captions": [r.caption for r in records.records],
            "z": np.round(z, 1).tolist() if cc.strategy == "text" else None,
        }
    )
    folder = Path(cfg.train.output_dir) / "cache" / f"train-{key}"
    if not (folder / "complete.json").exists():
        row = {k: i for i, k in enumerate(keys)}
        part = lambda s: folder / f"part-{s:05d}.safetensors"  # noqa: E731
        wanted = lambda s: owner(s, acc.num_processes) == acc.process_index and not part(s).exists()  # noqa: E731
        for shard, samples in _by_shard(source.chunks(wanted, cfg.data.shard_size, cfg.train.cache_batch_size)):
            kept = [s for s in samples if s.key in row]  # unreadable images were skipped at relabelling
            if kept:
                built = build_cache(
                    kept,
                    z[[row[s.key] for s in kept]],
                    comps,
                    conditioner,
                    cfg.data.resolution,
                    cfg.train.cache_batch_size,
                )
                save_cache(built, part(shard), [s.key for s in kept])
        acc.wait_for_everyone()
    parts = sorted(folder.glob("part-?????.safetensors"))
    if [k for p in parts for k in cache_keys(p)] != keys:
        raise RuntimeError(f"the cache parts in {folder} do not hold the scored records in order; delete the folder")
    if acc.is_main_process:
        atomic_write_json(folder / "complete.json", {"rows": len(keys), "parts": len(parts)})
    cache = concat_caches(*(load_cache(p) for p in parts))
    acc.wait_for_everyone()
    return cache


def _by_shard(chunks: Iterator[tuple[int, list[Sample]]]) -> Iterator[tuple[int, list[Sample]]]:
    """Chunks joined into whole shards (samples stay lazy: one shard's images are never all open)."""
    shard, samples = None, []
    for s, chunk in chunks:
        if s != shard and samples:
            yield shard, samples
            samples = []
        shard = s
        samples += chunk
    if samples:
        yield shard, samples
