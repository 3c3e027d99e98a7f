"""The demo's presets (``configs/demo/``): world sizes and trainer arguments for RiC and its baselines."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

PRESETS = Path(__file__).resolve().parent.parent / "configs" / "demo"
_START = time.time()


def stage(msg: str) -> None:
    """One timestamped progress line (the demo's stages take minutes each)."""
    print(f"[ric demo {time.time() - _START:6.1f}s] {msg}", flush=True)


def world_settings(world: str, quick: bool) -> dict[str, Any]:
    """``configs/demo/demo.yaml``'s section for ``world`` ("text", "image" or "benchmark"), with its
    ``quick`` block applied on top when ``quick``; ``overrides`` is always a list."""
    path = PRESETS / "demo.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: ric demo reads its presets from the repository's configs/demo")
    section = dict(yaml.safe_load(path.read_text())[world])
    fast = section.pop("quick", {})
    if quick:
        section.update(fast)
    section.setdefault("overrides", [])
    return section


def trainer_args(world: str, quick: bool, *overrides: str) -> list[str]:
    """``--config configs/demo/<preset>`` + the quick overrides + ``overrides`` (later ones win)."""
    s = world_settings(world, quick)
    return ["--config", str(PRESETS / s["preset"]), *s["overrides"], *overrides]


def trainer_config(cls: type, world: str, quick: bool, *overrides: str) -> Any:
    """The resolved trainer config the demo trains with (to read steps and rewards from it)."""
    from ric_runtime.config import load_config

    args = trainer_args(world, quick, *overrides)
    return load_config(cls, args[1], args[2:])


def world_dir(out: Path, world: str, seed: int, quick: bool) -> Path:
    """Where a world's data and pre-trained base model are cached (reused by ric demo and ric benchmark)."""
    return out / "cache" / f"{world}_world_s{seed}{'_quick' if quick else ''}"


def run_steps(cls: type, world: str, quick: bool) -> tuple[int, int]:
    """(offline steps, offline + online steps) of the world's RiC run; every baseline run gets the total."""
    cfg = trainer_config(cls, world, quick)
    return cfg.train.max_steps, cfg.train.max_steps + cfg.online.iterations * cfg.online.steps


def baseline_overrides(cls: type, world: str, quick: bool, checkpoint_key: str) -> list[str]:
    """A baseline run: RiC's total steps, offline only, one checkpoint at the end (``checkpoint_key``: the
    trainer's checkpoint interval, ``train.save_steps`` or ``train.checkpoint_every``)."""
    total = run_steps(cls, world, quick)[1]
    return [f"train.max_steps={total}", f"{checkpoint_key}={total}", "online.iterations=0"]
