"""The real SD 1.5, SDXL and SD 3.5 Medium architectures, built from their published configs with random weights:
honest speed and memory figures, and slow tests at real sizes, without downloading anything.

The configs are those of ``stable-diffusion-v1-5`` (UNet 860M, CLIP ViT-L text encoder 123M, VAE 84M),
``stable-diffusion-xl-base-1.0`` (UNet 2.6B, CLIP ViT-L 123M + OpenCLIP bigG 695M text encoders, VAE 84M) and
``stable-diffusion-3.5-medium`` (MMDiT-X 2.2B, CLIP-L + CLIP-G with projections, T5-XXL encoder 4.8B, 16-channel
VAE 84M).
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from ric_diffusion.models import Components
from ric_diffusion.tiny import build_clip_tokenizer

CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12)
CLIP_BIGG = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32)


def _vae(scaling_factor: float) -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        scaling_factor=scaling_factor,
    )


def _scheduler() -> DDPMScheduler:
    return DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def sd15_components() -> Components:
    """SD 1.5's UNet (diffusers' defaults with 768-wide cross-attention), VAE and CLIP ViT-L text encoder."""
    unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8, sample_size=64)
    te = CLIPTextModel(CLIPTextConfig(**CLIP_L, hidden_act="quick_gelu"))
    return _frozen(Components(unet, _vae(0.18215), te, build_clip_tokenizer(), _scheduler()))


def sdxl_unet_config() -> dict[str, Any]:
    """``stable-diffusion-xl-base-1.0/unet/config.json``."""
    return dict(
        sample_size=128,
        block_out_channels=(320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10),
        attention_head_dim=(5, 10, 20),
        cross_attention_dim=2048,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,  # 1280 pooled + 6 ids x 256
        use_linear_projection=True,
        layers_per_block=2,
    )


def sdxl_components() -> Components:
    """SDXL base 1.0: its UNet, VAE (scaling 0.13025) and both text encoders (the second with projection)."""
    unet = UNet2DConditionModel(**sdxl_unet_config())
    te = CLIPTextModel(CLIPTextConfig(**CLIP_L, hidden_act="quick_gelu"))
    te2 = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIGG, projection_dim=1280, hidden_act="gelu"))
    comps = Components(
        unet, _vae(0.13025), te, build_clip_tokenizer(), _scheduler(), te2, build_clip_tokenizer(pad_token="!")
    )
    return _frozen(comps)


def sd35_medium_transformer_config() -> dict[str, Any]:
    """``stable-diffusion-3.5-medium/transformer/config.json`` (MMDiT-X: dual attention in the first 13 blocks)."""
    return dict(
        sample_size=128,
        patch_size=2,
        in_channels=16,
        out_channels=16,
        num_layers=24,
        attention_head_dim=64,
        num_attention_heads=24,
        joint_attention_dim=4096,
        caption_projection_dim=1536,
        pooled_projection_dim=2048,
        pos_embed_max_size=384,
        dual_attention_layers=tuple(range(13)),
        qk_norm="rms_norm",
    )


def sd35_medium_components() -> Components:
    """SD 3.5 Medium: its transformer, 16-channel VAE (scale 1.5305, shift 0.0609), CLIP-L and CLIP-G with
    projections (pooled 768 + 1280) and T5-XXL (4096 wide); the flow scheduler with shift 3."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
    from transformers import T5Config, T5EncoderModel

    from ric_diffusion.tiny import build_t5_tokenizer

    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=16,
        layers_per_block=2,
        scaling_factor=1.5305,
        shift_factor=0.0609,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    t5 = T5Config(
        vocab_size=32128, d_model=4096, d_ff=10240, d_kv=64, num_layers=24, num_heads=64, feed_forward_proj="gated-gelu"
    )
    comps = Components(
        unet=SD3Transformer2DModel(**sd35_medium_transformer_config()),
        vae=vae,
        text_encoder=CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_L, projection_dim=768, hidden_act="quick_gelu")),
        tokenizer=build_clip_tokenizer(),
        noise_scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIGG, projection_dim=1280, hidden_act="gelu")),
        tokenizer_2=build_clip_tokenizer(pad_token="!"),
        text_encoder_3=T5EncoderModel(t5),
        tokenizer_3=build_t5_tokenizer(),
    )
    return _frozen(comps)


def _frozen(comps: Components) -> Components:
    for m in comps.frozen:
        m.requires_grad_(False).eval()
    return comps


def parameter_counts(comps: Components) -> dict[str, int]:
    """Parameters of each part (for the memory table)."""
    parts = {"unet": comps.unet, "vae": comps.vae, "text_encoder": comps.text_encoder}
    if comps.pooled:
        parts["text_encoder_2"] = comps.text_encoder_2
    if comps.is_sd3:
        parts["text_encoder_3"] = comps.text_encoder_3
    return {k: sum(p.numel() for p in m.parameters()) for k, m in parts.items()}


def on_meta(build: Any) -> Components:
    """Build on the meta device: shapes and counts without allocating (seconds, no memory)."""
    with torch.device("meta"):
        return build()
