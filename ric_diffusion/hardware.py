"""How training uses the machine: mixed precision (one source of truth), the dtype of the frozen weights,
8-bit Adam, xformers and TF32."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from accelerate import Accelerator

logger = logging.getLogger("ric_diffusion.train")


def precision(requested: str | None, env: dict[str, str] | None = None) -> str | None:
    """One source of truth for mixed precision: ``train.mixed_precision`` or the accelerate launch config's
    (``ACCELERATE_MIXED_PRECISION``); both set and different is an error, not a silent override."""
    launched = (os.environ if env is None else env).get("ACCELERATE_MIXED_PRECISION")
    if requested not in (None, "no", "fp16", "bf16"):
        raise ValueError(f"train.mixed_precision must be no, fp16 or bf16; got {requested!r}")
    if requested and launched and launched != requested:
        raise ValueError(
            f"train.mixed_precision={requested} but the accelerate launch config says {launched}: set one of them "
            "(train.mixed_precision=null follows the launch config)"
        )
    return requested


def frozen_dtype(acc: Accelerator) -> torch.dtype:
    """The dtype of the frozen weights: the mixed-precision dtype, fp32 without it (and for fp16 on a CPU)."""
    if acc.mixed_precision == "bf16":
        return torch.bfloat16
    if acc.mixed_precision == "fp16" and acc.device.type != "cpu":
        return torch.float16
    return torch.float32


def check_accelerators(tc: Any) -> None:
    """8-bit Adam and xformers: refused with the fix when they cannot work; TF32 matmuls on Ampere and newer."""
    import importlib.util

    if tc.use_8bit_adam and not torch.cuda.is_available():
        raise ValueError("train.use_8bit_adam needs CUDA (bitsandbytes); set it to false on CPU")
    if tc.use_8bit_adam and importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError("train.use_8bit_adam needs bitsandbytes: pip install -e '.[bnb]'")
    if tc.enable_xformers and torch.cuda.is_available() and importlib.util.find_spec("xformers") is None:
        raise ValueError("train.enable_xformers needs xformers: pip install -e '.[xformers]' (or leave it off: SDPA)")
    if tc.enable_xformers and not torch.cuda.is_available():
        logger.warning("train.enable_xformers is ignored without CUDA: attention runs through PyTorch SDPA")
    if tc.allow_tf32 and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
