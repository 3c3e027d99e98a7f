"""Preference weights w (on the simplex) -> target rewards written into the model's condition.

Each rule gives a fraction x_i in [0, 1] per objective; the target is then
``low_i + x_i * (high_i - low_i)`` (docs/method.md section 4):

- ``linf`` (the paper's rule): x_i = min(N * w_i, 1). The most-weighted objective always gets its
  maximum; the others rise linearly and reach it at w_i = 1/N.
- ``l2`` (the released evaluation code's rule): x_i = w_i / ||w||_2.
- ``linear``: x_i = w_i.
- ``lp`` (a family, parameter p >= 1): x_i = w_i / ||w||_p. p = 1 is ``linear`` and p = 2 is
  ``l2`` exactly; p = inf gives w_i / max(w), which equals ``linf`` at the arg-max objective, at
  the simplex vertices and at uniform weights, and is gentler elsewhere.
- ``quantile``: the ``linf`` fraction read as a *level* of the training reward distribution
  (the paper's diffusion code): target_i = the normalised training quantile of reward i at x_i.
- ``quantile_linear`` (an addition to the paper's rules): the ``linear`` fraction read as a level.
  Every target moves with every weight and (0.5, 0.5) asks for the medians, so with conflicting
  rewards the targets follow the data's own trade-off instead of asking for maxima no sample has
  (with ``linf``, half the sweep asks for reward 1's maximum; outliers set where that is).

The quantile methods read the level ``lo + x_i * (hi - lo)`` for ``levels=(lo, hi)``, by default
(0, 1): the training minimum and maximum. Those are single samples; ``levels=(0.01, 0.99)`` keeps
the slider's ends on the bulk of the data (a target one outlier reached can pull a small model off
its prompt).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ric_core.stats import RewardStats

METHODS = ("linf", "l2", "linear", "lp", "quantile", "quantile_linear")


def validate_preference(preference: Sequence[float] | np.ndarray, num_rewards: int | None = None) -> np.ndarray:
    """Check preference weights and normalise them to sum to 1.

    Example:
        >>> validate_preference([2, 2]).tolist()
        [0.5, 0.5]
    """
    w = np.asarray(preference, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"a preference is one weight per reward (a 1-D list); got shape {w.shape}")
    if num_rewards is not None and w.shape[0] != num_rewards:
        raise ValueError(
            f"the preference has {w.shape[0]} weight(s) but this model has {num_rewards} rewards; "
            f"pass {num_rewards} weights, one per reward, in the statistics' order"
        )
    if w.shape[0] < 2:
        raise ValueError(f"RiC needs at least 2 rewards to trade off; got a preference of length {w.shape[0]}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"preference weights must be finite numbers; got {w.tolist()}")
    if np.any(w < 0):
        raise ValueError(f"preference weights must be >= 0; got {w.tolist()} (set unwanted objectives to 0)")
    total = w.sum()
    if total <= 0:
        raise ValueError("preference weights are all zero; give at least one objective a positive weight")
    return w / total


def preference_fraction(w: np.ndarray, method: str = "linf", p: float | None = None) -> np.ndarray:
    """Fraction x in [0, 1]^N of each objective's range, for normalised weights ``w``.

    Example:
        >>> preference_fraction(np.array([0.7, 0.3]), "linf").round(6).tolist()
        [1.0, 0.6]
    """
    n = w.shape[0]
    if method in ("linf", "quantile"):
        x = np.minimum(n * w, 1.0)
    elif method == "l2":
        x = w / np.linalg.norm(w, 2)
    elif method in ("linear", "quantile_linear"):
        x = w.copy()
    elif method == "lp":
        if p is None or not (p >= 1):
            raise ValueError(f"method 'lp' needs p >= 1 (p=1 linear, p=2 l2, p=inf max-normalised); got p={p}")
        x = w / np.linalg.norm(w, p)
    else:
        raise ValueError(f"unknown mapping method {method!r}; choose one of {', '.join(METHODS)}")
    return np.clip(x, 0.0, 1.0)


def check_levels(levels: Sequence[float]) -> tuple[float, float]:
    """Validate the quantile methods' level range (lo, hi), 0 <= lo < hi <= 1.

    Example:
        >>> check_levels([0.01, 0.99])
        (0.01, 0.99)
    """
    vals = [float(v) for v in levels]
    if len(vals) != 2 or not 0.0 <= vals[0] < vals[1] <= 1.0:
        raise ValueError(
            f"quantile levels must be two numbers 0 <= lo < hi <= 1 (e.g. [0.01, 0.99]); got {list(levels)}"
        )
    return vals[0], vals[1]


def _bounds(n: int, low, high, stats: RewardStats | None) -> tuple[np.ndarray, np.ndarray]:  # each (N,)
    if low is None or high is None:
        if stats is None:
            raise ValueError("give the reward range as low= and high=, or pass stats= to use the training range")
        low = stats.z_min if low is None else low
        high = stats.z_max if high is None else high
    low = np.broadcast_to(np.asarray(low, dtype=np.float64), (n,))
    high = np.broadcast_to(np.asarray(high, dtype=np.float64), (n,))
    if np.any(high < low):
        raise ValueError(f"each reward's high must be >= its low; got low={low.tolist()} high={high.tolist()}")
    return low, high


@dataclass
class MappingSettings:
    """The mapping settings both modalities share (config section ``inference``, same YAML keys).

    Example:
        >>> MappingSettings(mapping="lp", mapping_p=4).validate()
        >>> MappingSettings(mapping="bogus").validate()
        Traceback (most recent call last):
        ...
        ValueError: inference.mapping must be one of linf, l2, linear, lp, quantile, quantile_linear; got 'bogus'
    """

    mapping: str = "linf"  # linf | l2 | linear | lp | quantile | quantile_linear (module docstring)
    mapping_p: float | None = None  # the p of "lp" (>= 1)
    quantile_levels: list[float] = field(default_factory=lambda: [0.0, 1.0])  # the quantile rules' level range
    # The (low, high) the non-quantile rules map onto, per reward (``target_bounds``): "data" (training min/max),
    # "quantile" (the training quantiles at quantile_levels), "reference" (min/max of 50,000 standard-normal
    # draws per reward, as the paper's released evaluation), or fixed values [low, high] / [[l1, h1], ...].
    target_range: Any = "data"
    # After the mapping, move each preference's targets to the nearest reward vector a training sample had
    # (``project_to_feasible`` on ``RewardStats.support_z``): no target asks for a combination never seen.
    project: bool = False

    def validate(self) -> None:
        """Raise at config load time what would otherwise fail at the first generation."""
        if self.mapping not in METHODS:
            raise ValueError(f"inference.mapping must be one of {', '.join(METHODS)}; got {self.mapping!r}")
        if self.mapping == "lp" and (self.mapping_p is None or not self.mapping_p >= 1):
            raise ValueError(f"inference.mapping=lp needs inference.mapping_p >= 1; got {self.mapping_p}")
        check_levels(self.quantile_levels)
        check_target_range(self.target_range)
        if not isinstance(self.project, bool):
            raise ValueError(f"inference.project must be true or false; got {self.project!r}")

    def targets(
        self,
        stats: RewardStats,
        preference: Sequence[float] | None = None,
        rewards: Sequence[float] | np.ndarray | None = None,
        mapping: str | None = None,
    ) -> np.ndarray:
        """``resolve_targets`` with these settings (``mapping`` overrides the rule for one call); with
        ``project``, a preference's targets are moved to the nearest reward vector seen in training (targets
        given explicitly as ``rewards`` are the caller's and stay as they are)."""
        m = mapping or self.mapping
        args = (stats, preference, rewards, m, self.mapping_p, self.quantile_levels, self.target_range)
        if not self.project or preference is None:
            return resolve_targets(*args)
        with warnings.catch_warnings():  # the projected targets lie in the data, whatever the mapping asked
            warnings.simplefilter("ignore", OutOfSupportWarning)
            z = resolve_targets(*args)
        if stats.support_z is None:
            raise ValueError(
                "inference.project needs the training data's reward vectors, which this checkpoint's "
                "reward_stats.json lacks (saved before they were kept): retrain, or set inference.project=false"
            )
        return project_to_feasible(z, stats.support_z)


def map_preference(
    preference: Sequence[float] | np.ndarray,
    *,
    method: str = "linf",
    low: float | Sequence[float] | None = None,
    high: float | Sequence[float] | None = None,
    stats: RewardStats | None = None,
    p: float | None = None,
    decimals: int | None = 1,
    levels: Sequence[float] = (0.0, 1.0),
) -> np.ndarray:
    """Target (normalised) rewards for a preference, shape (N,).

    The range comes from ``low``/``high`` (scalars or per reward) or, when not given, from the
    training range in ``stats``. The ``quantile`` methods need ``stats`` and read the quantile levels
    ``levels[0] + x * (levels[1] - levels[0])``. ``decimals=1`` rounds as the tags do; ``None`` keeps
    full precision.

    Example (the table in docs/method.md 4.3):
        >>> map_preference([0.7, 0.3], low=-4.2, high=4.2).tolist()
        [4.2, 0.8]
        >>> map_preference([0.7, 0.3], method="l2", low=-4.2, high=4.2).tolist()
        [3.5, -0.9]
    """
    n = None if stats is None else stats.num_rewards
    w = validate_preference(preference, n)
    x = preference_fraction(w, method, p)
    if method in ("quantile", "quantile_linear"):
        if stats is None:
            raise ValueError(f"method {method!r} reads the training distribution: pass stats=RewardStats")
        lo, hi = check_levels(levels)
        targets = stats.z_quantile(lo + x * (hi - lo))
    else:
        lo, hi = _bounds(w.shape[0], low, high, stats)
        targets = lo + x * (hi - lo)
    return targets if decimals is None else np.round(targets, decimals) + 0.0  # + 0.0: never print -0.0


def project_to_feasible(targets: np.ndarray | Sequence[float], feasible: np.ndarray) -> np.ndarray:
    """The reward vector seen in training (rows of ``feasible``, (M, K)) nearest to ``targets`` (K,).

    An optional step after any mapping (not in the paper): the mapping may ask for reward pairs no
    training sample had (the "utopia" corner), which small models answer with malformed outputs.

    Example:
        >>> project_to_feasible([2.0, 2.0], np.array([[2.0, -1.0], [1.0, 1.0], [-1.0, 2.0]])).tolist()
        [1.0, 1.0]
    """
    t = np.asarray(targets, dtype=np.float64)
    pts = np.asarray(feasible, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != t.shape[-1] or pts.shape[0] == 0:
        raise ValueError(f"feasible points must be a non-empty (M, {t.shape[-1]}) array; got shape {pts.shape}")
    return pts[np.argmin(((pts - t) ** 2).sum(axis=1))].copy()


RANGES = ("data", "quantile", "reference")
REFERENCE_DRAWS = 50_000


class OutOfSupportWarning(UserWarning):
    """A target asks for a reward no training sample reached: the model extrapolates."""


def check_target_range(target_range: Any) -> None:
    """Validate ``inference.target_range``: one of RANGES, [low, high], or one [low, high] per reward.

    Example:
        >>> check_target_range([[-1, 1], [0, 2]])
    """
    if isinstance(target_range, str):
        if target_range not in RANGES:
            raise ValueError(
                f"inference.target_range must be one of {', '.join(RANGES)}, [low, high] or [[low, high], ...] "
                f"(one pair per reward); got {target_range!r}"
            )
        return
    try:
        pairs = np.asarray(target_range, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise ValueError(f"inference.target_range: expected [low, high] numbers; got {target_range!r}") from None
    if not np.all(np.isfinite(pairs)) or np.any(pairs[:, 1] < pairs[:, 0]):
        raise ValueError(f"inference.target_range: each pair needs finite low <= high; got {target_range!r}")


def target_bounds(
    stats: RewardStats, target_range: Any = "data", levels: Sequence[float] = (0.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (K,), in normalised units, of a ``target_range`` setting (``MappingSettings``).

    Example:
        >>> from ric_core.stats import RewardStats
        >>> s = RewardStats.from_scores([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0]], ["a", "b"])
        >>> [np.round(b, 2).tolist() for b in target_bounds(s, "reference")]
        [[-4.02, -4.49], [4.73, 4.08]]
    """
    check_target_range(target_range)
    k = stats.num_rewards
    if target_range == "data":
        return np.asarray(stats.z_min, dtype=np.float64), np.asarray(stats.z_max, dtype=np.float64)
    if target_range == "quantile":
        lo, hi = check_levels(levels)
        return stats.z_quantile(np.full(k, lo)), stats.z_quantile(np.full(k, hi))
    if target_range == "reference":  # fixed draws: the same range for every run and machine
        draws = np.random.default_rng(0).standard_normal((REFERENCE_DRAWS, k))
        return draws.min(axis=0), draws.max(axis=0)
    pairs = np.asarray(target_range, dtype=np.float64).reshape(-1, 2)
    if pairs.shape[0] not in (1, k):
        raise ValueError(f"inference.target_range has {pairs.shape[0]} pairs for {k} rewards; give 1 or {k}")
    pairs = np.broadcast_to(pairs, (k, 2))
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def warn_out_of_support(stats: RewardStats, z: np.ndarray, tolerance: float = 0.051) -> None:
    """Warn (``OutOfSupportWarning``) when a target leaves the training data's range [z_min, z_max] by more
    than the tags' rounding (0.05)."""
    lo, hi = np.asarray(stats.z_min), np.asarray(stats.z_max)
    rows = np.atleast_2d(z)
    out = (rows < lo - tolerance) | (rows > hi + tolerance)
    if out.any():
        names = [stats.names[i] for i in np.flatnonzero(out.any(axis=0))]
        warnings.warn(
            f"target rewards {np.round(rows[out.any(axis=1)][0], 2).tolist()} leave the training data's range for "
            f"{', '.join(names)} (z from {np.round(lo, 2).tolist()} to {np.round(hi, 2).tolist()}): no training "
            "sample had them, so the model extrapolates; expect weaker steering and quality",
            OutOfSupportWarning,
            stacklevel=3,
        )


def resolve_targets(
    stats: RewardStats,
    preference: Sequence[float] | None = None,
    rewards: Sequence[float] | np.ndarray | None = None,
    method: str = "linf",
    p: float | None = None,
    levels: Sequence[float] = (0.0, 1.0),
    target_range: Any = "data",
) -> np.ndarray:
    """Targets for generation: explicit normalised ``rewards`` ((K,) or (B, K), rounded like the tags),
    or ``preference`` mapped onto ``target_bounds(stats, target_range, levels)`` (the quantile rules read
    ``levels``: see ``map_preference``). Exactly one must be given. Targets outside the training data's
    range raise an ``OutOfSupportWarning``.

    Example:
        >>> from ric_core.stats import RewardStats
        >>> s = RewardStats.from_scores([[0.0, 0.0], [1.0, 2.0]], ["a", "b"])
        >>> resolve_targets(s, rewards=[0.33, -1.0]).tolist()
        [0.3, -1.0]
    """
    k = stats.num_rewards
    if (preference is None) == (rewards is None):
        raise ValueError("give exactly one of preference=[w1, ...] or rewards=[z1, ...]")
    if rewards is not None:
        z = np.asarray(rewards, dtype=np.float64)
        if z.shape[-1:] != (k,) or z.ndim > 2 or not np.all(np.isfinite(z)):
            raise ValueError(f"rewards must be {k} finite normalised values ({list(stats.names)}); got {rewards}")
        z = np.round(z, 1) + 0.0
    else:
        low, high = (None, None) if method.startswith("quantile") else target_bounds(stats, target_range, levels)
        z = map_preference(preference, method=method, p=p, stats=stats, levels=levels, low=low, high=high)
    warn_out_of_support(stats, z)
    return z
