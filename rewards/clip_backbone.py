"""An open_clip image/text backbone, loaded once per (model, weights, device, dtype) and shared.

``aesthetic`` and ``clip_score`` built with the same settings get the *same* backbone object, so a
``RewardSet`` holding both runs the image tower once per batch.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from rewards.images import to_pil_list

# Shared while some reward holds it, freed with the last one (e.g. after relabelling: ~1.7 GB for ViT-L/14 fp32)
_CACHE: weakref.WeakValueDictionary[tuple, OpenClipBackbone] = weakref.WeakValueDictionary()


def uses_quick_gelu(model_name: str, pretrained: str | None, quick_gelu: bool | None = None) -> bool:
    """Whether the weights were trained with QuickGELU (OpenAI's CLIP) rather than GELU (LAION's, HPS).

    open_clip 3.x builds ``ViT-L-14`` with GELU and only warns when the ``openai`` weights need QuickGELU;
    the LAION aesthetic predictor, ddpo-pytorch and the RiC code all run OpenAI's CLIP with QuickGELU. A
    tag says which it needs; a local file cannot, so ``quick_gelu`` decides (True for OpenAI's weights).

    Example:
        >>> uses_quick_gelu("ViT-L-14", "openai"), uses_quick_gelu("ViT-H-14", "laion2b_s32b_b79k")
        (True, False)
    """
    import open_clip

    if quick_gelu is not None:
        return quick_gelu
    if model_name.endswith("-quickgelu"):
        return True
    if pretrained and not os.path.isfile(pretrained):
        return bool(open_clip.get_pretrained_cfg(model_name, pretrained).get("quick_gelu", False))
    return False


class OpenClipBackbone:
    """CLIP image and text towers from open_clip, frozen, in eval mode.

    ``pretrained`` is an open_clip tag (``"openai"``), a local checkpoint file, or ``None`` for
    random weights (tests, speed measurements); ``quick_gelu`` as in :func:`uses_quick_gelu`.
    """

    def __init__(
        self,
        model_name: str = "ViT-L-14",
        pretrained: str | None = "openai",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        quick_gelu: bool | None = None,
    ):
        import open_clip

        self.model_name, self.pretrained = model_name, pretrained
        self.device, self.dtype = torch.device(device), dtype
        self.quick_gelu = uses_quick_gelu(model_name, pretrained, quick_gelu)
        model, _, self.preprocess = open_clip.create_model_and_transforms(
            model_name, pretrained=pretrained, device=self.device, force_quick_gelu=self.quick_gelu
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
    quick_gelu: bool | None = None,
) -> OpenClipBackbone:
    """The shared backbone for these settings, built on first use."""
    quick = uses_quick_gelu(model_name, pretrained, quick_gelu)
    key = (model_name, pretrained, str(torch.device(device)), dtype, quick)
    backbone = _CACHE.get(key)
    if backbone is None:
        backbone = _CACHE[key] = OpenClipBackbone(model_name, pretrained, device, dtype, quick)
    return backbone
