"""Toy rewards of the one coloured shape a demo-world picture should show: its size, how centred it is and
how light its fill is. Weight-free and instant, named ``toy_*`` to say so.

Every one scores 0 unless the picture is *a shape on a plain background*, so the outputs an optimiser finds
first earn nothing: chromatic pixels (max - min channel >= 30 of 255) must form a solid block (at least half
of their bounding box) that stays clear of the border (at most 10 % of the outer ring chromatic) and has at
least 4 pixels. Noise is chromatic at the border and scattered; a flat fill or a colour wash covers the
border; a blank or grey picture has no shape; shapes tiled over the picture reach the border or leave their
bounding box mostly empty. ``tests/test_shape_rewards.py`` checks each case.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewards.base import IMAGE_INPUTS, Reward
from rewards.images import by_size

MIN_CHROMA = 30 / 255  # the demo world's own threshold for "coloured" (its compliance check uses it)


def shape_mask(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) pictures in [0, 1] -> (N, H, W) mask of the shape's pixels and (N,) whether it is one.

    Example:
        >>> img = np.full((1, 8, 8, 3), 0.5); img[0, 2:6, 2:6] = (0.9, 0.1, 0.1)
        >>> mask, ok = shape_mask(img)
        >>> int(mask[0].sum()), bool(ok[0])
        (16, True)
    """
    mask = x.max(axis=-1) - x.min(axis=-1) >= MIN_CHROMA  # (N, H, W)
    ring = np.concatenate([mask[:, 0], mask[:, -1], mask[:, 1:-1, 0], mask[:, 1:-1, -1]], axis=1)  # (N, border)
    rows, cols = mask.any(axis=2), mask.any(axis=1)  # (N, H), (N, W)
    height = rows.shape[1] - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
    width = cols.shape[1] - cols[:, ::-1].argmax(axis=1) - cols.argmax(axis=1)
    area = mask.sum(axis=(1, 2))
    solid = area >= 0.5 * height * width
    ok = (area >= 4) & solid & (ring.mean(axis=1) <= 0.1)
    return mask, ok


class _ShapeReward(Reward):
    """A measure of the picture's one shape; 0 for a picture that is not one shape on a plain background."""

    inputs = IMAGE_INPUTS

    def score(self, images: Sequence[Any], **_: Any) -> np.ndarray:
        return by_size(images, self._score)

    def _score(self, x: np.ndarray) -> np.ndarray:  # (N, H, W, 3) one size -> (N,)
        mask, ok = shape_mask(x)
        return np.where(ok, self.measure(x, mask), 0.0)

    def measure(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ToyShapeSize(_ShapeReward):
    """The shape's share of the picture's pixels (0 unless the picture is a shape on a plain background)."""

    name = "toy_shape_size"

    def measure(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return mask.mean(axis=(1, 2))


class ToyCentred(_ShapeReward):
    """1 minus the distance of the shape's centroid from the picture's centre, in half-diagonals (0 unless
    the picture is a shape on a plain background)."""

    name = "toy_centred"

    def measure(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        h, w = mask.shape[1:]
        yy, xx = np.mgrid[0:h, 0:w] + 0.5  # pixel centres
        area = np.maximum(mask.sum(axis=(1, 2)), 1)
        cy, cx = (mask * yy).sum(axis=(1, 2)) / area, (mask * xx).sum(axis=(1, 2)) / area
        return 1.0 - np.hypot(cy - h / 2, cx - w / 2) / np.hypot(h / 2, w / 2)


class ToyFillLight(_ShapeReward):
    """How light the shape's fill is: the 90th percentile of its pixels' brightest channel (0-1), so dark
    stripes across the fill do not count against it (0 unless the picture is a shape on a plain background)."""

    name = "toy_fill_light"

    def measure(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        bright = np.where(mask, x.max(axis=-1), np.nan).reshape(len(x), -1)  # (N, H*W), NaN off the shape
        with warnings.catch_warnings():  # a picture with no chromatic pixel is all NaN: it scores 0 anyway
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nan_to_num(np.nanpercentile(bright, 90, axis=1))
