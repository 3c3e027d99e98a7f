"""HPSv2.1 (Human Preference Score v2.1): an OpenCLIP ViT-H-14 fine-tuned on human preferences.

The released file ``HPS_v2.1_compressed.pt`` is a torch checkpoint ``{"state_dict": {...}}`` of open_clip's
``ViT-H-14`` (LAION weights: GELU, not QuickGELU); the score is the cosine of the image and prompt
embeddings, as the reference ``hpsv2.score`` computes it (``diag(image_features @ text_features.T)`` on
unit-norm features, no logit scale): about 0.2-0.35 for typical images.
"""

from __future__ import annotations

import os

import torch

from rewards.aesthetic import resolve_weights
from rewards.clip_backbone import OpenClipBackbone
from rewards.clip_score import ClipScore

DEFAULT_REPO = "xswu/HPSv2"
DEFAULT_FILENAME = "HPS_v2.1_compressed.pt"


class HPSv2(ClipScore):
    """HPSv2.1 of (image, prompt) pairs.

    Example:
        >>> r = HPSv2()  # doctest: +SKIP
        >>> r(images=[img], prompts=["a cat"])  # doctest: +SKIP
        array([0.27], dtype=float32)
    """

    name = "hpsv2"

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        repo_id: str | None = DEFAULT_REPO,
        filename: str = DEFAULT_FILENAME,
        clip_model: str = "ViT-H-14",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        batch_size: int = 32,
        backbone: OpenClipBackbone | None = None,
    ):
        path = resolve_weights(weights, repo_id, filename, what="HPSv2")
        super().__init__(
            clip_model=clip_model,
            clip_pretrained=str(path),
            clip_quick_gelu=False,  # trained from LAION's ViT-H-14
            scale=1.0,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            backbone=backbone,
        )
