"""What one training step computes besides the denoiser: the condition rows of a micro-batch with guidance
dropout (SD, SDXL and SD3 alike), the noisy input and the target (the scheduler's prediction type, or
rectified flow for SD3)."""

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
    if cache.time_ids is None:  # SD3: the pooled projection only
        return states, {"pooled_projections": pooled}
    return states, {"text_embeds": pooled, "time_ids": cache.time_ids[ii]}


def is_flow(sched: Any) -> bool:
    """A rectified-flow scheduler (SD3): x_t = (1 - sigma) x_0 + sigma e, the model predicts e - x_0."""
    return type(sched).__name__ == "FlowMatchEulerDiscreteScheduler"


def noisy_input(
    sched: Any, latents: torch.Tensor, noise: torch.Tensor, gen: torch.Generator, g: int, mine: slice
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noisy input, timesteps, target) of a micro-batch; ``g`` rows are drawn for the global batch and this
    rank keeps ``mine``. DDPM-family: uniform timesteps, the scheduler's ``add_noise``. Flow: SD3's logit-normal
    timestep density (diffusers' ``compute_density_for_timestep_sampling``), sigmas from the scheduler's table."""
    if not is_flow(sched):
        t = torch.randint(0, sched.config.num_train_timesteps, (g,), generator=gen)[mine]
        return sched.add_noise(latents, noise, t), t, diffusion_target(sched, latents, noise, t)
    from diffusers.training_utils import compute_density_for_timestep_sampling

    u = compute_density_for_timestep_sampling("logit_normal", g, logit_mean=0.0, logit_std=1.0, generator=gen)[mine]
    idx = (u * sched.config.num_train_timesteps).long().clamp_max(len(sched.timesteps) - 1)
    sigma = sched.sigmas[idx].view(-1, *([1] * (latents.dim() - 1)))  # (B, 1, 1, 1)
    return (1.0 - sigma) * latents + sigma * noise, sched.timesteps[idx], noise - latents


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
