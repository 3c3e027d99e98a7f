"""Toy rewards for the small demo worlds: weight-free, instant, and named ``toy_*`` to say so.

They are honest measurements of simple properties (brightness, colourfulness, detail, length,
sentiment words), not learned preferences: use them to exercise the pipeline, not to claim quality.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewards.base import IMAGE_INPUTS, Reward
from rewards.images import by_size

POSITIVE_WORDS = frozenset(
    {
        "good",
        "great",
        "excellent",
        "love",
        "lovely",
        "wonderful",
        "amazing",
        "perfect",
        "happy",
        "nice",
        "fantastic",
        "best",
        "superb",
        "delightful",
        "pleasant",
        "recommend",
        "sturdy",
        "reliable",
        "beautiful",
        "comfortable",
    }
)
NEGATIVE_WORDS = frozenset(
    {
        "bad",
        "poor",
        "terrible",
        "awful",
        "hate",
        "broken",
        "worst",
        "disappointing",
        "flimsy",
        "useless",
        "ugly",
        "cheap",
        "slow",
        "uncomfortable",
        "noisy",
        "fragile",
        "refund",
        "annoying",
    }
)
_WORD = re.compile(r"[a-zA-Z']+")


class ToyBrightness(Reward):
    """Mean pixel value in [0, 1]."""

    name, inputs = "toy_brightness", IMAGE_INPUTS

    def score(self, images: Sequence[Any], **_: Any) -> np.ndarray:
        return by_size(images, lambda x: x.mean(axis=(1, 2, 3)))


class ToyColorfulness(Reward):
    """Hasler-Suesstrunk colourfulness (on 0-1 pixel values): 0 for grey images."""

    name, inputs = "toy_colorfulness", IMAGE_INPUTS

    def score(self, images: Sequence[Any], **_: Any) -> np.ndarray:
        return by_size(images, self._score)

    @staticmethod
    def _score(x: np.ndarray) -> np.ndarray:  # (N, H, W, 3) one size
        rg = x[..., 0] - x[..., 1]
        yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
        std = np.sqrt(rg.std(axis=(1, 2)) ** 2 + yb.std(axis=(1, 2)) ** 2)
        mean = np.sqrt(rg.mean(axis=(1, 2)) ** 2 + yb.mean(axis=(1, 2)) ** 2)
        return std + 0.3 * mean


class ToyDetail(Reward):
    """Mean gradient magnitude of the grey image: edges and texture score high, flat areas 0."""

    name, inputs = "toy_detail", IMAGE_INPUTS

    def score(self, images: Sequence[Any], **_: Any) -> np.ndarray:
        return by_size(images, self._score)

    @staticmethod
    def _score(x: np.ndarray) -> np.ndarray:
        grey = x.mean(axis=-1)  # (N, H, W)
        gy, gx = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=2))
        return gy.mean(axis=(1, 2)) + gx.mean(axis=(1, 2))


class ToyStripes(Reward):
    """Horizontal stripes with a ``period``-pixel cycle: per column, the DFT magnitude at that frequency
    above the mean magnitude at the other non-zero frequencies, averaged over columns (0-1 grey values).
    Flat images score 0; noise, with a flat spectrum, scores about 0 too."""

    name, inputs = "toy_stripes", IMAGE_INPUTS

    def __init__(self, period: int = 4, device: Any = None, dtype: Any = None):
        self.period = period

    def score(self, images: Sequence[Any], **_: Any) -> np.ndarray:
        return by_size(images, self._score)

    def _score(self, x: np.ndarray) -> np.ndarray:
        grey = x.mean(axis=-1)  # (N, H, W)
        h = grey.shape[1]
        spectrum = np.abs(np.fft.rfft(grey, axis=1)) / h  # (N, H//2 + 1, W), per column
        k0 = h // self.period
        others = np.delete(spectrum[:, 1:], k0 - 1, axis=1).mean(axis=1)  # (N, W) the column's floor
        return np.clip(spectrum[:, k0] - others, 0, None).mean(axis=1)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class TextLength(Reward):
    """Number of words in the completion (a toy verbosity reward)."""

    name, inputs = "toy_length", ("prompts", "completions")

    def score(self, completions: Sequence[str], **_: Any) -> np.ndarray:
        return np.array([len(words(c)) for c in completions], dtype=np.float64)


class NegativeTextLength(TextLength):
    """Minus the number of words (a toy brevity reward)."""

    name = "toy_brevity"

    def score(self, completions: Sequence[str], **_: Any) -> np.ndarray:
        return -super().score(completions)


class ToySentiment(Reward):
    """Positive-lexicon words minus negative-lexicon words in the completion."""

    name, inputs = "toy_sentiment", ("prompts", "completions")

    def score(self, completions: Sequence[str], **_: Any) -> np.ndarray:
        out = []
        for c in completions:
            ws = words(c)
            out.append(sum(w in POSITIVE_WORDS for w in ws) - sum(w in NEGATIVE_WORDS for w in ws))
        return np.array(out, dtype=np.float64)
