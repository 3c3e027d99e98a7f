"""``results.csv``: one row per sweep cell, appended and flushed as cells finish, so a sweep resumes.

A cell is (model, preference, prompt_index, seed, sample). Rows are written in the reward names'
column order; a line cut short by a crash is ignored on reading and dropped before the next append.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

CELL = ("model", "preference", "prompt_index", "seed", "sample")  # one row per cell
BASE_COLUMNS = (*CELL, "prompt", "targets", "output")


def preference_key(w: Sequence[float]) -> str:
    """A preference as it is written in the CSV: ``"0.3,0.7"`` (rounded to 6 decimals, no ``-0``).

    Example:
        >>> preference_key([0.3, 0.7]), preference_key([-0.0, 1.0])
        ('0.3,0.7', '0,1')
    """
    return ",".join(f"{round(float(x), 6) + 0.0:g}" for x in w)


def parse_key(key: str) -> list[float]:
    """``"0.3,0.7"`` -> [0.3, 0.7] (the inverse of :func:`preference_key`)."""
    return [float(x) for x in key.split(",")]


def preference_dirname(w: Sequence[float]) -> str:
    """The run folder of one preference: ``w_0.3_0.7``."""
    return "w_" + preference_key(w).replace(",", "_")


def cell_seed(seed: int, prompt_index: int, sample: int) -> int:
    """Each cell's own seed: a cell's output does not depend on what else was in its batch (resume-safe),
    nor on its preference (only the slider moves along a sweep)."""
    return (seed * 1_000_003 + prompt_index * 1_009 + sample) % (2**31)


class ResultsTable:
    """An append-only ``results.csv`` whose columns are fixed by the reward names.

    Example:
        >>> import tempfile
        >>> t = ResultsTable(Path(tempfile.mkdtemp()) / "results.csv", ["r1", "r2"])
        >>> t.append([{"model": "m", "preference": "1,0", "prompt_index": 0, "seed": 0, "sample": 0,
        ...            "prompt": "p", "targets": "", "output": "x", "r1": 1.0, "r2": 2.0}])
        >>> t.done() == {("m", "1,0", 0, 0, 0)}
        True
    """

    def __init__(self, path: str | os.PathLike, reward_names: Sequence[str]):
        self.path, self.reward_names = Path(path), list(reward_names)
        self.columns = [*BASE_COLUMNS, *self.reward_names]
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open(newline="") as f:
                header = next(csv.reader(f), [])
            if header != self.columns:
                raise ValueError(
                    f"{self.path} has columns {header}, but this sweep writes {self.columns}: resume with the same "
                    "rewards, or give a new --out"
                )

    def rows(self) -> list[dict[str, Any]]:
        """Every complete row (a line cut short by a crash is ignored), typed."""
        if not self.path.exists():
            return []
        out = []
        with self.path.open(newline="") as f:
            for row in csv.DictReader(f):
                typed = self._typed(row)
                if typed is not None:
                    out.append(typed)
        return out

    def _typed(self, row: dict[str, Any]) -> dict[str, Any] | None:
        if None in row.values() or None in row:  # a truncated last line
            return None
        try:
            ints = {c: int(row[c]) for c in ("prompt_index", "seed", "sample")}
            return {**row, **ints, **{n: float(row[n]) for n in self.reward_names}}
        except ValueError:
            return None

    def done(self) -> set[tuple]:
        return {tuple(r[c] for c in CELL) for r in self.rows()}

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        if not new:
            self._repair_tail()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="raise")
            if new:
                writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())

    def _repair_tail(self) -> None:
        """Drop a last line that a crash cut short, so new rows start on a line of their own."""
        with self.path.open("rb") as f:  # one byte per append; the whole file only after a crash
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
        data = self.path.read_bytes()
        self.path.write_bytes(data[: data.rfind(b"\n") + 1])
