"""Loading the policy LLM and its tokenizer; reading RiC text checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ric_runtime.checkpoints import CONFIG_FILE, STATS_FILE, resolve_checkpoint
from ric_text.config import TextModelConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
RIC_CONFIG = CONFIG_FILE  # the shared checkpoint convention


def check_model_path(path: str) -> None:
    """A path that does not exist is named as such (transformers would call it a malformed hub id)."""
    p = Path(path).expanduser()
    if not p.exists() and (p.is_absolute() or str(path).startswith((".", "~")) or str(path).count("/") > 1):
        raise ValueError(f"{path}: no such folder (give a transformers model folder, or a hub id such as org/name)")


def load_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    """The policy tokenizer with a pad token (EOS when it has none) and left padding for generation."""
    from transformers import AutoTokenizer

    check_model_path(path)
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def check_quantization(cfg: TextModelConfig) -> None:
    """8-/4-bit loading needs CUDA and bitsandbytes: say so at start-up, not after relabelling."""
    import importlib.util

    if not (cfg.load_in_8bit or cfg.load_in_4bit):
        return
    if not torch.cuda.is_available():
        raise ValueError("model.load_in_8bit/4bit need a CUDA device; set model.load_in_8bit=false on CPU")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError("model.load_in_8bit/4bit need bitsandbytes: pip install -e '.[bnb]'")


def load_policy(cfg: TextModelConfig, device: Any = None) -> Any:
    """The base causal LM, optionally 8-/4-bit through bitsandbytes (CUDA only)."""
    from transformers import AutoModelForCausalLM

    check_model_path(cfg.pretrained)
    kwargs: dict[str, Any] = {"dtype": DTYPES[cfg.dtype], "trust_remote_code": cfg.trust_remote_code}
    if cfg.load_in_8bit or cfg.load_in_4bit:
        check_quantization(cfg)
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=cfg.load_in_8bit, load_in_4bit=cfg.load_in_4bit)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    model = AutoModelForCausalLM.from_pretrained(cfg.pretrained, **kwargs)
    if device is not None and "device_map" not in kwargs:
        model.to(device)
    return model


def is_text_checkpoint(p: Path) -> bool:
    """A complete text checkpoint: the peft adapter and the reward statistics."""
    return (p / "adapter_config.json").is_file() and (p / STATS_FILE).is_file()


def resolve_text_checkpoint(path: str | os.PathLike) -> Path:
    """A folder holding an adapter and reward_stats.json: itself, ``final/``, or the latest checkpoint-N."""
    return resolve_checkpoint(path, is_text_checkpoint, "RiC text")


def read_ric_config(ckpt: Path) -> dict:
    return json.loads((ckpt / RIC_CONFIG).read_text())
