"""What the UNet is conditioned on, for SD 1.x/2.x and SDXL alike: text-encoder states, SDXL's pooled
embeddings and its size/crop ids, computed the way the stock diffusers pipelines compute them.

- SD: the text encoder's last hidden states (B, 77, 768 or 1024); no pooled embedding.
- SDXL: each encoder's penultimate hidden states, concatenated (B, 77, 768 + 1280 = 2048); the pooled
  embedding is the second encoder's projected output (B, 1280); ``add_time_ids`` are (original height,
  original width, crop top, crop left, target height, target width) per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ric_diffusion.conditioning import RewardConditioner
from ric_diffusion.models import Components


@torch.no_grad()
def encode_texts(
    comps: Components,
    conditioner: RewardConditioner,
    captions: Sequence[str],
    rewards: np.ndarray | None = None,
    batch_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Captions (with reward tags in the ``text`` strategy when ``rewards`` (B, K) are given) -> encoder states
    (B, 77, D) and pooled embeddings (B, P) or None. Tags fit inside each tokenizer's 77 tokens (caption cut)."""
    states, pooled = [], None
    for tok, enc in comps.text_pairs:
        ids = conditioner.token_ids(tok, captions, rewards)  # (B, 77) for this tokenizer (its own padding)
        parts, pools = [], []
        for i in range(0, len(ids), batch_size):
            out = enc(ids[i : i + batch_size].to(enc.device), output_hidden_states=comps.is_sdxl)
            parts.append(out.hidden_states[-2] if comps.is_sdxl else out[0])
            pools.append(out[0])  # SDXL's second encoder: the projected text_embeds (B, P)
        states.append(torch.cat(parts) if parts else torch.zeros(0))
        pooled = torch.cat(pools) if comps.is_sdxl and pools else None  # the last (second) encoder's
    return torch.cat(states, dim=-1), pooled


def time_ids(original_hw: tuple[int, int], resolution: int) -> list[int]:
    """SDXL's ``add_time_ids`` of an image resized (shorter side) and center-cropped to ``resolution``, as
    torchvision's Resize + CenterCrop do it: original size, crop top-left in resized pixels, target size.

    Example:
        >>> time_ids((600, 800), 512)  # resized to 512 x 682, crop starts 85 px from the left
        [600, 800, 0, 85, 512, 512]
    """
    h, w = original_hw
    short, long = (h, w) if h <= w else (w, h)
    new_long = int(resolution * long / short)
    new_h, new_w = (resolution, new_long) if h <= w else (new_long, resolution)
    top, left = int(round((new_h - resolution) / 2.0)), int(round((new_w - resolution) / 2.0))
    return [h, w, top, left, resolution, resolution]
