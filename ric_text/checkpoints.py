"""Which Trainer checkpoint a text run resumes from, for the offline SFT and the online fits alike.

transformers' Trainer writes ``checkpoint-N`` in place: the adapter, optimizer, scheduler and RNG states
first, ``trainer_state.json`` last, and only then rotates older checkpoints away. A folder whose
``trainer_state.json`` parses is therefore complete whatever happened after it (our RiC files are
written by a callback after the rotation, and are rewritten on resume when a kill fell in between);
anything else was cut short by a kill or a full disk and is moved aside, never resumed from.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from ric_runtime.checkpoints import checkpoint_dirs

logger = logging.getLogger("ric_text.checkpoints")


def trainer_state(ckpt: Path) -> dict[str, Any] | None:
    """The checkpoint's parsed ``trainer_state.json``, or None if missing or cut short."""
    try:
        return json.loads((Path(ckpt) / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return None


def is_resumable(ckpt: Path) -> bool:
    """A checkpoint the Trainer finished writing (its last file parses; the adapter is there)."""
    return (Path(ckpt) / "adapter_model.safetensors").is_file() and trainer_state(ckpt) is not None


def set_aside_incomplete(out: Path) -> list[Path]:
    """Move every ``checkpoint-N`` a kill cut short to ``.incomplete-checkpoint-N`` (so neither a resume nor
    the Trainer's rotation picks it); returns the new paths. Main process only."""
    moved = []
    for ckpt in checkpoint_dirs(out):
        if not is_resumable(ckpt):
            aside = ckpt.with_name(f".incomplete-{ckpt.name}")
            if aside.exists():  # the same step was cut short twice: the older leftover is worth nothing
                shutil.rmtree(aside)
            logger.warning("%s is incomplete (a run was stopped while saving it): moved aside to %s", ckpt, aside)
            ckpt.rename(aside)
            moved.append(aside)
    return moved


def resume_point(out: Path, resume: str | None, processes: Any = None) -> Path | None:
    """The checkpoint every process resumes from: ``latest`` = the newest complete one under ``out`` (None if
    there is none; the main process first sets aside what a kill cut short, the others wait for it); an
    explicit folder must be complete, whether or not ``out`` holds checkpoints. ``processes``: accelerate's
    ``PartialState`` (None: this process alone).

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> (out / "checkpoint-2").mkdir()  # killed before the Trainer wrote anything
        >>> resume_point(out, "latest") is None, (out / ".incomplete-checkpoint-2").is_dir()
        (True, True)
    """
    if not resume:
        return None
    if resume != "latest":
        if not is_resumable(Path(resume)):
            raise ValueError(
                f"train.resume={resume}: not a complete ric_text checkpoint (needs adapter_model.safetensors and a "
                "readable trainer_state.json); pass a checkpoint-<step> folder or 'latest'"
            )
        return Path(resume)
    if processes is None or processes.is_main_process:
        set_aside_incomplete(out)
    if processes is not None:
        processes.wait_for_everyone()  # before any rank looks for the newest checkpoint
    done = checkpoint_dirs(out, is_resumable)
    return done[-1] if done else None


def trained_steps(ckpt: Path | None) -> int:
    """Optimizer steps a checkpoint holds (0 for none)."""
    state = trainer_state(ckpt) if ckpt else None
    return int(state["global_step"]) if state else 0


def train_or_restore(trainer: Any, resume: Path | None, max_steps: int) -> int:
    """Train to ``max_steps`` from ``resume``; a checkpoint already at ``max_steps`` is loaded instead, so
    rerunning a finished run trains no extra step. Returns the steps the adapter now holds."""
    if resume:
        logger.info("resuming from %s (step %d of %d)", resume, trained_steps(resume), max_steps)
    if trained_steps(resume) < max_steps:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        return trainer.state.global_step
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(trainer.model, load_file(Path(resume) / "adapter_model.safetensors"))
    return trained_steps(resume)
