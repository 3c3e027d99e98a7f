"""Image inputs in any common form -> a list of RGB PIL images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image


def to_pil_rgb(image: Any) -> Image.Image:
    """One image (PIL, HxWxC uint8/float array, or CxHxW torch tensor in [0, 1]) as an RGB PIL image.

    Example:
        >>> to_pil_rgb(np.zeros((4, 4), dtype=np.uint8)).mode
        'RGB'
    """
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if hasattr(image, "detach"):  # a torch tensor, (C, H, W) in [0, 1] as diffusers returns with output_type="pt"
        image = image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"cannot read an image from an array of dtype {arr.dtype}; use uint8 or floats in [0, 1]")
        arr = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise ValueError(f"an image must be HxW or HxWxC; got shape {arr.shape}")
    return Image.fromarray(arr).convert("RGB")


def to_pil_list(images: Sequence[Any] | Any) -> list[Image.Image]:
    """A batch (a list, an (N, H, W, C) array or an (N, C, H, W) tensor) as RGB PIL images."""
    return [to_pil_rgb(im) for im in images]


def by_size(images: Sequence[Any], fn: Any) -> np.ndarray:
    """``fn`` ((n, H, W, 3) float32 in [0, 1], one size) -> (n,) scores, applied to each group of
    equal-size images; scores come back in the input order, so a folder of mixed sizes scores as one.

    Example:
        >>> from PIL import Image
        >>> ims = [Image.new("RGB", (4, 4), "white"), Image.new("RGB", (8, 2), "black")]
        >>> by_size(ims, lambda x: x.mean(axis=(1, 2, 3))).tolist()
        [1.0, 0.0]
    """
    arrays = [np.asarray(im, dtype=np.float32) / 255.0 for im in to_pil_list(images)]
    groups: dict[tuple, list[int]] = {}
    for i, a in enumerate(arrays):
        groups.setdefault(a.shape, []).append(i)
    out = np.zeros(len(arrays), dtype=np.float64)
    for idx in groups.values():
        out[idx] = fn(np.stack([arrays[i] for i in idx]))
    return out
