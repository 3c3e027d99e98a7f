"""``RewardSet``: one batch scored by several rewards -> an (N, K) float32 matrix with the names.

Rewards on the same image backbone share one forward pass per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rewards.base import KNOWN_INPUTS, Reward, SharedFeatureReward, batch_length
from rewards.registry import get_reward


@dataclass(frozen=True)
class RewardScores:
    """An (N, K) float32 matrix of scores and the K reward names, in column order."""

    values: np.ndarray
    names: tuple[str, ...]

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {n: self.values[:, k] for k, n in enumerate(self.names)}


class RewardSet:
    """Score a batch with several rewards; (N, K) float32 out, batched, with a progress bar.

    Rewards on the same image backbone share one forward pass per batch.

    Example:
        >>> from rewards.toy import TextLength, NegativeTextLength
        >>> rs = RewardSet([TextLength(), NegativeTextLength()])
        >>> rs(prompts=["q", "q"], completions=["a b", "a b c"]).values.tolist()
        [[2.0, -2.0], [3.0, -3.0]]
    """

    def __init__(self, rewards: Sequence[Reward | str], batch_size: int = 32, progress: bool = True):
        self.rewards = [get_reward(r) if isinstance(r, str) else r for r in rewards]
        if not self.rewards:
            raise ValueError("a RewardSet needs at least one reward")
        names = [c for r in self.rewards for c in r.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"reward names (and objective columns) in a RewardSet must be unique; got {names}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        self.batch_size = batch_size
        self.progress = progress

    @property
    def names(self) -> tuple[str, ...]:
        """The K column names, in order (a multi-objective reward contributes several)."""
        return tuple(c for r in self.rewards for c in r.columns)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every input some reward in the set needs."""
        return tuple(k for k in KNOWN_INPUTS if any(k in r.inputs for r in self.rewards))

    def __call__(self, **inputs: Any) -> RewardScores:
        return self.score(**inputs)

    def score(self, **inputs: Any) -> RewardScores:
        n = batch_length(inputs, self.inputs, "RewardSet")
        out = np.zeros((n, len(self.names)), dtype=np.float32)
        starts = range(0, n, self.batch_size)
        bar = tqdm(starts, desc="scoring", unit="batch", disable=not self.progress or len(starts) <= 1)
        for start in bar:
            chunk = {k: inputs[k][start : start + self.batch_size] for k in self.inputs}
            out[start : start + len(next(iter(chunk.values())))] = self._score_chunk(chunk)
        return RewardScores(out, self.names)

    def _score_chunk(self, chunk: dict[str, Sequence[Any]]) -> np.ndarray:
        cols: list[np.ndarray] = []
        features: dict[int, Any] = {}  # id(backbone) -> image features of this chunk
        for r in self.rewards:
            if isinstance(r, SharedFeatureReward):
                key = id(r.backbone)
                if key not in features:
                    features[key] = r.backbone.encode_images(chunk["images"])
                extra = {k: chunk[k] for k in r.inputs if k != "images"}
                cols.append(np.asarray(r.score_features(features[key], **extra), dtype=np.float32))
            else:
                cols.append(r(**{k: chunk[k] for k in r.inputs}))
        return np.column_stack(cols)  # (B,) columns and (B, C) blocks side by side


def reward_set_from_config(specs: list[Any], device: Any = "cpu", batch_size: int = 32) -> Any:
    """A ``RewardSet`` from config entries (names or {name: ..., **kwargs}), on ``device``.

    Example:
        >>> reward_set_from_config(["toy_length", {"name": "toy_brevity"}]).names
        ('toy_length', 'toy_brevity')
    """
    rewards = []
    for spec in specs:
        name, kwargs = (
            (spec, {}) if isinstance(spec, str) else (spec["name"], {k: v for k, v in spec.items() if k != "name"})
        )
        rewards.append(get_reward(name, device=device, **kwargs))
    return RewardSet(rewards, batch_size=batch_size)
