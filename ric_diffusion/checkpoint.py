"""Checkpoint folders, written atomically and loadable without pickle.

    checkpoint-<step>/
        pytorch_lora_weights.safetensors   the UNet LoRA (stock diffusers load_lora_weights format)
        conditioner.safetensors + .json    the reward conditioner
        reward_stats.json                  ric_core statistics (names, order, quantiles)
        ric_config.json                    the resolved training config (ric_runtime.checkpoints)
        ema/                               EMA copies of the two weight files (when EMA is on)
        training_state/                    optimizer (safetensors + JSON), scheduler, RNG, step

A folder is built under a temporary name and renamed into place, so a crash leaves either the old
set of checkpoints or the new one, never a half-written folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ric_runtime.checkpoints import STATS_FILE, has_config
from ric_runtime.checkpoints import checkpoint_dirs as core_checkpoint_dirs
from ric_runtime.checkpoints import resolve_checkpoint as core_resolve
from ric_runtime.io import atomic_write_folder as write_folder
from ric_runtime.io import atomic_write_json


def is_checkpoint(p: Path) -> bool:
    """A complete diffusion checkpoint: statistics, config and the LoRA weights."""
    return (p / STATS_FILE).is_file() and has_config(p) and (p / "pytorch_lora_weights.safetensors").is_file()


def checkpoint_dirs(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders under ``root``, oldest first."""
    return core_checkpoint_dirs(root, is_checkpoint)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint folder from itself or from a run folder (its latest checkpoint)."""
    return core_resolve(path, is_checkpoint, "RiC diffusion")


def write_checkpoint(root: str | os.PathLike, step: int, writers: list[Any], limit: int | None = None) -> Path:
    """Write ``checkpoint-<step>`` under ``root`` atomically and keep only the newest ``limit``."""
    root = Path(root)
    final = write_folder(root / f"checkpoint-{step}", writers)
    if limit is not None:
        for stale in checkpoint_dirs(root)[:-limit]:
            shutil.rmtree(stale)
    return final


# ---- optimizer / scheduler / RNG without pickle ------------------------------------------------
def _split(state: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace tensors in a nested structure by references, collecting them in ``tensors``."""
    if isinstance(state, torch.Tensor):
        tensors[prefix] = state.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(state, dict):
        return {str(k): _split(v, f"{prefix}.{k}", tensors) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(state)]
    return state


def _join(meta: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(meta, dict):
        if set(meta) == {"__tensor__"}:
            return tensors[meta["__tensor__"]]
        return {k: _join(v, tensors) for k, v in meta.items()}
    if isinstance(meta, list):
        return [_join(v, tensors) for v in meta]
    return meta


def save_state_dict(state: dict, out_dir: Path, name: str) -> None:
    """A (possibly nested) state dict as ``name.safetensors`` + ``name.json``."""
    tensors: dict[str, torch.Tensor] = {}
    meta = _split(state, name, tensors)
    save_file(tensors, out_dir / f"{name}.safetensors")
    (out_dir / f"{name}.json").write_text(json.dumps(meta))


def load_state_dict(in_dir: Path, name: str) -> dict:
    tensors = load_file(in_dir / f"{name}.safetensors")
    return _join(json.loads((in_dir / f"{name}.json").read_text()), tensors)


def restore_optimizer(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """Load a saved optimizer state; JSON turned its integer parameter ids into strings."""
    saved = dict(saved)
    saved["state"] = {int(k): v for k, v in saved["state"].items()}
    optimizer.load_state_dict(saved)


def save_training_state(out_dir: Path, step: int, optimizer: Any, lr_scheduler: Any, extra: dict) -> None:
    state_dir = out_dir / "training_state"
    state_dir.mkdir()
    save_state_dict(optimizer.state_dict(), state_dir, "optimizer")
    save_state_dict({"torch": torch.get_rng_state()}, state_dir, "rng")
    atomic_write_json(state_dir / "scheduler.json", lr_scheduler.state_dict())
    atomic_write_json(state_dir / "state.json", {"step": step, **extra})


def load_training_state(ckpt: Path, optimizer: Any, lr_scheduler: Any) -> dict:
    state_dir = ckpt / "training_state"
    if not state_dir.is_dir():
        raise FileNotFoundError(f"{ckpt} has no training_state/; it can be used for inference but not resumed")
    restore_optimizer(optimizer, load_state_dict(state_dir, "optimizer"))
    lr_scheduler.load_state_dict(json.loads((state_dir / "scheduler.json").read_text()))
    torch.set_rng_state(load_state_dict(state_dir, "rng")["torch"])
    return json.loads((state_dir / "state.json").read_text())
