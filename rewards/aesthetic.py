"""The LAION "improved aesthetic predictor": an MLP on the L2-normalised CLIP ViT-L/14 image embedding.

The head (768 -> 1024 -> 128 -> 64 -> 16 -> 1, dropouts, no nonlinearities) loads the real weight file
``sac+logos+ava1-l14-linearMSE.pth``: a torch state dict with keys ``layers.{0,2,4,6,7}.{weight,bias}``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rewards.base import IMAGE_INPUTS, SharedFeatureReward
from rewards.clip_backbone import OpenClipBackbone, load_backbone

DEFAULT_REPO = "camenduru/improved-aesthetic-predictor"
DEFAULT_FILENAME = "sac+logos+ava1-l14-linearMSE.pth"


class AestheticMLP(nn.Module):
    """The predictor head; module indices match the released state dict."""

    def __init__(self, input_size: int = 768):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_size, 1024),
            nn.Dropout(0.2),
            nn.Linear(1024, 128),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:  # (N, D) -> (N,)
        return self.layers(embeddings).squeeze(-1)


def resolve_weights(
    weights: str | os.PathLike | None, repo_id: str | None, filename: str, what: str = "aesthetic head"
) -> Path:
    """A local weight file: ``weights`` if it exists, else ``filename`` from the Hugging Face ``repo_id``."""
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"{what} weights not found at {path}; pass an existing weight file")
        return path
    if repo_id is None:
        raise ValueError(f"give the {what} weights as weights=PATH or repo_id= and filename=")
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id, filename))


def load_aesthetic_head(path: str | os.PathLike, input_size: int) -> AestheticMLP:
    """Load the head from a ``.pth`` state dict (``weights_only=True``) or ``.safetensors`` file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    head = AestheticMLP(input_size)
    expected = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        diff = {
            k: (expected.get(k), got.get(k)) for k in sorted(set(expected) | set(got)) if expected.get(k) != got.get(k)
        }
        raise ValueError(
            f"{path} is not an aesthetic head for a {input_size}-wide CLIP embedding: "
            f"(expected shape, file shape) differ for {diff}. Use the weights that match the CLIP backbone "
            "(sac+logos+ava1-l14-linearMSE.pth is for ViT-L-14)"
        )
    head.load_state_dict(state)
    return head.eval().requires_grad_(False)


class AestheticReward(SharedFeatureReward):
    """LAION aesthetic score (roughly 1-10) of each image.

    Example (real weights, downloaded once):
        >>> r = AestheticReward()  # doctest: +SKIP
        >>> r(images=[pil_image])  # doctest: +SKIP
        array([5.9], dtype=float32)
    """

    name = "aesthetic"
    inputs = IMAGE_INPUTS

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        repo_id: str | None = DEFAULT_REPO,
        filename: str = DEFAULT_FILENAME,
        clip_model: str = "ViT-L-14",
        clip_pretrained: str | None = "openai",
        clip_quick_gelu: bool | None = None,  # None: from the tag (openai: QuickGELU); set it for a local file
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        batch_size: int = 32,
        backbone: OpenClipBackbone | None = None,
    ):
        self.backbone = backbone or load_backbone(clip_model, clip_pretrained, device, dtype, clip_quick_gelu)
        path = resolve_weights(weights, repo_id, filename)
        self.head = load_aesthetic_head(path, self.backbone.embed_dim).to(self.backbone.device)
        self.batch_size = batch_size

    @torch.no_grad()
    def score_features(self, image_features: torch.Tensor, **_: Any) -> np.ndarray:
        # The predictor was trained on unit-norm CLIP embeddings: normalise before the head.
        unit = image_features / image_features.norm(dim=-1, keepdim=True)
        return self.head(unit).float().cpu().numpy()
