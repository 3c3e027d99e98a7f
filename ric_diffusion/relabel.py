"""Relabelling: score every training image with the configured rewards, on every process, shard by shard.

Scores go to parquet parts under ``<output_dir>/relabel/scores-<fingerprint>/`` (``rewards.score_shards``):
shard ``s`` is scored by process ``s % N`` into its own part, written atomically after every chunk, so a
rerun (on any number of processes) never scores an image twice and the scores do not depend on N.
Unreadable images are skipped and reported per shard, never a crash mid-run.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rewards import RewardSet, reward_names, reward_set_from_config
from rewards.score_shards import ScoreShards, owner, score_shards
from ric_core.online import SingleProcess, fault_point
from ric_core.stats import RewardStats
from ric_diffusion.config import DiffusionConfig
from ric_diffusion.data import Record, RecordSet, RecordStream, load_records
from ric_runtime.io import atomic_write_json, fingerprint

logger = logging.getLogger("ric_diffusion.relabel")
CHUNK = 64  # images decoded and scored at once (the reward set batches them further by reward_batch_size)


@dataclass
class RelabelReport:
    total: int = 0
    scored_now: int = 0
    from_cache: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"key", "reason"}
    processes: int = 1
    seconds: float = 0.0
    images_per_s: float = 0.0  # scored now / wall seconds, all processes together

    def summary(self) -> str:
        speed = f" ({self.images_per_s:.1f} img/s on {self.processes} processes)" if self.scored_now else ""
        return (
            f"relabelled {self.total} records: {self.scored_now} scored now{speed}, {self.from_cache} from cache, "
            f"{len(self.skipped)} skipped (unreadable or missing)"
        )


def score_store(cfg: DiffusionConfig) -> ScoreShards:
    """Where this config's scores live: named after what fixes them (the data and the reward columns)."""
    d, names = cfg.data, reward_names(cfg.rewards)
    parts = {k: getattr(d, k) for k in ("source", "split", "max_samples", "image_column", "caption_column")}
    key = fingerprint({**parts, "shard_size": d.shard_size, "rewards": names})
    return ScoreShards(Path(cfg.train.output_dir) / "relabel" / f"scores-{key}", names)


def relabel(
    source: RecordSet | RecordStream,
    make_reward_set: Callable[[], RewardSet],
    store: ScoreShards,
    shard_size: int,
    processes: Any = None,
    chunk_size: int = CHUNK,
) -> dict[str, int]:
    """Score this process's unfinished shards of ``source`` into ``store``; reward models load only when
    there is something to score. Returns this process's counts {"scored", "from_part", "skipped"}."""
    p = processes or SingleProcess()
    # A list may have grown since (records appended to a finished shard): it is checked key by key against
    # every part. A stream's length is part of its folder's fingerprint: a finished shard's marker is final.
    stream = isinstance(source, RecordStream)
    known = frozenset() if stream else frozenset(store.load()[0])
    wanted = lambda s: owner(s, p.num_processes) == p.process_index and not (stream and store.done(s))  # noqa: E731
    rewards: list[RewardSet] = []
    chunks = 0

    def score(images: list[Any], samples: list[Any]) -> np.ndarray:
        if not rewards:
            rewards.append(make_reward_set())
        return rewards[0](images=images, prompts=[s.caption for s in samples]).values  # (B, K)

    def after_chunk(shard: int) -> None:
        nonlocal chunks
        chunks += 1
        fault_point(f"relabel:{p.process_index}:{chunks}")  # crash tests: SIGKILL after that many chunks

    bar = tqdm(desc=f"relabel (process {p.process_index})", unit="img", disable=not p.is_main_process)
    counts = score_shards(source.chunks(wanted, shard_size, chunk_size), score, store, bar.update, after_chunk, known)
    bar.close()
    return counts


def write_report(report: RelabelReport, path: str | Path) -> None:
    atomic_write_json(path, {"summary": report.summary(), **report.__dict__})


def _all_counts(acc: Any, counts: dict[str, int]) -> dict[str, int]:
    """This run's counts summed over processes."""
    if acc.num_processes == 1:
        return counts
    from accelerate.utils import gather_object

    every = gather_object([counts])
    return {k: sum(c[k] for c in every) for k in counts}


def scored(source: RecordSet | RecordStream, store: ScoreShards) -> tuple[list[str], list[str], np.ndarray, list[int]]:
    """Keys, captions, raw scores (M, K) and indices of the source's scored samples, in dataset order. A stream's
    indices are fixed; a list's are found by key (rows may have moved, or left, since they were scored)."""
    keys, captions, raw, index = store.load()
    if isinstance(source, RecordStream):
        return keys, captions, raw, index
    by_key = dict(zip(keys, raw, strict=True))
    index = [i for i, r in enumerate(source.records) if r.key in by_key]
    keys = [source.records[i].key for i in index]
    values = np.stack([by_key[k] for k in keys]) if keys else np.zeros((0, len(store.names)))
    return keys, [source.records[i].caption for i in index], values, index


def kept_records(source: RecordSet | RecordStream, keys: list[str], captions: list[str], index: list[int]) -> RecordSet:
    """The scored records in dataset order: the source's own for a list, (key, caption) for a stream."""
    if isinstance(source, RecordSet):
        return source.subset(index)
    return RecordSet([Record(key=k, caption=c, index=i) for k, c, i in zip(keys, captions, index, strict=True)])


def prepare_offline_data(
    cfg: DiffusionConfig, acc: Any
) -> tuple[RecordSet | RecordStream, RecordSet, np.ndarray, RewardStats]:
    """The source, its readable records, their raw scores (N, K) and statistics; every process relabels
    its own shards (reward models on its own device), then the main process computes the statistics."""
    out = Path(cfg.train.output_dir)
    source = load_records(cfg.data)
    store = score_store(cfg)
    # a finished stream is not even read past again (a list is checked key by key: it may have grown)
    complete = store.folder / "complete.json" if isinstance(source, RecordStream) else None
    start = time.monotonic()
    counts = {"scored": 0, "from_part": 0, "skipped": 0}
    if complete is None or not complete.exists():
        counts = relabel(
            source,
            lambda: reward_set_from_config(cfg.rewards, acc.device, cfg.train.reward_batch_size),
            store,
            cfg.data.shard_size,
            acc,
        )
        gc.collect()  # frees the reward models (a shared CLIP backbone goes with its last reward)
        acc.wait_for_everyone()
    counts = _all_counts(acc, counts)
    keys, captions, raw, index = scored(source, store)
    if acc.is_main_process:
        skipped = [s for r in store.reports() for s in r.get("skipped", [])]
        seconds = time.monotonic() - start
        report = RelabelReport(
            total=len(keys) + len(skipped),
            scored_now=counts["scored"],
            from_cache=len(keys) - counts["scored"],
            skipped=skipped,
            processes=acc.num_processes,
            seconds=round(seconds, 3),
            images_per_s=round(counts["scored"] / seconds, 2) if counts["scored"] else 0.0,
        )
        if complete is not None:
            atomic_write_json(complete, {"samples": report.total, "scored": len(keys)})
        write_report(report, out / "relabel" / "report.json")
        logger.warning(report.summary())
        for s in report.skipped:
            logger.warning("skipped %s: %s", s["key"], s["reason"])
        if keys:
            unconditioned = cfg.conditioning.strategy == "none"  # trains on no reward: normalises nothing
            stats = RewardStats.from_scores(raw, store.names, constant_ok=unconditioned)
            stats.save(out / "relabel" / "reward_stats.json")
    acc.wait_for_everyone()
    if not keys:
        raise ValueError(f"no readable image in {cfg.data.source}; see {out / 'relabel' / 'report.json'}")
    stats = RewardStats.load(out / "relabel" / "reward_stats.json")
    return source, kept_records(source, keys, captions, index), raw, stats
