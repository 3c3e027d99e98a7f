"""An open_clip image/text backbone, loaded once per (model, weights, device, dtype) and shared.

``aesthetic`` and ``clip_score`` built with the same settings get the *same* backbone object, so a
``RewardSet`` holding both runs the image tower once per batch.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch

from rewards.images import to_pil_list

# Shared while some reward holds it, freed with the last one (e.g. after relabelling: ~1.7 GB for ViT-L/14 fp32)
_CACHE: weakref.WeakValueDictionary[tuple, OpenClipBackbone] = weakref.WeakValueDictionary()


class OpenClipBackbone:
    """CLIP image and text towers from open_clip, frozen, in eval mode.

    ``pretrained`` is an open_clip tag (``"openai"``), a local checkpoint file, or ``None`` for
    random weights (tests, speed measurements).
    """

    def __init__(
        self,
        model_name: str = "ViT-L-14",
        pretrained: str | None = "openai",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        import open_clip

        self.model_name, self.pretrained = model_name, pretrained
        self.device, self.dtype = torch.device(device), dtype
        model, _, self.preprocess = open_clip.create_model_and_transforms(
            model_name, pretrained=pretrained, device=self.device
        )
        self.model = model.to(dtype=dtype).eval().requires_grad_(False)
        self.tokenizer = open_clip.get_tokenizer(model_name)

    @property
    def embed_dim(self) -> int:
        """Width of the image/text embedding (768 for ViT-L/14)."""
        return int(self.model.visual.output_dim)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Any]) -> torch.Tensor:
        """Unnormalised image embeddings, float32 (N, D), on the backbone's device."""
        pixels = torch.stack([self.preprocess(im) for im in to_pil_list(images)])  # (N, 3, S, S)
        return self.model.encode_image(pixels.to(self.device, self.dtype)).float()

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Unnormalised text embeddings, float32 (N, D); texts longer than 77 tokens are truncated."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self.model.encode_text(tokens).float()


def load_backbone(
    model_name: str = "ViT-L-14",
    pretrained: str | None = "openai",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> OpenClipBackbone:
    """The shared backbone for these settings, built on first use."""
    key = (model_name, pretrained, str(torch.device(device)), dtype)
    backbone = _CACHE.get(key)
    if backbone is None:
        backbone = _CACHE[key] = OpenClipBackbone(model_name, pretrained, device, dtype)
    return backbone
