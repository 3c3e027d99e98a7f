"""Inference: a stock diffusers pipeline plus the reward condition, steered by a preference.

``RiCDiffusionPipeline.from_checkpoint(ckpt)(prompt, preference=[0.7, 0.3])`` maps the preference to
target rewards with a ``ric_core`` mapping and the checkpoint's statistics, builds the condition
(text tags or reward tokens) and hands ``prompt_embeds`` / ``negative_prompt_embeds`` to the stock
``StableDiffusionPipeline``: diffusers does the sampling.

Reward guidance: with ``reward_guidance_scale`` g_r different from ``guidance_scale`` g, the noise
estimate is eps_u + g (eps_text - eps_u) + g_r (eps_full - eps_text), where eps_text sees the caption
with a null reward condition. A thin UNet wrapper adds that third branch inside the stock loop.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ric_core.stats import RewardStats
from ric_diffusion.checkpoint import resolve_checkpoint
from ric_diffusion.conditioning import RewardConditioner
from ric_diffusion.config import DiffusionConfig
from ric_diffusion.models import Components, build_pipeline, load_components
from ric_diffusion.text_states import encode_texts
from ric_runtime.checkpoints import read_config
from ric_runtime.config import from_dict


@dataclass
class Condition:
    states: torch.Tensor  # (B, L(+K), D) encoder hidden states
    pooled: torch.Tensor | None = None  # (B, P): SDXL's pooled text embedding


@dataclass
class RiCOutput:
    images: list[Any]  # PIL images (or arrays, per output_type), num_images_per_prompt per prompt
    targets: np.ndarray  # (K,) normalised target rewards written into the condition ((B, K) if given per prompt)


class RewardGuidedUNet(nn.Module):
    """Wraps the UNet so the stock two-branch CFG yields three-branch reward guidance.

    The pipeline combines eps_u + g (pos - eps_u); returning pos = eps_t + (g_r / g)(eps_f - eps_t)
    gives eps_u + g (eps_t - eps_u) + g_r (eps_f - eps_t).
    """

    def __init__(
        self,
        unet: nn.Module,
        text_only_states: torch.Tensor,
        ratio: float,
        text_only_pooled: torch.Tensor | None = None,
    ):
        super().__init__()
        self.unet, self.text_only_states, self.ratio = unet, text_only_states, ratio
        self.text_only_pooled = text_only_pooled  # SDXL: the text-only branch's pooled embedding (B, P)

    def __getattr__(self, name: str) -> Any:  # the pipeline reads the UNet's config, dtype, add_embedding, ...
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.unet, name)

    @property
    def config(self) -> Any:
        return self.unet.config

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def device(self) -> torch.device:
        return self.unet.device

    def forward(self, sample: torch.Tensor, timestep: Any, encoder_hidden_states: torch.Tensor, **kwargs: Any):
        kwargs["return_dict"] = False
        eps_u, eps_f = self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, **kwargs)[0].chunk(2)
        added = kwargs.pop("added_cond_kwargs", None)
        if added is not None:  # SDXL: the conditional half of the ids, the text-only pooled embedding
            added = {k: v.chunk(2)[1] for k, v in added.items()}
            added["text_embeds"] = self.text_only_pooled
        branch = dict(encoder_hidden_states=self.text_only_states, added_cond_kwargs=added, **kwargs)
        eps_t = self.unet(sample.chunk(2)[1], timestep, **branch)[0]
        return (torch.cat([eps_u, eps_t + self.ratio * (eps_f - eps_t)]),)


class RewardGuidedTransformer(RewardGuidedUNet):
    """The same three-branch guidance for SD3's transformer (keyword call, per-row timesteps, pooled projection)."""

    def forward(self, hidden_states: torch.Tensor, timestep: Any, encoder_hidden_states: torch.Tensor, **kwargs: Any):
        kwargs["return_dict"] = False
        out = self.unet(
            hidden_states=hidden_states, timestep=timestep, encoder_hidden_states=encoder_hidden_states, **kwargs
        )
        eps_u, eps_f = out[0].chunk(2)
        kwargs["pooled_projections"] = self.text_only_pooled
        t = timestep.chunk(2)[1] if torch.is_tensor(timestep) and timestep.dim() else timestep
        eps_t = self.unet(
            hidden_states=hidden_states.chunk(2)[1], timestep=t, encoder_hidden_states=self.text_only_states, **kwargs
        )[0]
        return (torch.cat([eps_u, eps_t + self.ratio * (eps_f - eps_t)]),)


def check_sampling(
    prompts: list[str], steps: Any, g: float, gr: float, count: Any, seed: Any, height: Any, width: Any
) -> None:
    """Refuse, with the argument's name, what would otherwise give noise, black images or a cryptic error."""
    import math

    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError("every prompt must be a non-empty text")
    for name, value in (("num_inference_steps (--steps)", steps), ("num_images_per_prompt (--num-images)", count)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be a whole number >= 1; got {value}")
    for name, value in (("guidance_scale", g), ("reward_guidance_scale", gr)):
        if not (math.isfinite(value) and 0 <= value <= 100):
            raise ValueError(f"{name} must be a number in [0, 100] (1 = no guidance); got {value}")
    if gr != g and g <= 1:
        raise ValueError("reward_guidance_scale needs classifier-free guidance: set guidance_scale > 1")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")
    for name, value in (("height", height), ("width", width)):
        if value is not None and not (isinstance(value, int) and value >= 8 and value % 8 == 0):
            raise ValueError(f"{name} must be a multiple of 8 pixels (the VAE's factor); got {value}")


class RiCDiffusionPipeline:
    """A RiC checkpoint on its base model, generating images for a preference or explicit rewards.

    Example:
        >>> pipe = RiCDiffusionPipeline.from_checkpoint("runs/sd15-aes-jpeg")  # doctest: +SKIP
        >>> out = pipe("a lighthouse at dusk", preference=[0.7, 0.3], seed=0)  # doctest: +SKIP
        >>> out.images[0].save("lighthouse.png"); out.targets  # doctest: +SKIP
        array([2.9, 1.4])
    """

    def __init__(self, comps: Components, conditioner: RewardConditioner, stats: RewardStats, config: DiffusionConfig):
        self.comps, self.conditioner, self.stats, self.config = comps, conditioner, stats, config
        self.pipe = build_pipeline(comps)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        base_model: str | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        use_ema: bool = False,
    ) -> RiCDiffusionPipeline:
        ckpt = resolve_checkpoint(path)
        config = from_dict(DiffusionConfig, read_config(ckpt))
        if base_model:
            config.model = dataclasses.replace(config.model, pretrained=base_model)
        weights = ckpt / "ema" if use_ema else ckpt
        if use_ema and not weights.is_dir():
            raise FileNotFoundError(f"{ckpt} has no ema/ folder; it was trained with train.ema=false")
        stats = checked_stats(ckpt, config.rewards)  # before loading any model
        comps = load_components(config.model)
        conditioner = RewardConditioner.load(weights)
        if conditioner.num_rewards != stats.num_rewards:
            raise ValueError(
                f"{ckpt}: the conditioner takes {conditioner.num_rewards} rewards, the statistics name "
                f"{stats.num_rewards} ({list(stats.names)}); the checkpoint's files do not belong together"
            )
        self = cls(comps, conditioner, stats, config)
        self.pipe.load_lora_weights(str(weights))
        self.to(device, dtype)
        return self

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> RiCDiffusionPipeline:
        self.pipe.to(device)
        if dtype is not None and dtype != self.comps.unet.dtype:
            self.pipe.to(dtype=dtype)
        self.conditioner.to(device, dtype)
        return self

    @property
    def device(self) -> torch.device:
        return self.comps.unet.device

    @property
    def reward_names(self) -> tuple[str, ...]:
        return self.stats.names

    def targets(
        self,
        preference: Sequence[float] | None = None,
        rewards: Sequence[float] | None = None,
        mapping: str | None = None,
    ) -> np.ndarray:
        """Normalised targets (K,): ``rewards`` as given (or (B, K), one row per prompt), or ``preference``
        through the mapping."""
        return self.config.inference.targets(self.stats, preference, rewards, mapping)

    @torch.no_grad()
    def encode(self, prompts: Sequence[str], targets: np.ndarray) -> tuple[Condition, Condition, Condition]:
        """(full, text-only, unconditional) conditions: encoder states (B, L(+K), D), SDXL pooled (B, P)."""
        c = self.conditioner
        z = np.tile(targets, (len(prompts), 1)) if targets.ndim == 1 else targets
        if z.shape[0] != len(prompts):
            raise ValueError(f"got {z.shape[0]} rows of rewards for {len(prompts)} prompts; give one row per prompt")
        caption = encode_texts(self.comps, c, prompts)
        empty = encode_texts(self.comps, c, [""] * len(prompts))
        if c.strategy == "text":
            return Condition(*encode_texts(self.comps, c, prompts, z)), Condition(*caption), Condition(*empty)
        zt = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        return (
            Condition(c(caption[0], zt), caption[1]),
            Condition(c(caption[0], None), caption[1]),
            Condition(c(empty[0], None), empty[1]),
        )

    def __call__(
        self,
        prompt: str | Sequence[str],
        preference: Sequence[float] | None = None,
        rewards: Sequence[float] | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        reward_guidance_scale: float | None = None,
        num_images_per_prompt: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        mapping: str | None = None,
        height: int | None = None,
        width: int | None = None,
        output_type: str = "pil",
    ) -> RiCOutput:
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        inf = self.config.inference
        steps = num_inference_steps or inf.num_inference_steps
        g = inf.guidance_scale if guidance_scale is None else guidance_scale
        gr = g if reward_guidance_scale is None else reward_guidance_scale
        check_sampling(prompts, steps, g, gr, num_images_per_prompt, seed, height, width)
        if self.comps.is_flux:
            height, width = self._flux_size(g, gr, height, width)
        targets = self.targets(preference, rewards, mapping)
        full, text_only, uncond = self.encode(prompts, targets)
        dtype = self.comps.unet.dtype
        if generator is None and seed is not None:
            generator = torch.Generator(device="cpu").manual_seed(seed)
        pooled = {}
        if self.comps.pooled:  # SDXL and SD3 take pooled embeddings (SDXL builds its time ids from height/width)
            pooled = dict(
                pooled_prompt_embeds=full.pooled.to(dtype), negative_pooled_prompt_embeds=uncond.pooled.to(dtype)
            )
        kwargs = dict(
            **pooled,
            prompt_embeds=full.states.to(dtype),
            negative_prompt_embeds=uncond.states.to(dtype),
            num_inference_steps=steps,
            guidance_scale=g,
            num_images_per_prompt=num_images_per_prompt,
            generator=generator,
            height=height,
            width=width,
            output_type=output_type,
        )
        if gr == g:
            images = self.pipe(**kwargs).images
        else:
            images = self._reward_guided(kwargs, text_only, gr / g, num_images_per_prompt, dtype)
        return RiCOutput(images=list(images), targets=targets)

    def _flux_size(self, g: float, gr: float, height: int | None, width: int | None) -> tuple[int, int]:
        """FLUX: refuse reward guidance; default to the trained resolution (its pipeline's default is 1024)."""
        if gr != g:
            raise ValueError(
                "FLUX is guidance-distilled (guidance_scale is an input of one pass, not a second branch), so "
                "reward guidance has no text-only branch to contrast: leave reward_guidance_scale unset"
            )
        return height or self.config.data.resolution, width or self.config.data.resolution

    def _reward_guided(self, kwargs: dict, text_only: Condition, ratio: float, count: int, dtype: Any) -> list:
        """The stock loop with the denoiser wrapped for three-branch reward guidance (``ratio`` = g_r / g)."""
        states = text_only.states.repeat_interleave(count, dim=0).to(dtype)
        pool = None if text_only.pooled is None else text_only.pooled.repeat_interleave(count, 0).to(dtype)
        name = "transformer" if self.comps.is_sd3 else "unet"  # where the stock pipeline keeps its denoiser
        denoiser = getattr(self.pipe, name)
        wrapper = RewardGuidedTransformer if self.comps.is_sd3 else RewardGuidedUNet
        object.__setattr__(self.pipe, name, wrapper(denoiser, states, ratio, pool))
        try:
            return self.pipe(**kwargs).images
        finally:
            object.__setattr__(self.pipe, name, denoiser)


def checked_stats(ckpt: os.PathLike, rewards: list) -> RewardStats:
    """The checkpoint's statistics, refused when their names or order differ from its config's rewards (a
    swapped or edited reward_stats.json would mislabel every slider and measured value)."""
    from rewards import reward_names

    stats = RewardStats.load(os.path.join(ckpt, "reward_stats.json"))
    try:
        stats.check_names(reward_names(rewards))
    except ValueError as e:
        raise ValueError(f"{ckpt}: reward_stats.json does not match the checkpoint's config: {e}") from None
    return stats
