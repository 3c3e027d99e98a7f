"""The reward protocol: what every reward is, declares and returns (``RewardSet`` combines them).

A reward is called with keyword arguments, like trl's reward functions, and returns one float per
sample: ``reward(images=[...], prompts=[...]) -> float32 array (N,)``. It declares the inputs it
needs in ``inputs``; weighting rewards against each other never happens here (that is the
preference mapping's job in ``ric_core``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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

    @property
    def columns(self) -> tuple[str, ...]:
        """The score columns this reward adds to a ``RewardSet``: its name (a multi-objective model: several)."""
        return (self.name,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class MultiReward(Reward):
    """A reward that scores several objectives in one pass: ``score`` returns (N, C) for ``columns`` (C names),
    and so does calling it. A ``RewardSet`` gives each column its own place, like a reward of its own.

    Example:
        >>> class Lengths(MultiReward):
        ...     name, inputs, columns = "lengths", ("completions",), ("chars", "words")
        ...     def score(self, completions, **_):
        ...         return [[len(c), len(c.split())] for c in completions]
        >>> Lengths()(completions=["a bc", "d"]).tolist()
        [[4.0, 2.0], [1.0, 1.0]]
    """

    columns: tuple[str, ...] = ()

    def __call__(self, **inputs: Any) -> np.ndarray:
        n = batch_length(inputs, self.inputs, f"reward '{self.name}'")
        parts = [np.zeros((0, len(self.columns)), dtype=np.float32)]
        for start in range(0, n, self.batch_size):
            chunk = {k: inputs[k][start : start + self.batch_size] for k in self.inputs}
            parts.append(np.asarray(self.score(**chunk), dtype=np.float32).reshape(-1, len(self.columns)))
        out = np.concatenate(parts)
        if out.shape[0] != n:
            raise RuntimeError(f"reward '{self.name}' returned {out.shape[0]} rows of scores for {n} samples")
        return out


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
