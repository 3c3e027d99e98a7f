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


def to_float_array(images: Sequence[Any]) -> np.ndarray:
    """A batch as float32 (N, H, W, 3) in [0, 1]; images must share one size."""
    arrays = [np.asarray(im, dtype=np.float32) / 255.0 for im in to_pil_list(images)]
    if len({a.shape for a in arrays}) > 1:
        raise ValueError("these images differ in size; resize them to one size first")
    return np.stack(arrays) if arrays else np.zeros((0, 1, 1, 3), dtype=np.float32)
