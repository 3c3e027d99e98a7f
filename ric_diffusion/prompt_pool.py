"""Start from prompts only: the base model generates the offline dataset (DDPO-style users have no images).

``data.source`` = a ``.txt`` prompt list. Sample ``i`` is prompt ``i // images_per_prompt`` with its own
random seed ``(train.seed, i)``, so the pool does not depend on the batch or the number of processes.
Samples are generated in shards of ``data.shard_size`` (shard ``s`` on process ``s % N``); a shard is
finished when its ``part-XXXXX.jsonl`` exists (written after its images), so a rerun generates nothing
twice. The main process then writes ``metadata.jsonl``: the pool is an ordinary imagefolder, relabelled
and trained on as usual.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from rewards.score_shards import owner
from ric_diffusion.config import DiffusionConfig
from ric_diffusion.models import Components, build_pipeline
from ric_runtime.io import atomic_write_text, fingerprint, read_prompts

logger = logging.getLogger("ric_diffusion.prompt_pool")


def is_prompt_list(source: str) -> bool:
    return source.endswith(".txt")


def pool_folder(cfg: DiffusionConfig, prompts: list[str]) -> Path:
    d, inf = cfg.data, cfg.inference
    key = fingerprint(
        {
            "model": cfg.model.pretrained,
            "prompts": prompts,
            "per_prompt": d.images_per_prompt,
            "res": d.resolution,
            "steps": inf.num_inference_steps,
            "guidance": inf.guidance_scale,
            "seed": cfg.train.seed,
            "shard_size": d.shard_size,
        }
    )
    return Path(cfg.train.output_dir) / "pool" / f"pool-{key}"


def _generate_shard(pipe: Any, cfg: DiffusionConfig, prompts: list[str], ids: range, folder: Path) -> list[dict]:
    """Images of samples ``ids`` (one generator per sample: the batch does not change a sample)."""
    rows, n, b = [], cfg.data.images_per_prompt, cfg.train.batch_size
    for start in range(ids.start, ids.stop, b):
        batch = range(start, min(ids.stop, start + b))
        texts = [prompts[i // n] for i in batch]
        gens = [torch.Generator().manual_seed(cfg.train.seed * 1_000_003 + i) for i in batch]
        images = pipe(
            texts,
            generator=gens,
            height=cfg.data.resolution,
            width=cfg.data.resolution,
            num_inference_steps=cfg.inference.num_inference_steps,
            guidance_scale=cfg.inference.guidance_scale,
        ).images
        for i, text, image in zip(batch, texts, images, strict=True):
            name = f"{i:07d}.png"
            image.save(folder / f".{name}.tmp", format="PNG")
            (folder / f".{name}.tmp").replace(folder / name)
            rows.append({"file_name": name, "text": text})
    return rows


def prompt_pool(cfg: DiffusionConfig, comps: Components, processes: Any) -> DiffusionConfig:
    """Generate (or finish) the pool of a prompt-list source and return ``cfg`` reading that pool.

    Example:
        >>> cfg = prompt_pool(parse_args(["data.source=prompts.txt"]), comps, accelerator)  # doctest: +SKIP
        >>> cfg.data.source  # runs/x/pool/pool-<hash>, an imagefolder
    """
    prompts = read_prompts(cfg.data.source)
    if not prompts:
        raise ValueError(f"{cfg.data.source} holds no prompt; write one prompt per line")
    folder = pool_folder(cfg, prompts)
    folder.mkdir(parents=True, exist_ok=True)
    total, size = len(prompts) * cfg.data.images_per_prompt, cfg.data.shard_size
    part = lambda s: folder / f"part-{s:05d}.jsonl"  # noqa: E731
    mine = [
        s
        for s in range(-(-total // size))
        if owner(s, processes.num_processes) == processes.process_index and not part(s).exists()
    ]
    if mine and not (folder / "metadata.jsonl").exists():
        pipe = build_pipeline(comps).to(processes.device)
        bar = tqdm(total=len(mine) * size, desc="prompt pool", unit="img", disable=not processes.is_main_process)
        for s in mine:
            rows = _generate_shard(pipe, cfg, prompts, range(s * size, min(total, (s + 1) * size)), folder)
            atomic_write_text(part(s), "".join(json.dumps(r) + "\n" for r in rows))
            bar.update(len(rows))
        bar.close()
    processes.wait_for_everyone()
    if processes.is_main_process and not (folder / "metadata.jsonl").exists():
        parts = [part(s).read_text() for s in range(-(-total // size))]
        atomic_write_text(folder / "metadata.jsonl", "".join(parts))
        logger.warning("prompt pool: %d images of %d prompts in %s", total, len(prompts), folder)
    processes.wait_for_everyone()
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, source=str(folder)))
