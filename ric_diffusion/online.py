"""The diffusion policy for the shared online loop (ric_core.online), and the entry point train.py calls.

Generated images are PNG files under ``<run>/online/iter<k>/images/``; the loop's shard and buffer
tables point at them with their prompt, targets and obtained rewards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ric_core.online import OfflineData, OnlineLoop
from ric_diffusion.data import Record, RecordSet
from ric_diffusion.latent_cache import TrainCache, build_cache, concat_caches
from ric_diffusion.pipeline import RiCDiffusionPipeline
from ric_runtime.io import atomic_write_folder


class DiffusionPolicy:
    """Generates with the trainer's current UNet + conditioner and fine-tunes the same adapter."""

    def __init__(self, trainer: Any, make_reward_set: Callable[[], Any], offline_cache: TrainCache, offline: RecordSet):
        self.trainer, self.cfg = trainer, trainer.cfg
        self.make_reward_set, self._rewards = make_reward_set, None
        self.offline_cache = offline_cache
        self.offline_index = {r.key: i for i, r in enumerate(offline.records)}

    @property
    def rewards(self) -> Any:
        if self._rewards is None:  # loaded on first use: a resumed run past generation never needs it
            self._rewards = self.make_reward_set()
        return self._rewards

    def generate(self, prompts: list[str], targets: np.ndarray, sample_ids: list[str], seed: int) -> list[str]:
        t = self.trainer
        pipe = RiCDiffusionPipeline(t.comps, t.conditioner, t.stats, self.cfg)
        folder = t.out / "online" / sample_ids[0].split("-")[0].replace("it", "iter") / "images"
        folder.mkdir(parents=True, exist_ok=True)
        paths, bs = [], self.cfg.train.batch_size
        gen = torch.Generator().manual_seed(seed)
        for start in range(0, len(prompts), bs):
            out = pipe(prompts[start : start + bs], rewards=targets[start : start + bs], generator=gen)
            for sid, image in zip(sample_ids[start : start + bs], out.images, strict=True):
                paths.append(str(folder / f"{sid}.png"))
                image.save(paths[-1])
        return paths

    def score(self, prompts: list[str], outputs: list[str]) -> np.ndarray:
        from PIL import Image

        images = [Image.open(p).convert("RGB") for p in outputs]
        return self.rewards(images=images, prompts=prompts).values  # each reward gets only what it declares

    def fit(
        self,
        samples: list[dict[str, Any]],
        steps: int,
        learning_rate: float,
        iteration: int,
        on_step: Callable[[int], None],
    ) -> None:
        t = self.trainer
        off = [s for s in samples if s["origin"] == "offline"]
        new = [s for s in samples if s["origin"] != "offline"]
        cache = self.offline_cache.select(
            [self.offline_index[s["output"]] for s in off], torch.tensor([s["rewards"] for s in off])
        )
        if new:
            records = RecordSet([Record(key=s["output"], caption=s["prompt"], path=s["output"]) for s in new])
            z = np.array([s["rewards"] for s in new])
            fresh = build_cache(
                records.samples(), z, t.comps, t.conditioner, self.cfg.data.resolution, self.cfg.train.cache_batch_size
            )
            cache = concat_caches(cache, fresh)
        t.reset_optimizer(learning_rate)
        t.step, t.seed = 0, self.cfg.train.seed + 1000 * (iteration + 1)  # fresh data order per iteration
        t.fit(cache, steps, desc=f"online fit {iteration}", checkpoints=False, on_step=on_step)

    def save(self, path: Path) -> None:
        atomic_write_folder(path, [self.trainer.write_weights, self.trainer.write_meta])

    def load(self, path: Path) -> None:
        self.trainer.load_weights(Path(path))


def run_online(
    cfg: Any, trainer: Any, records: RecordSet, raw: np.ndarray, cache: TrainCache, offline_ckpt: Path
) -> Path:
    """Run or resume the online iterations after offline training; returns the final checkpoint."""
    from rewards import reward_names, reward_set_from_config

    acc = trainer.acc  # every process runs the loop: shards by rank, selection on the main one, DDP fits
    z = trainer.stats.normalize(raw)
    offline = OfflineData([r.caption for r in records.records], [r.key for r in records.records], z)
    policy = DiffusionPolicy(
        trainer, lambda: reward_set_from_config(cfg.rewards, acc.device, cfg.train.reward_batch_size), cache, records
    )
    loop = OnlineLoop(
        cfg.online,
        policy,
        trainer.stats,
        offline,
        trainer.out,
        initial_policy=offline_ckpt,
        reward_names=reward_names(cfg.rewards),
        processes=acc,
    )
    loop.run(on_iteration=lambda m: acc.log({f"online/{k}": v for k, v in _flat(m).items()}, step=m["iteration"]))
    state = loop.load_state()
    policy.load(Path(state["policy"]))
    trainer.step = trainer.cfg.train.max_steps + cfg.online.iterations * cfg.online.steps
    trainer.generated = cfg.online.iterations * cfg.online.num_samples  # by all ranks together
    return trainer.save()


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update({f"{k}/{kk}": vv for kk, vv in v.items()})
        elif isinstance(v, (int, float)):
            out[k] = v
    return out
