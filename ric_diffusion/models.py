"""Stable Diffusion components: loading, the pixel-space stand-in VAE and LoRA.

Everything loads with the stock ``from_pretrained`` of diffusers/transformers; the LoRA is peft's,
added with ``unet.add_adapter`` and saved in the format ``StableDiffusionPipeline.load_lora_weights``
reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig, get_peft_model_state_dict
from transformers import CLIPTextModel, CLIPTokenizer

from ric_diffusion.config import LoraSection, ModelConfig

LORA_WEIGHTS = "pytorch_lora_weights.safetensors"


class _Passthrough:
    """Mimics ``AutoencoderKL``'s output objects: ``.latent_dist.sample()`` and ``.sample``."""

    def __init__(self, x: torch.Tensor):
        self.latent_dist, self.sample, self._x = self, x, x

    def mode(self) -> torch.Tensor:
        return self._x

    def __getitem__(self, i: int) -> torch.Tensor:
        return self._x


class IdentityVAE(ModelMixin, ConfigMixin):
    """The pixel-space "VAE": latents are the RGB image in [-1, 1], so the stock pipeline samples pixels."""

    @register_to_config
    def __init__(self, latent_channels: int = 3, scaling_factor: float = 1.0, block_out_channels: tuple = (3,)):
        super().__init__()
        # A parameter gives the module a device and dtype, as pipelines expect of a VAE.
        self.register_buffer("_anchor", torch.zeros(1), persistent=False)
        self.shift_factor = None

    def encode(self, x: torch.Tensor, return_dict: bool = True) -> Any:
        return _Passthrough(x) if return_dict else (_Passthrough(x),)

    def decode(self, z: torch.Tensor, return_dict: bool = True, generator: Any = None) -> Any:
        return _Passthrough(z) if return_dict else (z,)


@dataclass
class Components:
    # the denoiser: a UNet (SD 1.x/2.x, SDXL) or SD3's MMDiT transformer (the name stays: one code path)
    unet: UNet2DConditionModel | Any
    vae: AutoencoderKL | IdentityVAE
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    noise_scheduler: DDPMScheduler | Any  # SD3: FlowMatchEulerDiscreteScheduler
    # SDXL and SD3: the second (OpenCLIP bigG) encoder with its projection, whose pooled output is also taken
    text_encoder_2: Any = None
    tokenizer_2: Any = None
    # SD3: the T5 encoder, whose states follow the CLIP ones in the sequence joint attention sees; FLUX: its T5
    # (FLUX's folder calls it text_encoder_2), the whole sequence, beside CLIP-L's pooled output
    text_encoder_3: Any = None
    tokenizer_3: Any = None

    @property
    def is_sdxl(self) -> bool:
        return self.text_encoder_2 is not None and self.text_encoder_3 is None

    @property
    def is_flux(self) -> bool:
        return type(self.unet).__name__ == "FluxTransformer2DModel"

    @property
    def is_sd3(self) -> bool:
        return self.text_encoder_3 is not None and not self.is_flux

    @property
    def pooled(self) -> bool:
        """The denoiser takes a pooled text embedding besides the states (SDXL, SD3, FLUX)."""
        return self.text_encoder_2 is not None or self.is_flux

    @property
    def text_pairs(self) -> list[tuple[Any, Any]]:
        """(tokenizer, CLIP encoder) pairs whose states are concatenated (SDXL, SD3: two, 768 + 1280 = 2048 wide)."""
        pairs = [(self.tokenizer, self.text_encoder)]
        return pairs + [(self.tokenizer_2, self.text_encoder_2)] if self.text_encoder_2 is not None else pairs

    @property
    def text_dim(self) -> int:
        """The width of the states the denoiser reads (SD3: the joint-attention width, T5's)."""
        if self.text_encoder_3 is not None:  # SD3, FLUX
            return int(self.unet.config.joint_attention_dim)
        return sum(int(enc.config.hidden_size) for _, enc in self.text_pairs)

    @property
    def frozen(self) -> list[Any]:
        """Every frozen module (moved and cast together)."""
        t5 = [self.text_encoder_3] if self.text_encoder_3 is not None else []
        return [self.unet, self.vae, *(enc for _, enc in self.text_pairs), *t5]

    @property
    def vae_scale(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def vae_shift(self) -> float:
        """SD3's VAE shifts latents before scaling them: z = (x - shift) * scale."""
        return float(getattr(self.vae.config, "shift_factor", None) or 0.0)


# SD 1.x and 2.x (epsilon and v-prediction), SDXL (two text encoders, pooled embeddings, size/crop ids),
# SD3/3.5 (MMDiT transformer, two CLIP encoders + T5, rectified flow), FLUX.1 (CLIP pooled + T5, distilled guidance)
SUPPORTED_PIPELINES = (
    "StableDiffusionPipeline",
    "StableDiffusionXLPipeline",
    "StableDiffusion3Pipeline",
    "FluxPipeline",
)


def check_family(path: str, revision: str | None = None) -> str:
    """The pipeline class of a base model (``StableDiffusionPipeline`` when it has no ``model_index.json``: pixel
    space, or a hub id that cannot be read offline); a family this trainer does not handle (FLUX, ...) is
    refused before anything is loaded."""
    from diffusers import DiffusionPipeline

    p = Path(path).expanduser()
    if not p.exists() and (p.is_absolute() or str(path).startswith((".", "~")) or str(path).count("/") > 1):
        raise ValueError(f"{path}: no such folder (give a diffusers model folder, or a hub id such as org/name)")
    try:
        index = DiffusionPipeline.load_config(path, revision=revision)
    except (OSError, ValueError):
        return SUPPORTED_PIPELINES[0]
    family = index.get("_class_name") or SUPPORTED_PIPELINES[0]
    if family not in SUPPORTED_PIPELINES:
        raise ValueError(
            f"{path} is a {family}; ric_diffusion trains {', '.join(SUPPORTED_PIPELINES)} models (Stable "
            "Diffusion 1.x/2.x, SDXL, SD3/3.5 and FLUX.1) for now: point model.pretrained at one of those"
        )
    return family


def load_components(cfg: ModelConfig) -> Components:
    """Load UNet, VAE (or the identity in pixel space), text encoder, tokenizer and DDPM scheduler."""
    path, rev = cfg.pretrained, cfg.revision
    family = check_family(path, rev)
    if family == "StableDiffusion3Pipeline":
        return load_sd3_components(cfg)
    if family == "FluxPipeline":
        return load_flux_components(cfg)
    sdxl = family == "StableDiffusionXLPipeline"
    unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", revision=rev)
    vae = IdentityVAE() if cfg.pixel_space else AutoencoderKL.from_pretrained(path, subfolder="vae", revision=rev)
    text_encoder = CLIPTextModel.from_pretrained(path, subfolder="text_encoder", revision=rev)
    tokenizer = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer", revision=rev)
    scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler", revision=rev)
    if cfg.pixel_space and unet.config.in_channels != 3:
        raise ValueError(f"model.pixel_space needs a UNet with 3 input channels; {path} has {unet.config.in_channels}")
    second = {}
    if sdxl:
        from transformers import CLIPTextModelWithProjection

        second = {
            "text_encoder_2": CLIPTextModelWithProjection.from_pretrained(
                path, subfolder="text_encoder_2", revision=rev
            ).requires_grad_(False),
            "tokenizer_2": CLIPTokenizer.from_pretrained(path, subfolder="tokenizer_2", revision=rev),
        }
    for m in (vae, text_encoder):
        m.requires_grad_(False).eval()
    unet.requires_grad_(False)
    return Components(unet, vae, text_encoder, tokenizer, scheduler, **second)


def load_sd3_components(cfg: ModelConfig) -> Components:
    """SD3/3.5: the MMDiT transformer, the VAE, two CLIP encoders with projections, T5, the flow scheduler."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
    from transformers import AutoTokenizer, CLIPTextModelWithProjection, T5EncoderModel

    path, rev = cfg.pretrained, cfg.revision
    if cfg.pixel_space:
        raise ValueError("model.pixel_space is for small UNet worlds; an SD3 model has a VAE: set it to false")
    comps = Components(
        unet=SD3Transformer2DModel.from_pretrained(path, subfolder="transformer", revision=rev),
        vae=AutoencoderKL.from_pretrained(path, subfolder="vae", revision=rev),
        text_encoder=CLIPTextModelWithProjection.from_pretrained(path, subfolder="text_encoder", revision=rev),
        tokenizer=CLIPTokenizer.from_pretrained(path, subfolder="tokenizer", revision=rev),
        noise_scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(path, subfolder="scheduler", revision=rev),
        text_encoder_2=CLIPTextModelWithProjection.from_pretrained(path, subfolder="text_encoder_2", revision=rev),
        tokenizer_2=CLIPTokenizer.from_pretrained(path, subfolder="tokenizer_2", revision=rev),
        text_encoder_3=T5EncoderModel.from_pretrained(path, subfolder="text_encoder_3", revision=rev),
        tokenizer_3=AutoTokenizer.from_pretrained(path, subfolder="tokenizer_3", revision=rev),
    )
    return _freeze(comps)


def _freeze(comps: Components) -> Components:
    """Every part frozen; all but the denoiser in eval mode (the trainer sets the denoiser's mode)."""
    for m in comps.frozen:
        m.requires_grad_(False)
    for m in comps.frozen[1:]:
        m.eval()
    return comps


def load_flux_components(cfg: ModelConfig) -> Components:
    """FLUX.1: the transformer, the 16-channel VAE, CLIP-L (pooled only), T5 (the sequence), the flow scheduler."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import AutoTokenizer, T5EncoderModel

    path, rev = cfg.pretrained, cfg.revision
    if cfg.pixel_space:
        raise ValueError("model.pixel_space is for small UNet worlds; a FLUX model has a VAE: set it to false")
    comps = Components(
        unet=FluxTransformer2DModel.from_pretrained(path, subfolder="transformer", revision=rev),
        vae=AutoencoderKL.from_pretrained(path, subfolder="vae", revision=rev),
        text_encoder=CLIPTextModel.from_pretrained(path, subfolder="text_encoder", revision=rev),
        tokenizer=CLIPTokenizer.from_pretrained(path, subfolder="tokenizer", revision=rev),
        noise_scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(path, subfolder="scheduler", revision=rev),
        text_encoder_3=T5EncoderModel.from_pretrained(path, subfolder="text_encoder_2", revision=rev),
        tokenizer_3=AutoTokenizer.from_pretrained(path, subfolder="tokenizer_2", revision=rev),
    )
    return _freeze(comps)


def build_pipeline(comps: Components, scheduler: Any = None) -> Any:
    """A stock ``StableDiffusionPipeline`` (no safety checker), ``StableDiffusionXLPipeline``,
    ``StableDiffusion3Pipeline`` or ``FluxPipeline`` over these parts (flow models keep their flow scheduler,
    the others sample with DDIM)."""
    import diffusers

    flow = comps.is_sd3 or comps.is_flux
    base = diffusers.FlowMatchEulerDiscreteScheduler if flow else diffusers.DDIMScheduler
    sched = scheduler or base.from_config(comps.noise_scheduler.config)
    name, parts = _pipeline_parts(comps)
    pipe = getattr(diffusers, name)(scheduler=sched, vae=comps.vae, **parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _pipeline_parts(comps: Components) -> tuple[str, dict[str, Any]]:
    """The stock pipeline class of these parts and its keyword arguments (besides scheduler and VAE)."""
    clip = {"text_encoder": comps.text_encoder, "tokenizer": comps.tokenizer}
    second = {"text_encoder_2": comps.text_encoder_2, "tokenizer_2": comps.tokenizer_2}
    if comps.is_flux:  # FLUX's folder calls its T5 text_encoder_2
        t5 = {"text_encoder_2": comps.text_encoder_3, "tokenizer_2": comps.tokenizer_3}
        return "FluxPipeline", {**clip, **t5, "transformer": comps.unet}
    if comps.is_sd3:
        t5 = {"text_encoder_3": comps.text_encoder_3, "tokenizer_3": comps.tokenizer_3}
        return "StableDiffusion3Pipeline", {**clip, **second, **t5, "transformer": comps.unet}
    if comps.is_sdxl:
        return "StableDiffusionXLPipeline", {**clip, **second, "unet": comps.unet}
    no_checker = {"safety_checker": None, "feature_extractor": None, "image_encoder": None}
    return "StableDiffusionPipeline", {**clip, "unet": comps.unet, **no_checker, "requires_safety_checker": False}


def add_lora(unet: UNet2DConditionModel, cfg: LoraSection) -> list[torch.nn.Parameter]:
    """Add a peft LoRA adapter to the frozen UNet (diffusers' recipe); returns its trainable parameters."""
    unet.add_adapter(
        LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, init_lora_weights="gaussian", target_modules=cfg.target_modules)
    )
    params = [p for p in unet.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"LoRA matched no UNet modules for target_modules={cfg.target_modules}")
    return params


def lora_state_dict(unet: UNet2DConditionModel) -> dict[str, torch.Tensor]:
    """The adapter in diffusers' key format (``unet.``/``transformer.`` prefix added by save_lora_weights)."""
    return convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))


def is_transformer(denoiser: Any) -> bool:
    return type(denoiser).__name__ in ("SD3Transformer2DModel", "FluxTransformer2DModel")


def save_lora(unet: UNet2DConditionModel, out_dir: str | os.PathLike) -> Path:
    """Write ``pytorch_lora_weights.safetensors``, loadable by the stock pipeline's ``load_lora_weights(out_dir)``."""
    state = {k: v.detach().float().cpu().contiguous() for k, v in lora_state_dict(unet).items()}
    if is_transformer(unet):
        from diffusers import FluxPipeline, StableDiffusion3Pipeline

        pipeline = FluxPipeline if type(unet).__name__ == "FluxTransformer2DModel" else StableDiffusion3Pipeline
        pipeline.save_lora_weights(out_dir, transformer_lora_layers=state, safe_serialization=True)
    else:
        StableDiffusionPipeline.save_lora_weights(out_dir, unet_lora_layers=state, safe_serialization=True)
    return Path(out_dir) / LORA_WEIGHTS


def load_lora_into(unet: UNet2DConditionModel, ckpt_dir: str | os.PathLike) -> None:
    """Copy a saved adapter's weights into a UNet that already has the same adapter (resume)."""
    from diffusers.utils import convert_unet_state_dict_to_peft
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    prefix = "transformer." if is_transformer(unet) else "unet."
    state = load_file(Path(ckpt_dir) / LORA_WEIGHTS)
    state = convert_unet_state_dict_to_peft({k.removeprefix(prefix): v for k, v in state.items()})
    result = set_peft_model_state_dict(unet, state)
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"{ckpt_dir}: LoRA keys do not match this UNet: {result.unexpected_keys[:5]}")


FLUX_TRAIN_GUIDANCE = 3.5  # FLUX.1-dev's distilled guidance input while training (diffusers' LoRA recipe default)


def flux_forward(
    transformer: Any, x: torch.Tensor, t: torch.Tensor, states: torch.Tensor, pooled: torch.Tensor
) -> torch.Tensor:
    """FLUX's prediction for latents ``x`` (B, C, h, w) at timesteps ``t`` (0..1000): packed into 2x2 patches
    with their position ids and unpacked back by ``FluxPipeline``'s own helpers; text ids are zeros."""
    from diffusers import FluxPipeline

    b, c, h, w = x.shape
    packed = FluxPipeline._pack_latents(x, b, c, h, w)  # (B, h/2 * w/2, 4C)
    img_ids = FluxPipeline._prepare_latent_image_ids(b, h // 2, w // 2, x.device, x.dtype)
    txt_ids = torch.zeros(states.shape[1], 3, device=x.device, dtype=x.dtype)
    guidance = None
    if transformer.config.guidance_embeds:
        guidance = torch.full((b,), FLUX_TRAIN_GUIDANCE, device=x.device, dtype=torch.float32)
    out = transformer(
        hidden_states=packed,
        timestep=t.to(x.dtype) / 1000,
        guidance=guidance,
        pooled_projections=pooled,
        encoder_hidden_states=states,
        txt_ids=txt_ids,
        img_ids=img_ids,
        return_dict=False,
    )[0]
    return FluxPipeline._unpack_latents(out, h, w, 1)  # (B, C, h, w): the latents' own size, no VAE factor
