"""ImageReward (Xu et al., 2023): BLIP's ViT-L/16 image encoder, its BERT text encoder cross-attending to the image,
and an MLP on the [CLS] state, standardised by the released mean and std.

The ``image-reward`` package pins timm 0.6.13 and fairscale, which do not install beside our pins, so this
loads its released file ``ImageReward.pt`` (a state dict of ``blip.visual_encoder.*`` in timm's ViT naming,
``blip.text_encoder.*`` in BLIP's BERT naming and ``mlp.layers.*``) into transformers' BLIP vision and text
models: the vision keys are renamed to transformers' names, the text keys already match them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rewards.aesthetic import AestheticMLP, resolve_weights
from rewards.base import IMAGE_TEXT_INPUTS, Reward
from rewards.images import to_pil_list

DEFAULT_REPO, DEFAULT_FILENAME = "THUDM/ImageReward", "ImageReward.pt"
MEAN, STD = 0.16717362830052426, 1.0333394966054072  # the released standardisation of the MLP output
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
# BLIP "large": ViT-L/16 at 224 px; the text side is bert-base with 1024-wide cross-attention.
VISION = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, patch_size=16)
TEXT = dict(vocab_size=30524, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
# timm ViT names (BLIP's vit.py) -> transformers BlipVisionModel names, applied in order
VISION_RENAMES = [
    (r"^cls_token$", "embeddings.class_embedding"),
    (r"^pos_embed$", "embeddings.position_embedding"),
    (r"^patch_embed\.proj\.", "embeddings.patch_embedding."),
    (r"^norm\.", "post_layernorm."),
    (r"^blocks\.(\d+)\.norm(\d)\.", r"encoder.layers.\1.layer_norm\2."),
    (r"^blocks\.(\d+)\.attn\.proj\.", r"encoder.layers.\1.self_attn.projection."),
    (r"^blocks\.(\d+)\.attn\.qkv\.", r"encoder.layers.\1.self_attn.qkv."),
    (r"^blocks\.(\d+)\.mlp\.", r"encoder.layers.\1.mlp."),
]


def vision_key(key: str) -> str:
    """A BLIP visual_encoder key in transformers' BlipVisionModel naming.

    Example:
        >>> vision_key("blocks.3.attn.qkv.weight"), vision_key("norm.bias")
        ('encoder.layers.3.self_attn.qkv.weight', 'post_layernorm.bias')
    """
    for pattern, repl in VISION_RENAMES:
        new = re.sub(pattern, repl, key)
        if new != key:
            return new
    return key


def split_checkpoint(state: dict[str, torch.Tensor]) -> tuple[dict, dict, dict]:
    """(vision, text, mlp) state dicts in transformers' / our names, from an ImageReward.pt state dict."""
    parts: tuple[dict, dict, dict] = ({}, {}, {})
    for key, value in state.items():
        if key.startswith("blip.visual_encoder."):
            parts[0][vision_key(key.removeprefix("blip.visual_encoder."))] = value
        elif key.startswith("blip.text_encoder."):
            parts[1][key.removeprefix("blip.text_encoder.")] = value
        elif key.startswith("mlp."):
            parts[2][key.removeprefix("mlp.")] = value
    if not all(parts):
        raise ValueError("not an ImageReward checkpoint: expected blip.visual_encoder.*, blip.text_encoder.*, mlp.*")
    return parts


def bert_tokenizer(path: str | os.PathLike) -> Any:
    """BLIP's tokenizer: bert-base-uncased plus [DEC] (bos) and [ENC], 30,524 ids."""
    from transformers import BertTokenizer

    tok = BertTokenizer.from_pretrained(str(path))
    if "[DEC]" not in tok.get_vocab():
        tok.add_special_tokens({"bos_token": "[DEC]"})
        tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    return tok


class ImageRewardScore(Reward):
    """ImageReward of (image, prompt) pairs (roughly -2..2, higher is preferred by people).

    Example:
        >>> r = ImageRewardScore()  # doctest: +SKIP
        >>> r(images=[img], prompts=["a cat"])  # doctest: +SKIP
        array([0.41], dtype=float32)
    """

    name = "image_reward"
    inputs = IMAGE_TEXT_INPUTS

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        repo_id: str | None = DEFAULT_REPO,
        filename: str = DEFAULT_FILENAME,
        tokenizer: str | os.PathLike = "bert-base-uncased",
        image_size: int = 224,
        vision: dict | None = None,
        text: dict | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        batch_size: int = 16,
    ):
        from torchvision import transforms
        from transformers import BlipTextConfig, BlipTextModel, BlipVisionConfig, BlipVisionModel

        path = resolve_weights(weights, repo_id, filename, what="ImageReward")
        vision_sd, text_sd, mlp_sd = split_checkpoint(torch.load(path, map_location="cpu", weights_only=True))
        v = {**VISION, **(vision or {})}
        t = {**TEXT, **(text or {})}
        vcfg = BlipVisionConfig(**v, image_size=image_size, layer_norm_eps=1e-6)  # BLIP's ViT: eps 1e-6
        tcfg = BlipTextConfig(**t, encoder_hidden_size=v["hidden_size"], is_decoder=True)  # builds cross-attention
        self.vision = BlipVisionModel(vcfg)
        self.text = BlipTextModel(tcfg, add_pooling_layer=False)
        self.mlp = AestheticMLP(t["hidden_size"])  # the same MLP layout (768 -> ... -> 1) as the aesthetic head
        for module, state in ((self.vision, vision_sd), (self.text, text_sd), (self.mlp, mlp_sd)):
            missing, unexpected = module.load_state_dict(state, strict=False)
            missing = [k for k in missing if not k.endswith("position_ids")]
            if missing or unexpected:
                raise ValueError(f"{path}: keys do not match ImageReward's layout: {(missing + unexpected)[:5]}")
        for m in (self.vision, self.text):
            m.to(device, dtype).eval().requires_grad_(False)
        self.mlp.to(device).eval().requires_grad_(False)  # fp32: the head is tiny
        self.tokenizer = bert_tokenizer(tokenizer)
        self.preprocess = transforms.Compose(
            [
                transforms.Resize(image_size, interpolation=transforms.InterpolationMode.BICUBIC),
                transforms.CenterCrop(image_size),
                transforms.ToTensor(),
                transforms.Normalize(CLIP_MEAN, CLIP_STD),
            ]
        )
        self.device, self.dtype, self.batch_size = torch.device(device), dtype, batch_size

    @torch.no_grad()
    def score(self, images: Sequence[Any], prompts: Sequence[str], **_: Any) -> np.ndarray:
        pixels = torch.stack([self.preprocess(im) for im in to_pil_list(images)]).to(self.device, self.dtype)
        image_states = self.vision(pixel_values=pixels).last_hidden_state  # (B, 1 + patches, 1024)
        text = self.tokenizer(
            list(prompts), padding="max_length", truncation=True, max_length=35, return_tensors="pt"
        ).to(self.device)
        out = self.text(
            input_ids=text["input_ids"],
            attention_mask=text["attention_mask"],
            encoder_hidden_states=image_states,
            encoder_attention_mask=torch.ones(image_states.shape[:2], dtype=torch.long, device=self.device),
            is_decoder=False,  # BLIP's "multimodal" mode: bidirectional text, cross-attention to the image
        )
        cls = out.last_hidden_state[:, 0].float()  # (B, 768)
        return ((self.mlp(cls) - MEAN) / STD).cpu().numpy()
