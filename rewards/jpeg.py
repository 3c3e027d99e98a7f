"""JPEG (in)compressibility: the encoded size of an image at quality 95, in kB (DDPO, RiC)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewards.base import IMAGE_INPUTS, Reward
from rewards.images import to_pil_rgb


def jpeg_kb(image: Any, quality: int = 95, size: int | tuple[int, int] | None = None) -> float:
    """Encoded JPEG size in kB (bytes / 1000), optionally after resizing to ``size``."""
    im = to_pil_rgb(image)
    if size is not None:
        im = im.resize((size, size) if isinstance(size, int) else size)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return buf.tell() / 1000.0


class JpegCompressibility(Reward):
    """Negative JPEG size in kB: flat, simple images score higher.

    The paper resizes to 512x512 before encoding (``size=512``); the default keeps the image size.

    Example:
        >>> import numpy as np
        >>> flat = np.full((64, 64, 3), 128, np.uint8)
        >>> noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        >>> a, b = JpegCompressibility()(images=[flat, noise])
        >>> bool(a > b)
        True
    """

    name = "jpeg_compressibility"
    inputs = IMAGE_INPUTS
    sign = -1.0

    def __init__(
        self, quality: int = 95, size: int | None = None, name: str | None = None, device: Any = None, dtype: Any = None
    ):
        if not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be in 1..100; got {quality}")
        self.quality, self.size = quality, size
        self.name = name or type(self).name

    def score(self, images: Sequence[Any], **_: Any) -> np.ndarray:
        return np.array([self.sign * jpeg_kb(im, self.quality, self.size) for im in images])


class JpegIncompressibility(JpegCompressibility):
    """JPEG size in kB: detailed, busy images score higher."""

    name = "jpeg_incompressibility"
    sign = 1.0
