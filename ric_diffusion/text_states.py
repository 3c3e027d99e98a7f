"""What the denoiser is conditioned on, for SD 1.x/2.x, SDXL and SD3 alike: text-encoder states, pooled
embeddings and SDXL's size/crop ids, computed the way the stock diffusers pipelines compute them.

- SD: the text encoder's last hidden states (B, 77, 768 or 1024); no pooled embedding.
- SDXL: each encoder's penultimate hidden states, concatenated (B, 77, 768 + 1280 = 2048); the pooled
  embedding is the second encoder's projected output (B, 1280); ``add_time_ids`` are (original height,
  original width, crop top, crop left, target height, target width) per image.
- SD3: the two CLIP encoders' penultimate states side by side, zero-padded to T5's width, then T5's states:
  (B, 77 + 256, 4096); the pooled embedding is both projections side by side (B, 768 + 1280).
- FLUX: T5's states (B, 512, 4096); the pooled embedding is CLIP-L's pooler output (B, 768).
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
    (B, L, D) and pooled embeddings (B, P) or None. Tags fit inside each CLIP tokenizer's 77 tokens (caption cut)."""
    if comps.is_flux:  # FLUX: T5's states are the sequence; CLIP-L gives only the pooled embedding
        ids = conditioner.token_ids(comps.tokenizer, captions, rewards)
        enc = comps.text_encoder
        pooled = torch.cat(
            [enc(ids[i : i + batch_size].to(enc.device)).pooler_output for i in range(0, len(ids), batch_size)]
        )
        return t5_states(comps, conditioner, captions, rewards, batch_size, FLUX_T5_TOKENS), pooled
    states, pools = [], []
    for tok, enc in comps.text_pairs:
        ids = conditioner.token_ids(tok, captions, rewards)  # (B, 77) for this tokenizer (its own padding)
        parts, pooled = [], []
        for i in range(0, len(ids), batch_size):
            out = enc(ids[i : i + batch_size].to(enc.device), output_hidden_states=comps.pooled)
            parts.append(out.hidden_states[-2] if comps.pooled else out[0])
            pooled.append(out[0])  # an encoder with a projection: its text_embeds (B, P)
        states.append(torch.cat(parts) if parts else torch.zeros(0))
        pools.append(torch.cat(pooled) if pooled else torch.zeros(0))
    if comps.is_sd3:
        t5 = t5_states(comps, conditioner, captions, rewards, batch_size)  # (B, T, D5)
        clip = torch.cat(states, dim=-1)
        clip = torch.nn.functional.pad(clip, (0, t5.shape[-1] - clip.shape[-1]))
        return torch.cat([clip, t5.to(clip.dtype)], dim=-2), torch.cat(pools, dim=-1)
    return torch.cat(states, dim=-1), pools[-1] if comps.is_sdxl else None  # SDXL: the second encoder's


T5_TOKENS = 256  # SD3's max_sequence_length (the stock pipeline's default): cached and sampled alike
FLUX_T5_TOKENS = 512  # FluxPipeline's default max_sequence_length


def t5_states(
    comps: Components,
    conditioner: RewardConditioner,
    captions: Sequence[str],
    rewards: np.ndarray | None,
    bs: int,
    length: int = T5_TOKENS,
) -> torch.Tensor:
    """T5 states (B, length, D5); in the ``text`` strategy the tags follow the caption (the tokens hold both)."""
    from ric_core.tags import format_tags

    texts = list(captions)
    if conditioner.strategy == "text" and rewards is not None:
        texts = [f"{c} {format_tags(z, conditioner.cfg.tag_template)}" for c, z in zip(texts, rewards, strict=True)]
    enc = comps.text_encoder_3
    ids = comps.tokenizer_3(
        texts, padding="max_length", max_length=length, truncation=True, add_special_tokens=True, return_tensors="pt"
    ).input_ids
    return torch.cat([enc(ids[i : i + bs].to(enc.device))[0] for i in range(0, len(ids), bs)])


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
