"""Relabelling: score every training image with the configured rewards, cached by image key.

Raw scores go to a parquet table (one row per image key, one column per reward) written atomically
after every chunk, so a rerun or a resumed run never scores an image twice. Unreadable images are
skipped and listed in a report, never a crash mid-run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from rewards import RewardSet
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


def _read_cache(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    table = pq.read_table(path)
    missing = [n for n in names if n not in table.column_names]
    if missing:  # new rewards were added to the config: rescore those columns' rows
        return {}
    keys = table.column("key").to_pylist()
    cols = np.stack([table.column(n).to_numpy() for n in names], axis=1)
    return dict(zip(keys, cols, strict=True))


def _write_cache(path: Path, cache: dict[str, np.ndarray], names: tuple[str, ...]) -> None:
    keys = list(cache)
    values = np.stack([cache[k] for k in keys]) if keys else np.zeros((0, len(names)))
    table = pa.table({"key": keys, **{n: values[:, i].astype(np.float64) for i, n in enumerate(names)}})
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def cached_scores(
    records: RecordSet, names: tuple[str, ...], cache_path: str | os.PathLike
) -> tuple[np.ndarray, list[int]]:
    """Raw scores (M, K) of the records already in the cache, and their indices into ``records``."""
    cache = _read_cache(Path(cache_path), names)
    kept = [i for i, r in enumerate(records.records) if r.key in cache]
    scores = np.stack([cache[records.records[i].key] for i in kept]) if kept else np.zeros((0, len(names)))
    return scores.astype(np.float64), kept


def relabel(
    records: RecordSet, reward_set: RewardSet, cache_path: str | os.PathLike, chunk_size: int = 64
) -> tuple[np.ndarray, list[int], RelabelReport]:
    """Raw scores (M, K) for the M readable records, their indices into ``records``, and a report."""
    cache_path = Path(cache_path)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    names = reward_set.names
    cache = _read_cache(cache_path, names)
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
            scores = reward_set(**inputs).values
            cache.update(zip(keys, scores, strict=True))
            report.scored_now += len(keys)
            _write_cache(cache_path, cache, names)
        bar.update(len(todo[start : start + chunk_size]))
    bar.close()
    scores, kept = cached_scores(records, names, cache_path)
    return scores, kept, report


def write_report(report: RelabelReport, path: str | os.PathLike) -> None:
    atomic_write_json(path, {"summary": report.summary(), **report.__dict__})


def read_report(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())
