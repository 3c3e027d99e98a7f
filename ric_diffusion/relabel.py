"""Relabelling: score every training image with the configured rewards, cached by image key.

Raw scores go to a parquet table (``rewards.cache.ScoreCache``: one row per image key, one column
per reward) written atomically after every chunk, so a rerun or a resumed run never scores an image
twice. Unreadable images are skipped and listed in a report, never a crash mid-run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from rewards import RewardSet
from rewards.cache import ScoreCache
from ric_core.io import atomic_write_json
from ric_diffusion.data import RecordSet


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
    needs_prompts = "prompts" in reward_set.inputs
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
            inputs = {"images": images, **({"prompts": prompts} if needs_prompts else {})}
            cache.update(keys, reward_set(**inputs).values)
            report.scored_now += len(keys)
        bar.update(len(todo[start : start + chunk_size]))
    bar.close()
    scores, kept = cached_scores(records, reward_set.names, cache_path)
    return scores, kept, report


def write_report(report: RelabelReport, path: str | os.PathLike) -> None:
    atomic_write_json(path, {"summary": report.summary(), **report.__dict__})
