"""Relabelling for text: every (prompt, response) scored once by the reward models, cached by content.

Reward models see the clean prompt (no tags). Scores are cached in a parquet file keyed by a hash of
the pair, so a rerun (or an interrupted run) scores only what is missing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rewards import reward_names, reward_set_from_config
from rewards.score_cache import ScoreCache
from ric_core.stats import RewardStats
from ric_runtime.io import atomic_write_json
from ric_text.config import TextConfig
from ric_text.data import TextSamples


def sample_key(prompt: str, response: str) -> str:
    return hashlib.sha1(f"{prompt}\x00{response}".encode()).hexdigest()


def relabel_text(
    samples: TextSamples, make_reward_set: Any, cache_path: Path, names: tuple[str, ...], chunk: int = 256
) -> np.ndarray:
    """Raw scores (N, K), scoring only samples the cache does not hold; reward models see the clean prompt."""
    cache = ScoreCache(cache_path, names)
    keys = [sample_key(p, r) for p, r in zip(samples.prompts, samples.responses, strict=True)]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    if todo:
        reward_set = make_reward_set()
        for start in tqdm(range(0, len(todo), chunk), desc="relabel", unit="chunk"):
            idx = todo[start : start + chunk]
            scores = reward_set(
                prompts=[samples.prompts[i] for i in idx], completions=[samples.responses[i] for i in idx]
            )
            cache.update([keys[i] for i in idx], scores.values)
    return np.stack([cache[k] for k in keys])


def relabel_stage(cfg: TextConfig, samples: TextSamples, state: Any) -> tuple[np.ndarray, RewardStats]:
    """Score the training samples (the main process scores; the others then read the cache) and compute
    the reward statistics; both are written under ``<output_dir>/relabel/``."""
    out, names = Path(cfg.train.output_dir) / "relabel", reward_names(cfg.rewards)
    with state.main_process_first():
        raw = relabel_text(
            samples,
            lambda: reward_set_from_config(cfg.rewards, state.device, cfg.train.reward_batch_size),
            out / "scores.parquet",
            names,
        )
    stats = RewardStats.from_scores(raw, names)
    if state.is_main_process:
        stats.save(out / "reward_stats.json")
        atomic_write_json(out / "report.json", {"samples": len(samples), "skipped": samples.skipped})
    return raw, stats
