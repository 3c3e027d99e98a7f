"""A persistent table of raw reward scores keyed by sample (image path, or a hash of prompt + response).

Written atomically after every chunk, so a rerun or resumed run never scores a sample twice.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class ScoreCache:
    """``key -> (K,)`` raw scores for the reward names given; stored as parquet.

    Example:
        >>> import tempfile
        >>> c = ScoreCache(tempfile.mkdtemp() + "/s.parquet", ("a", "b"))
        >>> c.update(["x"], np.array([[1.0, 2.0]])); ScoreCache(c.path, ("a", "b"))["x"].tolist()
        [1.0, 2.0]
    """

    def __init__(self, path: str | os.PathLike, names: tuple[str, ...]):
        self.path, self.names = Path(path), tuple(names)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, np.ndarray] = {}
        if self.path.exists():
            table = pq.read_table(self.path)
            if all(n in table.column_names for n in self.names):  # a new reward means rescoring everything
                cols = np.stack([table.column(n).to_numpy() for n in self.names], axis=1)
                self._rows = dict(zip(table.column("key").to_pylist(), cols, strict=True))

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __getitem__(self, key: str) -> np.ndarray:
        return self._rows[key]

    def __len__(self) -> int:
        return len(self._rows)

    def update(self, keys: list[str], scores: np.ndarray) -> None:
        """Add rows and rewrite the file atomically."""
        self._rows.update(zip(keys, np.asarray(scores, dtype=np.float64), strict=True))
        keys_all = list(self._rows)
        values = np.stack([self._rows[k] for k in keys_all]) if keys_all else np.zeros((0, len(self.names)))
        table = pa.table({"key": keys_all, **{n: values[:, i] for i, n in enumerate(self.names)}})
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, self.path)
