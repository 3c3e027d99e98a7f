"""What one training step computes besides the UNet: the condition rows of a micro-batch with guidance
dropout (SD and SDXL alike), and the denoising target of the scheduler's prediction type."""

from __future__ import annotations

from typing import Any

import torch

from ric_diffusion.latent_cache import TrainCache


def conditioning_rows(
    cache: TrainCache, ii: torch.Tensor, drop_all: torch.Tensor, drop_rew: torch.Tensor, tagged: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
    """Encoder states (B, 77, D) of a micro-batch with guidance dropout (all: the empty prompt; rewards: the
    caption without tags), and SDXL's added conditions with the same choice of pooled embedding."""

    def pick(caption: torch.Tensor, tags: torch.Tensor | None, empty: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (caption.dim() - 1)  # broadcast the (B,) masks over (B, 77, D) or (B, P)
        rows = torch.where(drop_rew.view(shape), caption, tags) if tagged else caption
        return torch.where(drop_all.view(shape), empty.expand_as(rows), rows)

    ci = cache.caption_index[ii]
    tags = cache.tagged_states[ii] if tagged else None
    states = pick(cache.caption_states[ci], tags, cache.empty_states)
    if cache.caption_pooled is None:
        return states, None
    tags = cache.tagged_pooled[ii] if tagged else None
    pooled = pick(cache.caption_pooled[ci], tags, cache.empty_pooled)
    return states, {"text_embeds": pooled, "time_ids": cache.time_ids[ii]}


def diffusion_target(sched: Any, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the UNet learns to predict, per the scheduler's ``prediction_type`` (SD 1.5: epsilon; SD 2:
    v_prediction; small pixel-space models: ``sample``, the clean image, which leaves no residual noise)."""
    kind = sched.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return sched.get_velocity(latents, noise, t)
    if kind == "sample":
        return latents
    raise ValueError(f"unsupported prediction_type {kind!r} in the scheduler config: epsilon, v_prediction or sample")
