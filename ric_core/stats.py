"""Per-reward statistics of the relabelled training set, and z-score normalisation.

RiC conditions the model on *normalised* rewards z = (r - mean) / std, with the mean and the
population std taken over the whole relabelled training set (docs/method.md section 2.3). The same
statistics normalise online generations, bound the preference mapping and label the app's sliders,
so they are saved as JSON beside every checkpoint, reward names and order included.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ric_runtime.io import atomic_write_json

# Quantile levels stored in the table: every 0.5% plus the far tails, so the `quantile` mapping
# (targets read off the training distribution) is accurate near the maximum, where the paper reads
# its targets (level 0.9999999 in the diffusion code).
DEFAULT_QUANTILE_LEVELS: tuple[float, ...] = tuple(
    sorted(set(np.round(np.linspace(0.0, 1.0, 201), 6).tolist()) | {0.001, 0.999})
)
STATS_FORMAT_VERSION = 1


def as_score_matrix(scores: np.ndarray | Sequence, names: Sequence[str]) -> np.ndarray:
    """Check that ``scores`` is an (N samples, K rewards) matrix of finite floats matching ``names``."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 1 and len(names) == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"scores must be a 2-D (samples, rewards) matrix; got shape {arr.shape}")
    if arr.shape[1] != len(names):
        raise ValueError(
            f"scores have {arr.shape[1]} columns but {len(names)} reward names were given ({list(names)}); "
            "pass one name per column, in column order"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        col = int(np.argwhere(bad.any(axis=0))[0, 0])
        raise ValueError(
            f"reward '{names[col]}' has {int(bad[:, col].sum())} non-finite score(s) (NaN or inf); "
            "drop or re-score those samples before computing statistics"
        )
    return arr


SUPPORT_MAX = 4096


def support_points(z: np.ndarray, cap: int = SUPPORT_MAX) -> np.ndarray:
    """The distinct rows of ``z`` (N, K) at the tags' precision (0.1), at most ``cap``: every Pareto-optimal
    one first, then a seeded sample of the rest (so the file stays small on large datasets).

    Example:
        >>> support_points(np.array([[0.01, 1.0], [0.0, 1.04], [1.0, 0.0]])).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    from ric_core.pareto import non_dominated

    rows = np.unique(np.round(np.asarray(z, dtype=np.float64), 1) + 0.0, axis=0)
    if len(rows) <= cap:
        return rows
    front = non_dominated(rows)
    rest = np.flatnonzero(~front)
    pick = np.random.default_rng(0).choice(rest, size=max(0, cap - int(front.sum())), replace=False)
    return rows[np.sort(np.concatenate([np.flatnonzero(front), pick]))[:cap]]


@dataclass(frozen=True)
class RewardStats:
    """Mean, population std, min, max and a quantile table per reward (raw units).

    Example:
        >>> s = RewardStats.from_scores([[1.0, 10.0], [3.0, 30.0]], ["aesthetic", "jpeg"])
        >>> s.normalize([[3.0, 10.0]]).tolist()
        [[1.0, -1.0]]
        >>> s.denormalize([[1.0, -1.0]]).tolist()
        [[3.0, 10.0]]
    """

    names: tuple[str, ...]
    mean: np.ndarray  # (K,)
    std: np.ndarray  # (K,), population std (numpy's default ddof=0), as in the paper
    min: np.ndarray  # (K,)
    max: np.ndarray  # (K,)
    quantile_levels: np.ndarray  # (Q,), increasing, from 0 to 1
    quantiles: np.ndarray  # (Q, K), raw-unit quantiles at those levels
    count: int
    # (M, K) normalised reward vectors seen in training, distinct at the tags' 0.1 precision (at most
    # SUPPORT_MAX: the Pareto front, then a seeded sample of the rest), for ``inference.project``; None in
    # statistics saved before it existed
    support_z: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"reward names must be unique; got {list(self.names)}")
        for i, name in enumerate(self.names):
            if not np.isfinite(self.std[i]) or self.std[i] <= 0:
                raise ValueError(
                    f"reward '{name}' has std {float(self.std[i])}: every sample scored the same (or the score "
                    "is not finite), so it cannot be normalised; drop this reward or use more varied data"
                )

    @classmethod
    def from_scores(
        cls,
        scores: np.ndarray | Sequence,
        names: Sequence[str],
        decimals: int | None = None,
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        constant_ok: bool = False,
    ) -> RewardStats:
        """Compute statistics from an (N, K) matrix of raw scores.

        ``decimals=1`` reproduces the reference code, which rounds raw scores to one decimal before
        computing the mean and std (docs/method.md 2.3); the default keeps full precision.
        ``constant_ok`` gives a constant reward std 1 (a run that never normalises, e.g. an unconditioned
        baseline, only needs the names and ranges).
        """
        arr = as_score_matrix(scores, names)
        if arr.shape[0] < 2:
            raise ValueError(f"need at least 2 scored samples to compute statistics; got {arr.shape[0]}")
        if decimals is not None:
            arr = np.round(arr, decimals)
        levels = np.asarray(quantile_levels, dtype=np.float64)
        stats = cls(
            names=tuple(names),
            mean=arr.mean(axis=0),
            std=np.where(arr.std(axis=0) > 0, arr.std(axis=0), 1.0) if constant_ok else arr.std(axis=0),
            min=arr.min(axis=0),
            max=arr.max(axis=0),
            quantile_levels=levels,
            quantiles=np.quantile(arr, levels, axis=0),
            count=int(arr.shape[0]),
        )
        return replace(stats, support_z=support_points(stats.normalize(arr)))

    @property
    def num_rewards(self) -> int:
        return len(self.names)

    @property
    def z_min(self) -> np.ndarray:
        """Smallest normalised training reward per reward, shape (K,)."""
        return (self.min - self.mean) / self.std

    @property
    def z_max(self) -> np.ndarray:
        """Largest normalised training reward per reward, shape (K,)."""
        return (self.max - self.mean) / self.std

    def normalize(self, raw: np.ndarray | Sequence) -> np.ndarray:
        """Raw scores (..., K) -> z-scores (..., K). No clipping, as in the paper."""
        raw = np.asarray(raw, dtype=np.float64)
        self._check_last_dim(raw)
        return (raw - self.mean) / self.std

    def denormalize(self, z: np.ndarray | Sequence) -> np.ndarray:
        """z-scores (..., K) -> raw scores (..., K)."""
        z = np.asarray(z, dtype=np.float64)
        self._check_last_dim(z)
        return z * self.std + self.mean

    def z_quantile(self, levels: np.ndarray | Sequence[float]) -> np.ndarray:
        """Normalised quantile of reward k at ``levels[k]``, shape (K,), interpolated in the table."""
        levels = np.asarray(levels, dtype=np.float64)
        self._check_last_dim(levels)
        raw = np.array(
            [np.interp(levels[k], self.quantile_levels, self.quantiles[:, k]) for k in range(self.num_rewards)]
        )
        return (raw - self.mean) / self.std

    def check_names(self, names: Sequence[str]) -> None:
        """Raise if ``names`` (e.g. of a reward set) differ from these statistics' names or order."""
        if tuple(names) != self.names:
            raise ValueError(
                f"reward names {list(names)} do not match the statistics' {list(self.names)}; "
                "use the same rewards, in the same order, as the run that computed the statistics"
            )

    def _check_last_dim(self, arr: np.ndarray) -> None:
        if arr.ndim == 0 or arr.shape[-1] != self.num_rewards:
            raise ValueError(
                f"expected a last dimension of {self.num_rewards} (rewards {list(self.names)}); got shape {arr.shape}"
            )

    # ---- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format_version": STATS_FORMAT_VERSION,
            "names": list(self.names),
            "count": self.count,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "min": self.min.tolist(),
            "max": self.max.tolist(),
            "quantile_levels": self.quantile_levels.tolist(),
            "quantiles": self.quantiles.tolist(),
            **({} if self.support_z is None else {"support_z": self.support_z.tolist()}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> RewardStats:
        missing = {"names", "mean", "std", "min", "max", "quantile_levels", "quantiles", "count"} - set(d)
        if missing:
            raise ValueError(f"reward statistics are missing the field(s) {sorted(missing)}")
        return cls(
            names=tuple(d["names"]),
            mean=np.asarray(d["mean"], dtype=np.float64),
            std=np.asarray(d["std"], dtype=np.float64),
            min=np.asarray(d["min"], dtype=np.float64),
            max=np.asarray(d["max"], dtype=np.float64),
            quantile_levels=np.asarray(d["quantile_levels"], dtype=np.float64),
            quantiles=np.asarray(d["quantiles"], dtype=np.float64).reshape(-1, len(d["names"])),
            count=int(d["count"]),
            support_z=None if "support_z" not in d else np.asarray(d["support_z"]).reshape(-1, len(d["names"])),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the statistics as JSON (atomically), e.g. ``reward_stats.json`` in a checkpoint."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> RewardStats:
        path = Path(path)
        if path.is_dir():
            path = path / "reward_stats.json"
        if not path.exists():
            raise FileNotFoundError(f"no reward statistics at {path}; a RiC checkpoint holds reward_stats.json")
        return cls.from_dict(json.loads(path.read_text()))
