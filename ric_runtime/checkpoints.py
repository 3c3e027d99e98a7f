"""The checkpoint convention both modalities follow: what a RiC checkpoint folder holds and how a run
folder resolves to one.

    <run>/checkpoint-<step>/   periodic checkpoints (the newest complete one is "latest")
    <run>/final/               the finished model, where the trainer writes one (text)
Every checkpoint holds ``reward_stats.json`` (names, order, statistics) and ``ric_config.json`` (the
resolved training config), beside the modality's weights.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG_FILE = "ric_config.json"
STATS_FILE = "reward_stats.json"
LEGACY_CONFIG_FILES = ("config.json",)  # diffusion checkpoints written before the shared convention
_CKPT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_dirs(root: str | os.PathLike, complete: Callable[[Path], bool] | None = None) -> list[Path]:
    """``checkpoint-<step>`` folders under ``root``, oldest first (only complete ones when ``complete``)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _CKPT.match(p.name))]
    return [p for _, p in sorted(found) if complete is None or complete(p)]


def resolve_checkpoint(path: str | os.PathLike, complete: Callable[[Path], bool], what: str = "RiC") -> Path:
    """A checkpoint folder from itself, from a run folder's ``final/``, or its newest complete checkpoint.

    Example:
        >>> import tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> for step in (2, 10):
        ...     (run / f"checkpoint-{step}").mkdir()
        ...     _ = (run / f"checkpoint-{step}" / STATS_FILE).write_text("{}")
        >>> resolve_checkpoint(run, lambda p: (p / STATS_FILE).exists()).name
        'checkpoint-10'
    """
    p = Path(path)
    if complete(p):
        return p
    if complete(p / "final"):
        return p / "final"
    found = checkpoint_dirs(p, complete)
    if not found:
        raise FileNotFoundError(
            f"no {what} checkpoint at {p}: expected a checkpoint folder, or a run folder with final/ or "
            "checkpoint-<step>/ inside"
        )
    return found[-1]


def config_path(ckpt: str | os.PathLike) -> Path:
    """The checkpoint's resolved config (``ric_config.json``; older diffusion checkpoints: ``config.json``)."""
    ckpt = Path(ckpt)
    for name in (CONFIG_FILE, *LEGACY_CONFIG_FILES):
        if (ckpt / name).is_file():
            return ckpt / name
    raise FileNotFoundError(f"{ckpt} holds no {CONFIG_FILE}: not a RiC checkpoint")


def read_config(ckpt: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's resolved training config as a dict."""
    return json.loads(config_path(ckpt).read_text())


def has_config(ckpt: str | os.PathLike) -> bool:
    return any((Path(ckpt) / n).is_file() for n in (CONFIG_FILE, *LEGACY_CONFIG_FILES))
