"""Target rewards for online generation (docs/method.md section 3, `sample_goals`).

The paper's sampler gives each prompt one objective drawn uniformly in its range and puts every
other objective at its maximum: the same family of targets the `linf` mapping produces at
inference, so online data lands where users will later ask for samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STRATEGIES = ("paper", "uniform")


def gaussian_reference_range(num_draws: int = 100_000, seed: int = 8888, decimals: int = 1) -> tuple[float, float]:
    """The reference code's (low, high): min and max of standard-normal draws (about -4.4, 4.4).

    Example:
        >>> lo, hi = gaussian_reference_range()
        >>> -5 < lo < -3.5 and 3.5 < hi < 5
        True
    """
    draws = np.random.default_rng(seed).standard_normal(num_draws)
    return round(float(draws.min()), decimals), round(float(draws.max()), decimals)


def sample_online_targets(
    num_prompts: int,
    low: float | Sequence[float],
    high: float | Sequence[float],
    num_rewards: int | None = None,
    strategy: str = "paper",
    rng: np.random.Generator | int | None = None,
    decimals: int | None = 1,
) -> np.ndarray:
    """Targets for ``num_prompts`` generations, shape (num_prompts, K).

    ``paper``: draw K uniform fractions u per prompt; the objective with the smallest u gets
    low + u (high - low), all others get high (with equal ranges this is the reference code's "keep
    the smallest draw, set the rest to high"). ``uniform``: every objective drawn independently.

    Example:
        >>> t = sample_online_targets(4, low=-2.0, high=2.0, num_rewards=3, rng=0)
        >>> t.shape, bool(((t == 2.0).sum(axis=1) >= 2).all())
        ((4, 3), True)
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown target strategy {strategy!r}; choose one of {STRATEGIES}")
    lo, hi = np.atleast_1d(np.asarray(low, dtype=np.float64)), np.atleast_1d(np.asarray(high, dtype=np.float64))
    k = num_rewards or max(lo.size, hi.size)
    if k < 2:
        raise ValueError("online targets need at least 2 rewards; pass num_rewards or per-reward low/high")
    lo, hi = np.broadcast_to(lo, (k,)), np.broadcast_to(hi, (k,))
    if np.any(hi < lo):
        raise ValueError(f"each reward's high must be >= its low; got low={lo.tolist()} high={hi.tolist()}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    u = rng.uniform(size=(num_prompts, k))  # (M, K) fractions of each range
    if strategy == "paper":
        varied = np.argmin(u, axis=1)  # (M,) the one objective that is not at its maximum
        frac = np.ones_like(u)
        frac[np.arange(num_prompts), varied] = u[np.arange(num_prompts), varied]
    else:
        frac = u
    targets = lo + frac * (hi - lo)
    return targets if decimals is None else np.round(targets, decimals)
