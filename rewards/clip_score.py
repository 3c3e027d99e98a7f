"""CLIP score: image-text compliance as the cosine of open_clip embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rewards.base import IMAGE_TEXT_INPUTS, SharedFeatureReward
from rewards.clip_backbone import OpenClipBackbone, load_backbone


class ClipScore(SharedFeatureReward):
    """``scale * cos(image, prompt)``; ``scale=1`` is the paper's helper, ``scale=100, clamp_min=0``
    the torchmetrics convention (``torchmetrics=True`` sets both).

    Example:
        >>> r = ClipScore(torchmetrics=True)  # doctest: +SKIP
        >>> r(images=[img], prompts=["a cat"])  # doctest: +SKIP
        array([31.2], dtype=float32)
    """

    name = "clip_score"
    inputs = IMAGE_TEXT_INPUTS

    def __init__(
        self,
        clip_model: str = "ViT-L-14",
        clip_pretrained: str | None = "openai",
        clip_quick_gelu: bool | None = None,  # None: from the tag (openai: QuickGELU); set it for a local file
        scale: float = 1.0,
        clamp_min: float | None = None,
        torchmetrics: bool = False,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        batch_size: int = 32,
        backbone: OpenClipBackbone | None = None,
    ):
        self.backbone = backbone or load_backbone(clip_model, clip_pretrained, device, dtype, clip_quick_gelu)
        self.scale, self.clamp_min = (100.0, 0.0) if torchmetrics else (scale, clamp_min)
        self.batch_size = batch_size

    @torch.no_grad()
    def score_features(self, image_features: torch.Tensor, prompts: Sequence[str] = (), **_: Any) -> np.ndarray:
        text = self.backbone.encode_texts(prompts)
        cos = torch.nn.functional.cosine_similarity(image_features, text, dim=-1)  # (N,)
        if self.clamp_min is not None:
            cos = cos.clamp(min=self.clamp_min)
        return (self.scale * cos).cpu().numpy()
