"""Tiny Stable Diffusion folders (random weights, real formats) for tests, benchmarks and the demo worlds,
and the real OpenAI-CLIP tokenizer they use, built offline.

Stable Diffusion's text encoder and transformers CLIP processors need a ``CLIPTokenizer``; without a
model hub we rebuild the exact one (49,408 ids, same merges as OpenAI's) from
``open_clip/bpe_simple_vocab_16e6.txt.gz``, and can save it for ``from_pretrained``.
"""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from ric_diffusion.models import Components, build_pipeline

CLIP_NUM_MERGES = 49152 - 256 - 2  # OpenAI CLIP keeps the first 48,894 merges of the file


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's byte -> printable-character table, in CLIP's vocabulary order (printable first)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The CLIP vocabulary (token -> id) and BPE merges, read from open_clip's bundled file."""
    import open_clip

    bpe_path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe_path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : CLIP_NUM_MERGES + 1]]
    chars = _bytes_to_unicode()
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def build_clip_tokenizer(
    save_dir: str | os.PathLike | None = None, model_max_length: int = 77, pad_token: str = "<|endoftext|>"
):
    """A transformers ``CLIPTokenizer`` identical to OpenAI CLIP's, optionally saved to ``save_dir``.

    Example:
        >>> tok = build_clip_tokenizer()
        >>> len(tok), tok("a photo of a cat").input_ids[:2]
        (49408, [49406, 320])
    """
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    tok = CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=model_max_length, pad_token=pad_token)
    if save_dir is not None:
        tok.save_pretrained(save_dir)
    return tok


def make_tiny_sd(
    out_dir: str | os.PathLike,
    pixel_space: bool = False,
    sample_size: int = 16,
    seed: int = 0,
    beta_schedule: str = "scaled_linear",
    model_max_length: int = 77,
    prediction_type: str = "epsilon",
) -> Path:
    """Save a tiny Stable Diffusion folder (random weights, real formats) for tests and small worlds.

    Latent space: 32x32 images through a tiny VAE (16x16 latents). Pixel space: a 3-channel UNet on
    ``sample_size`` pixels and no VAE folder. The tokenizer is OpenAI CLIP's, rebuilt offline;
    ``model_max_length`` below 77 shortens every caption (cheaper cross-attention for short captions).
    """
    torch.manual_seed(seed)
    out = Path(out_dir)
    unet, text_encoder = _tiny_unet(3 if pixel_space else 4, sample_size), _tiny_text_encoder()
    scheduler = _scheduler(pixel_space, beta_schedule, prediction_type)
    tokenizer = build_clip_tokenizer(model_max_length=model_max_length)
    if pixel_space:  # no VAE: save the parts; load_components() puts the IdentityVAE in
        for name, part in (("unet", unet), ("text_encoder", text_encoder), ("tokenizer", tokenizer)):
            part.save_pretrained(out / name)
        scheduler.save_pretrained(out / "scheduler")
        return out
    comps = Components(unet, _tiny_vae(), text_encoder, tokenizer, scheduler)
    build_pipeline(comps, scheduler).save_pretrained(out)  # model_index.json: a plain diffusers folder
    return out


def make_tiny_sdxl(out_dir: str | os.PathLike, sample_size: int = 16, seed: int = 0) -> Path:
    """Save a tiny SDXL folder (``StableDiffusionXLPipeline``'s layout, random weights): two CLIP text encoders
    (32 wide each; the second with a 32-d projection, its pooled output), a UNet with SDXL's ``text_time``
    added conditioning on 64-wide states, the tokenizer_2 padding with "!" as SDXL's does."""
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        norm_num_groups=8,
        attention_head_dim=4,
        cross_attention_dim=64,  # 32 + 32: the two encoders' states side by side
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=32 + 6 * 8,  # pooled (32) + six time ids x 8
        use_linear_projection=True,
    )
    cfg = _tiny_text_encoder().config
    second = CLIPTextModelWithProjection(type(cfg)(**{**cfg.to_dict(), "projection_dim": 32}))
    pipe = StableDiffusionXLPipeline(
        vae=_tiny_vae(),
        text_encoder=_tiny_text_encoder(),
        text_encoder_2=second,
        tokenizer=build_clip_tokenizer(),
        tokenizer_2=build_clip_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=_scheduler(False, "scaled_linear", "epsilon"),
    )
    pipe.save_pretrained(out_dir)
    return Path(out_dir)


T5_WORDS = (  # noqa: SIM905 (a word list, easier read as text)
    "a an the photo picture of on in with and red blue green yellow cyan magenta white black grey square circle "
    "cross cat dog lighthouse at dusk background small large bright dark"
).split()


def build_t5_tokenizer(save_dir: str | os.PathLike | None = None, vocab_size: int = 160):
    """A small T5-style tokenizer (SentencePiece-like Unigram with ``</s>`` appended, ``<pad>`` 0), trained
    here with ``tokenizers`` on a few caption words (T5's own needs the hub); saved for ``from_pretrained``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import T5TokenizerFast

    tk = Tokenizer(models.Unigram())
    tk.normalizer, tk.pre_tokenizer, tk.decoder = normalizers.NFKC(), pre_tokenizers.Metaspace(), decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tk.train_from_iterator([" ".join(T5_WORDS)] * 20 + T5_WORDS + list("0123456789.-<>_"), trainer)
    tk.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", tk.token_to_id("</s>"))])
    tok = T5TokenizerFast(tokenizer_object=tk, eos_token="</s>", pad_token="<pad>", unk_token="<unk>", extra_ids=0)
    if save_dir is not None:
        tok.save_pretrained(save_dir)
    return tok


def _tiny_t5() -> tuple:
    """The local T5 tokenizer and a 2-layer T5 encoder (64 wide) over its vocabulary."""
    from transformers import T5Config, T5EncoderModel

    tok = build_t5_tokenizer()
    cfg = T5Config(
        vocab_size=len(tok), d_model=64, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8
    )
    return tok, T5EncoderModel(cfg)


def make_tiny_sd3(out_dir: str | os.PathLike, sample_size: int = 8, seed: int = 0) -> Path:
    """Save a tiny SD3 folder (``StableDiffusion3Pipeline``'s layout, random weights): a 2-layer MMDiT on
    64-wide joint attention, two CLIP encoders (32 wide, 32-d projections: pooled 64), a 2-layer T5 (64 wide),
    a 4-channel VAE with SD3's shift, and the flow-matching scheduler (shift 3, as SD3's)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    clip_cfg = _tiny_text_encoder().config
    clips = [CLIPTextModelWithProjection(type(clip_cfg)(**{**clip_cfg.to_dict(), "projection_dim": 32})) for _ in "ab"]
    tok3, t5 = _tiny_t5()
    transformer = SD3Transformer2DModel(
        sample_size=sample_size,
        patch_size=2,
        in_channels=4,
        out_channels=4,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=64,
        caption_projection_dim=16,
        pooled_projection_dim=64,
        pos_embed_max_size=16,
    )
    vae = _tiny_vae()
    vae.register_to_config(shift_factor=0.1, scaling_factor=1.5)
    pipe = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=vae,
        text_encoder=clips[0],
        tokenizer=build_clip_tokenizer(),
        text_encoder_2=clips[1],
        tokenizer_2=build_clip_tokenizer(pad_token="!"),
        text_encoder_3=t5,
        tokenizer_3=tok3,
    )
    pipe.save_pretrained(out_dir)
    return Path(out_dir)


def make_tiny_flux(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Save a tiny FLUX.1 folder (``FluxPipeline``'s layout, random weights): a 1+1-block transformer with
    guidance embedding (FLUX.1-dev's distillation input) on 64-wide T5 states and CLIP-L's 32-wide pooled output,
    a 4-channel VAE (packed 2x2: 16 channels in), and the flow scheduler."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(seed)
    tok3, t5 = _tiny_t5()
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=16,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=64,
        pooled_projection_dim=32,
        guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),
    )
    vae = _tiny_vae()
    vae.register_to_config(shift_factor=0.1159, scaling_factor=0.3611)
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=vae,
        text_encoder=_tiny_text_encoder(),
        tokenizer=build_clip_tokenizer(),
        text_encoder_2=t5,
        tokenizer_2=tok3,
        transformer=transformer,
    )
    pipe.save_pretrained(out_dir)
    return Path(out_dir)


def _tiny_vae() -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
    )


def _scheduler(pixel_space: bool, beta_schedule: str, prediction_type: str) -> DDIMScheduler:
    return DDIMScheduler(
        beta_schedule=beta_schedule,
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=pixel_space,
        steps_offset=1,
        prediction_type=prediction_type,
    )


def _tiny_unet(channels: int, sample_size: int) -> UNet2DConditionModel:
    """Two blocks (32, 64 channels), cross-attention on 32-wide text states."""
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=(32, 64),
        layers_per_block=1,
        norm_num_groups=8,
        attention_head_dim=4,
        cross_attention_dim=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )


def _tiny_text_encoder() -> CLIPTextModel:
    """A 2-layer CLIP text encoder (32 wide) over OpenAI CLIP's vocabulary."""
    return CLIPTextModel(
        CLIPTextConfig(
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=49408,
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
        )
    )
