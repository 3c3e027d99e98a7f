"""The reward protocol and `RewardSet`, which scores one batch with several rewards.

A reward is called with keyword arguments, like trl's reward functions, and returns one float per
sample: ``reward(images=[...], prompts=[...]) -> float32 array (N,)``. It declares the inputs it
needs in ``inputs``; weighting rewards against each other never happens here (that is the
preference mapping's job in ``ric_core``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

IMAGE_INPUTS = ("images",)
IMAGE_TEXT_INPUTS = ("images", "prompts")
TEXT_INPUTS = ("prompts", "completions")
KNOWN_INPUTS = ("images", "prompts", "completions")


def batch_length(inputs: dict[str, Sequence[Any]], needed: Sequence[str], who: str) -> int:
    """Length shared by the ``needed`` inputs; a clear error when one is missing or lengths differ."""
    missing = [k for k in needed if inputs.get(k) is None]
    if missing:
        raise ValueError(f"{who} needs the input(s) {missing}; pass them as keyword arguments ({list(needed)})")
    lengths = {k: len(inputs[k]) for k in needed}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{who}: inputs have different lengths {lengths}; give one entry per sample")
    return next(iter(lengths.values())) if lengths else 0


class Reward:
    """Base class: subclasses set ``name`` and ``inputs`` and implement :meth:`score`.

    Example:
        >>> class Length(Reward):
        ...     name, inputs = "length", ("completions",)
        ...     def score(self, completions, **_):
        ...         return [len(c) for c in completions]
        >>> Length()(completions=["ab", "abcd"]).tolist()
        [2.0, 4.0]
    """

    name: str = "reward"
    inputs: tuple[str, ...] = ()
    batch_size: int = 32

    def __init__(self, device: Any = None, dtype: Any = None, batch_size: int | None = None):
        # Weight-free rewards accept device/dtype like model rewards, so callers treat all alike.
        if batch_size is not None:
            self.batch_size = batch_size

    def score(self, **inputs: Any) -> np.ndarray | Sequence[float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, **inputs: Any) -> np.ndarray:
        n = batch_length(inputs, self.inputs, f"reward '{self.name}'")
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        parts = []
        for start in range(0, n, self.batch_size):  # model rewards see at most batch_size samples
            chunk = {k: inputs[k][start : start + self.batch_size] for k in self.inputs}
            parts.append(np.asarray(self.score(**chunk), dtype=np.float32).reshape(-1))
        out = np.concatenate(parts)
        if out.shape[0] != n:
            raise RuntimeError(f"reward '{self.name}' returned {out.shape[0]} scores for {n} samples")
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class SharedFeatureReward(Reward):
    """A reward computed from image features of a backbone that other rewards may share.

    ``RewardSet`` runs ``backbone.encode_images`` once per batch for all rewards on the same
    backbone object, then calls :meth:`score_features` on each.
    """

    backbone: Any

    def score_features(self, image_features: Any, **inputs: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def score(self, images: Sequence[Any], **inputs: Any) -> np.ndarray:
        return self.score_features(self.backbone.encode_images(images), **inputs)


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
        from rewards.registry import get_reward

        self.rewards = [get_reward(r) if isinstance(r, str) else r for r in rewards]
        if not self.rewards:
            raise ValueError("a RewardSet needs at least one reward")
        names = [r.name for r in self.rewards]
        if len(set(names)) != len(names):
            raise ValueError(f"reward names in a RewardSet must be unique; got {names}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        self.batch_size = batch_size
        self.progress = progress

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rewards)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every input some reward in the set needs."""
        return tuple(k for k in KNOWN_INPUTS if any(k in r.inputs for r in self.rewards))

    def __call__(self, **inputs: Any) -> RewardScores:
        return self.score(**inputs)

    def score(self, **inputs: Any) -> RewardScores:
        n = batch_length(inputs, self.inputs, "RewardSet")
        out = np.zeros((n, len(self.rewards)), dtype=np.float32)
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
                cols.append(r(**chunk))
        return np.stack(cols, axis=1)
