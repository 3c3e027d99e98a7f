"""Relabelling for text: every (prompt, response) scored once by the reward models, on every process.

Reward models see the clean prompt (no tags). Scores go to parquet parts keyed by a hash of the pair
(``rewards.score_shards``): shard ``s`` of ``data.shard_size`` samples is scored by process ``s % N``,
so a rerun (or an interrupted run, on any number of processes) scores only what is missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rewards import reward_names, reward_set_from_config
from rewards.score_shards import Sample, ScoreShards, owner, score_shards
from ric_core.online import SingleProcess
from ric_core.stats import RewardStats
from ric_runtime.io import atomic_write_json, fingerprint
from ric_text.config import TextConfig
from ric_text.data import TextSamples


def sample_key(prompt: str, response: str) -> str:
    return hashlib.sha1(f"{prompt}\x00{response}".encode()).hexdigest()


def score_folder(out: Path, names: tuple[str, ...], shard_size: int) -> Path:
    """Scores under these reward columns; samples are found by key, so changed data or filters reuse them."""
    return out / f"scores-{fingerprint({'rewards': names, 'shard_size': shard_size})}"


def relabel_text(
    samples: TextSamples,
    make_reward_set: Callable[[], Any],
    out: Path,
    names: tuple[str, ...],
    shard_size: int = 4096,
    processes: Any = None,
    chunk: int = 256,
) -> np.ndarray:
    """Raw scores (N, K); this process scores its unfinished shards, then (after every process is done)
    all scores are read back. Reward models load only when there is something to score."""
    p = processes or SingleProcess()
    keys = [sample_key(q, r) for q, r in zip(samples.prompts, samples.responses, strict=True)]
    store = ScoreShards(score_folder(out, names, shard_size), names)
    known = frozenset(store.load()[0])  # pairs scored before, wherever they were in the data then
    rewards: list[Any] = []

    def chunks(wanted: Callable[[int], bool]):
        for shard in range(-(-len(keys) // shard_size)):
            if wanted(shard):
                end = min(len(keys), (shard + 1) * shard_size)
                for start in range(shard * shard_size, end, chunk):
                    yield shard, [_sample(samples, keys, i) for i in range(start, min(end, start + chunk))]

    def score(responses: list[str], batch: list[Sample]) -> np.ndarray:
        if not rewards:
            rewards.append(make_reward_set())
        return rewards[0](prompts=[s.caption for s in batch], completions=responses).values  # (B, K)

    wanted = lambda s: owner(s, p.num_processes) == p.process_index  # noqa: E731
    bar = tqdm(desc=f"relabel (process {p.process_index})", unit="sample", disable=not p.is_main_process)
    score_shards(chunks(wanted), score, store, bar.update, known=known)
    bar.close()
    p.wait_for_everyone()
    scored, _, values, _ = store.load()
    got = dict(zip(scored, values, strict=True))
    return np.stack([got[k] for k in keys])  # duplicates of a pair share its one score


def _sample(samples: TextSamples, keys: list[str], i: int) -> Sample:
    return Sample(i, keys[i], samples.prompts[i], partial(lambda r: r, samples.responses[i]))


def relabel_stage(cfg: TextConfig, samples: TextSamples, state: Any) -> tuple[np.ndarray, RewardStats]:
    """Score the training samples (every process its own shards) and compute the reward statistics; both
    are written under ``<output_dir>/relabel/``."""
    out, names = Path(cfg.train.output_dir) / "relabel", reward_names(cfg.rewards)
    raw = relabel_text(
        samples,
        lambda: reward_set_from_config(cfg.rewards, state.device, cfg.train.reward_batch_size),
        out,
        names,
        cfg.data.shard_size,
        state,
    )
    stats = RewardStats.from_scores(raw, names)
    if state.is_main_process:
        stats.save(out / "reward_stats.json")
        atomic_write_json(out / "report.json", {"samples": len(samples), "skipped": samples.skipped})
    return raw, stats
