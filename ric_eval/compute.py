"""One training-compute record for every trainer (``compute.json`` in each checkpoint), read and summed
by the sweeps so quality can be set against cost.

Keys: ``optimizer_steps``, ``samples`` (sequences or images through the policy's forward/backward),
``policy_forward_backward`` (the same count, named for what it costs), ``generated_samples`` (what
online stages and RL sampled) and ``wall_time_s``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def compute_record(
    optimizer_steps: int,
    batch_size: int,
    accumulation: int = 1,
    processes: int = 1,
    generated: int = 0,
    start: float | None = None,
) -> dict[str, Any]:
    """The record a trainer writes: samples = steps x batch x accumulation x processes.

    Example:
        >>> r = compute_record(10, 4, processes=2, generated=8, start=time.time())
        >>> r["samples"], r["policy_forward_backward"], r["generated_samples"]
        (80, 80, 8)
    """
    samples = int(optimizer_steps) * batch_size * accumulation * processes
    wall = round(time.time() - start, 3) if start is not None else 0.0
    return {
        "optimizer_steps": int(optimizer_steps),
        "samples": samples,
        "policy_forward_backward": samples,
        "generated_samples": int(generated),
        "wall_time_s": wall,
    }


def read_compute(ckpt: str | os.PathLike) -> dict[str, Any] | None:
    """A checkpoint's ``compute.json`` (what its training cost), or None when it has none."""
    f = Path(ckpt) / "compute.json"
    return json.loads(f.read_text()) if f.exists() else None


def add_compute(records: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Sum compute records (a soup's ingredients, a set of per-preference runs); None if any is missing.

    Example:
        >>> add_compute([{"samples": 4, "wall_time_s": 1.5}, {"samples": 6, "wall_time_s": 2.0}])
        {'samples': 10, 'wall_time_s': 3.5, 'runs': 2}
    """
    if not records or any(r is None for r in records):
        return None

    def numeric(r: dict[str, Any], k: str) -> bool:
        return isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)

    keys = [k for k in records[0] if all(numeric(r, k) for r in records)]
    return {k: round(sum(r[k] for r in records), 3) for k in keys} | {"runs": len(records)}
