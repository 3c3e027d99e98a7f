"""PickScore-style preference scorers: a transformers ``CLIPModel``, logit-scaled cosine."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rewards.base import IMAGE_TEXT_INPUTS, Reward
from rewards.images import to_pil_list

DEFAULT_MODEL = "yuvalkirstain/PickScore_v1"
DEFAULT_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


def _embeds(out: Any) -> torch.Tensor:
    """transformers 5 returns a model output from get_*_features; 4.x returned the tensor."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class PickScore(Reward):
    """``exp(logit_scale) * cos(image, prompt)`` from a CLIP model fine-tuned on human preferences.

    Example:
        >>> r = PickScore()  # doctest: +SKIP
        >>> r(images=[img], prompts=["a cat"])  # doctest: +SKIP
        array([21.3], dtype=float32)
    """

    name = "pickscore"
    inputs = IMAGE_TEXT_INPUTS

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        processor: str | os.PathLike | None = DEFAULT_PROCESSOR,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        batch_size: int = 16,
        name: str | None = None,
    ):
        from transformers import AutoProcessor, CLIPModel

        self.processor = AutoProcessor.from_pretrained(processor or model)
        self.model = CLIPModel.from_pretrained(model, dtype=dtype).to(device).eval().requires_grad_(False)
        self.device, self.dtype, self.batch_size = torch.device(device), dtype, batch_size
        self.name = name or type(self).name

    @torch.no_grad()
    def score(self, images: Sequence[Any], prompts: Sequence[str], **_: Any) -> np.ndarray:
        pixels = self.processor(images=to_pil_list(images), return_tensors="pt")["pixel_values"]
        text = self.processor(text=list(prompts), padding=True, truncation=True, max_length=77, return_tensors="pt")
        img = _embeds(self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype)))
        txt = _embeds(
            self.model.get_text_features(
                input_ids=text["input_ids"].to(self.device), attention_mask=text["attention_mask"].to(self.device)
            )
        )
        cos = torch.nn.functional.cosine_similarity(img.float(), txt.float(), dim=-1)
        return (self.model.logit_scale.exp().float() * cos).cpu().numpy()
