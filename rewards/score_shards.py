"""Reward scores of a whole dataset, stored and computed shard by shard, on any number of processes.

A dataset of any size is cut into shards of ``shard_size`` consecutive samples (sample ``i`` is in shard
``i // shard_size``); shard ``s`` belongs to process ``s % num_processes``. Each process scores its own
shards into its own parquet parts (``part-00012.parquet``, rewritten atomically after every chunk) and
marks a shard finished with ``part-00012.done.json`` (its report: scored, skipped with reasons, seconds).
A rerun, on any number of processes, skips every sample a part already holds: no sample is ever scored
twice, also when the dataset grew or shifted since. A stream may also skip finished shards by their
markers (its length is fixed by its fingerprint), which saves reading their parts. Chunks are cut inside
a shard, so the reward models see the same batches whatever the number of processes and the scores are identical.

Memory is bounded by one chunk of decoded samples plus one shard's scores, whatever the dataset size.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ric_runtime.io import atomic_write_json


@dataclass(frozen=True)
class Sample:
    """One dataset sample as the scorer sees it; ``load()`` opens its payload (an image, a response) and
    raises OSError/ValueError when it is unreadable, which skips the sample, never the run."""

    index: int  # position in the dataset: fixes its shard and its order
    key: str  # stable id (an image path, "dataset:index", a hash of prompt + response)
    caption: str  # the prompt reward models see
    load: Callable[[], Any]


UNREADABLE = (OSError, ValueError, SyntaxError)  # what PIL and the decoders raise for a bad sample


def owner(shard: int, num_processes: int) -> int:
    """The process that scores (or caches) ``shard``: round robin, so every process gets a share."""
    return shard % num_processes


class ScoreShards:
    """The parquet parts of one dataset's scores under ``folder``; columns index, key, caption, one per reward.

    Example:
        >>> import tempfile
        >>> s = ScoreShards(tempfile.mkdtemp(), ("a",))
        >>> s.write_part(0, [(0, "x", "a cat", np.array([1.0]))]); s.finish(0, {"scored": 1})
        >>> s.load()[0], s.done(0)
        (['x'], True)
    """

    def __init__(self, folder: str | os.PathLike, names: Sequence[str]):
        self.folder, self.names = Path(folder), tuple(names)
        self.folder.mkdir(parents=True, exist_ok=True)

    def part(self, shard: int) -> Path:
        return self.folder / f"part-{shard:05d}.parquet"

    def marker(self, shard: int) -> Path:
        return self.folder / f"part-{shard:05d}.done.json"

    def done(self, shard: int) -> bool:
        return self.marker(shard).exists()

    def read_part(self, shard: int) -> list[tuple[int, str, str, np.ndarray]]:
        """Rows (index, key, caption, scores (K,)) already in shard's part, empty when there is none."""
        if not self.part(shard).exists():
            return []
        # one open file: another process's os.replace of the part cannot mix two versions in one read (by
        # path, pyarrow opens the file once for its footer and again for the pages)
        with open(self.part(shard), "rb") as f:
            t = pq.read_table(f)
        scores = np.stack([t.column(n).to_numpy() for n in self.names], axis=1).astype(np.float64)
        cols = (t.column(c).to_pylist() for c in ("index", "key", "caption"))
        return [(i, k, c, s) for (i, k, c), s in zip(zip(*cols, strict=True), scores, strict=True)]

    def write_part(self, shard: int, rows: Sequence[tuple[int, str, str, np.ndarray]]) -> None:
        """Replace shard's part with ``rows`` atomically (a kill leaves the old part or the new one)."""
        rows = sorted(rows, key=lambda r: r[0])
        values = np.stack([r[3] for r in rows]) if rows else np.zeros((0, len(self.names)))
        table = pa.table(
            {
                "index": pa.array([r[0] for r in rows], pa.int64()),
                "key": pa.array([r[1] for r in rows], pa.string()),
                "caption": pa.array([r[2] for r in rows], pa.string()),
                **{n: pa.array(values[:, j], pa.float64()) for j, n in enumerate(self.names)},
            }
        )
        tmp = self.part(shard).with_name(f".{self.part(shard).name}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, self.part(shard))

    def finish(self, shard: int, report: dict[str, Any]) -> None:
        atomic_write_json(self.marker(shard), {"shard": shard, **report})

    def shards(self) -> list[int]:
        return sorted(int(p.name[5:10]) for p in self.folder.glob("part-?????.parquet"))

    def reports(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("part-?????.done.json"))]

    def load(self) -> tuple[list[str], list[str], np.ndarray, list[int]]:
        """Keys, captions, raw scores (M, K) and dataset indices of every scored sample, in dataset order."""
        rows = [r for s in self.shards() for r in self.read_part(s)]
        rows.sort(key=lambda r: r[0])
        scores = np.stack([r[3] for r in rows]) if rows else np.zeros((0, len(self.names)))
        return [r[1] for r in rows], [r[2] for r in rows], scores, [r[0] for r in rows]

    def write_all(self, samples: Sequence[tuple[int, str, str]], scores: np.ndarray, shard_size: int) -> None:
        """Store scores computed elsewhere (a scored pool), every shard marked finished."""
        by_shard: dict[int, list[tuple[int, str, str, np.ndarray]]] = {}
        for (i, key, caption), s in zip(samples, np.asarray(scores, dtype=np.float64), strict=True):
            by_shard.setdefault(i // shard_size, []).append((i, key, caption, s))
        for shard, rows in by_shard.items():
            self.write_part(shard, rows)
            self.finish(shard, {"scored": 0, "from_pool": len(rows), "skipped": [], "seconds": 0.0})


def score_shards(
    chunks: Iterable[tuple[int, list[Sample]]],
    score: Callable[[list[Any], list[Sample]], np.ndarray],
    store: ScoreShards,
    progress: Callable[[int], None] = lambda n: None,
    after_chunk: Callable[[int], None] = lambda shard: None,
    known: set[str] | frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Score this process's chunks into ``store``: ``chunks`` yields (shard, samples) in dataset order for
    the shards this process owns; ``score(payloads, samples)`` returns raw scores (B, K). A sample already
    in its shard's part, or in ``known`` (keys scored in any part, e.g. before the dataset grew or its
    filters changed), is not scored again. Returns counts {"scored", "from_part", "skipped"} of this call."""
    counts = {"scored": 0, "from_part": 0, "skipped": 0}
    current: dict[str, Any] | None = None

    def close() -> None:
        if current is not None:
            report = {k: current[k] for k in ("scored", "skipped")}
            store.finish(current["shard"], {**report, "seconds": round(time.monotonic() - current["t0"], 3)})

    for shard, samples in chunks:
        if current is None or current["shard"] != shard:
            close()
            rows = store.read_part(shard)
            current = {"shard": shard, "rows": rows, "have": {r[1] for r in rows}, "scored": 0, "skipped": []}
            current["t0"] = time.monotonic()
        todo = [s for s in samples if s.key not in current["have"] and s.key not in known]
        counts["from_part"] += len(samples) - len(todo)
        payloads, ok = [], []
        for s in todo:
            try:
                payloads.append(s.load())
            except UNREADABLE as e:
                current["skipped"].append({"key": s.key, "reason": f"{type(e).__name__}: {e}"})
                counts["skipped"] += 1
                continue
            ok.append(s)
        if ok:
            values = np.asarray(score(payloads, ok), dtype=np.float64)  # (B, K)
            current["rows"] += [(s.index, s.key, s.caption, v) for s, v in zip(ok, values, strict=True)]
            current["have"].update(s.key for s in ok)
            store.write_part(shard, current["rows"])
            current["scored"] += len(ok)
            counts["scored"] += len(ok)
        progress(len(samples))
        after_chunk(shard)
    close()
    return counts
