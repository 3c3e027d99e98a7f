"""Loading the policy LLM and its tokenizer; reading RiC text checkpoints."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from ric_text.config import TextModelConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
RIC_CONFIG = "ric_config.json"


def load_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    """The policy tokenizer with a pad token (EOS when it has none) and left padding for generation."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_policy(cfg: TextModelConfig, device: Any = None) -> Any:
    """The base causal LM, optionally 8-/4-bit through bitsandbytes (CUDA only)."""
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": DTYPES[cfg.dtype], "trust_remote_code": cfg.trust_remote_code}
    if cfg.load_in_8bit or cfg.load_in_4bit:
        if not torch.cuda.is_available():
            raise ValueError("model.load_in_8bit/4bit need CUDA and bitsandbytes; set them to false on CPU")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=cfg.load_in_8bit, load_in_4bit=cfg.load_in_4bit)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    model = AutoModelForCausalLM.from_pretrained(cfg.pretrained, **kwargs)
    if device is not None and "device_map" not in kwargs:
        model.to(device)
    return model


def resolve_text_checkpoint(path: str | os.PathLike) -> Path:
    """A folder holding an adapter and reward_stats.json: itself, ``final/``, or the latest checkpoint-N."""
    p = Path(path)
    if (p / "adapter_config.json").exists() and (p / "reward_stats.json").exists():
        return p
    if (p / "final" / "adapter_config.json").exists():
        return p / "final"
    found = sorted(
        (int(m.group(1)), c) for c in p.glob("checkpoint-*") if (m := re.match(r"checkpoint-(\d+)$", c.name))
    )
    found = [c for _, c in found if (c / "reward_stats.json").exists()]
    if not found:
        raise FileNotFoundError(f"no RiC text checkpoint at {p} (adapter_config.json + reward_stats.json)")
    return found[-1]


def read_ric_config(ckpt: Path) -> dict:
    return json.loads((ckpt / RIC_CONFIG).read_text())
