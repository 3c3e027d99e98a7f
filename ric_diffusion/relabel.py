"""Relabelling: score every training image with the configured rewards, cached by image key.

Raw scores go to a parquet table (``rewards.score_cache.ScoreCache``: one row per image key, one column
per reward) written atomically after every chunk, so a rerun or a resumed run never scores an image
twice. Unreadable images are skipped and listed in a report, never a crash mid-run.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rewards import RewardSet, reward_names, reward_set_from_config
from rewards.score_cache import ScoreCache
from ric_core.stats import RewardStats
from ric_diffusion.config import DiffusionConfig
from ric_diffusion.data import RecordSet, load_records
from ric_runtime.io import atomic_write_json

logger = logging.getLogger("ric_diffusion.relabel")


@dataclass
class RelabelReport:
    total: int = 0
    scored_now: int = 0
    from_cache: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"key", "reason"}

    def summary(self) -> str:
        return (
            f"relabelled {self.total} records: {self.scored_now} scored now, {self.from_cache} from cache, "
            f"{len(self.skipped)} skipped (unreadable or missing)"
        )


def cached_scores(
    records: RecordSet, names: tuple[str, ...], cache_path: str | os.PathLike
) -> tuple[np.ndarray, list[int]]:
    """Raw scores (M, K) of the records already in the cache, and their indices into ``records``."""
    cache = ScoreCache(cache_path, names)
    kept = [i for i, r in enumerate(records.records) if r.key in cache]
    scores = np.stack([cache[records.records[i].key] for i in kept]) if kept else np.zeros((0, len(names)))
    return scores.astype(np.float64), kept


def relabel(
    records: RecordSet, reward_set: RewardSet, cache_path: str | os.PathLike, chunk_size: int = 64
) -> tuple[np.ndarray, list[int], RelabelReport]:
    """Raw scores (M, K) for the M readable records, their indices into ``records``, and a report."""
    cache = ScoreCache(cache_path, reward_set.names)
    report = RelabelReport(total=len(records))
    todo = [i for i, r in enumerate(records.records) if r.key not in cache]
    report.from_cache = len(records) - len(todo)
    bar = tqdm(total=len(todo), desc="relabel", unit="img", disable=len(todo) == 0)
    for start in range(0, len(todo), chunk_size):
        images, keys, prompts = [], [], []
        for i in todo[start : start + chunk_size]:
            rec = records.records[i]
            try:
                images.append(records.open_image(rec))
            except (OSError, ValueError, SyntaxError) as e:
                report.skipped.append({"key": rec.key, "reason": f"{type(e).__name__}: {e}"})
                continue
            keys.append(rec.key)
            prompts.append(rec.caption)
        if images:
            cache.update(keys, reward_set(images=images, prompts=prompts).values)  # rewards take what they declare
            report.scored_now += len(keys)
        bar.update(len(todo[start : start + chunk_size]))
    bar.close()
    scores, kept = cached_scores(records, reward_set.names, cache_path)
    return scores, kept, report


def write_report(report: RelabelReport, path: str | os.PathLike) -> None:
    atomic_write_json(path, {"summary": report.summary(), **report.__dict__})


def prepare_offline_data(cfg: DiffusionConfig, acc: Any) -> tuple[RecordSet, np.ndarray, RewardStats]:
    """Records, raw scores (N, K) of the readable ones and statistics; relabelling on the main process."""
    out = Path(cfg.train.output_dir)
    records = load_records(cfg.data)
    score_cache = out / "relabel" / "scores.parquet"
    if acc.is_main_process:
        reward_set = reward_set_from_config(cfg.rewards, acc.device, cfg.train.reward_batch_size)
        raw, kept, report = relabel(records, reward_set, score_cache)
        write_report(report, out / "relabel" / "report.json")
        logger.warning(report.summary())
        for s in report.skipped:
            logger.warning("skipped %s: %s", s["key"], s["reason"])
        unconditioned = cfg.conditioning.strategy == "none"  # trains on no reward: normalises nothing
        stats = RewardStats.from_scores(raw, reward_set.names, constant_ok=unconditioned)
        stats.save(out / "relabel" / "reward_stats.json")
        del reward_set  # frees the reward models (a shared CLIP backbone goes with its last reward)
        gc.collect()
    acc.wait_for_everyone()
    if not acc.is_main_process:  # everything is cached now: read it back, no reward model needed
        raw, kept = cached_scores(records, reward_names(cfg.rewards), score_cache)
    stats = RewardStats.load(out / "relabel" / "reward_stats.json")
    if len(kept) == 0:
        raise ValueError(f"no readable image in {cfg.data.source}; see {out / 'relabel' / 'report.json'}")
    return records.subset(kept), raw, stats
