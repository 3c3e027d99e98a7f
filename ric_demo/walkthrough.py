"""A two-minute tour of the RiC core on synthetic rewards: ``python -m ric_demo.walkthrough``.

No model is trained here. An offline pool of (reward 1, reward 2) pairs with a real trade-off
stands in for a relabelled dataset, and a *simulated* policy stands in for a RiC model: it lands
near the targets written in its prompt, but never beyond the pool's Pareto front. This exercises
every piece of the core (statistics, tags, mapping, online targets, MORS, hypervolume) end to end;
the real pipelines on models live in ``ric_diffusion`` and ``ric_text``.
"""

from __future__ import annotations

import argparse

import numpy as np

from ric_core.grids import paper_grid
from ric_core.mapping import map_preference
from ric_core.mors import mors
from ric_core.online_targets import sample_online_targets
from ric_core.pareto import hypervolume
from ric_core.stats import RewardStats
from ric_core.tags import format_tags


def make_pool(n: int, rng: np.random.Generator) -> np.ndarray:
    """Raw (n, 2) rewards in different units, with a concave front: r1 ~ cos(a), r2 ~ sin(a)."""
    angle = rng.uniform(0, np.pi / 2, n)
    radius = rng.beta(4, 2, n)  # most samples sit inside the front, few on it
    return np.column_stack([7.0 * radius * np.cos(angle) + 1.0, -3.0 + 2.0 * radius * np.sin(angle)])


def simulated_policy(targets_z: np.ndarray, front_z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Aim at the targets, then fall back along the ray towards the pool's centre until feasible."""
    noisy = targets_z + rng.normal(0, 0.3, targets_z.shape)
    out = np.empty_like(noisy)
    for i, t in enumerate(noisy):
        for shrink in np.linspace(1.0, 0.0, 101):
            if not np.any(np.all(front_z >= t * shrink, axis=1)):
                continue
            out[i] = t * shrink
            break
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=4000, help="size of the synthetic offline pool")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    raw = make_pool(args.samples, rng)
    stats = RewardStats.from_scores(raw, ["aesthetic_like", "compressibility_like"])
    z = stats.normalize(raw)
    print(f"1. statistics over {stats.count} samples (raw units)")
    for k, name in enumerate(stats.names):
        lo, hi = stats.z_min[k], stats.z_max[k]
        print(f"   {name:22s} mean {stats.mean[k]:7.3f}  std {stats.std[k]:6.3f}  z-range [{lo:.2f}, {hi:.2f}]")
    print("2. conditioning tags for the first samples")
    for row in z[:3]:
        print(f"   ... {format_tags(row)} ...")

    print("3. preference -> targets (z-units, training range)")
    print("   w1    linf           l2             quantile")
    for w in paper_grid(2)[::2]:
        cells = [map_preference(w, method=m, stats=stats) for m in ("linf", "l2", "quantile")]
        print(f"   {w[0]:.1f}  " + "  ".join(f"({c[0]:5.1f},{c[1]:5.1f})" for c in cells))

    online_targets = sample_online_targets(1000, stats.z_min, stats.z_max, rng=rng)
    generated = simulated_policy(online_targets, z, rng)
    kept = mors(generated, quantile=0.7)
    print(f"4. online: 1000 generations at sampled targets; MORS (q=0.7) keeps {kept.fraction_kept:.0%}")

    ref = z.min(axis=0) - 0.1
    # One point per preference: the mean of 64 simulated samples at that preference's targets.
    sweep = np.array(
        [simulated_policy(np.tile(map_preference(w, stats=stats), (64, 1)), z, rng).mean(0) for w in paper_grid(2)]
    )
    unconditioned = z[rng.choice(len(z), (11, 64))].mean(axis=1)
    hv_ric, hv_base = hypervolume(sweep, ref), hypervolume(unconditioned, ref)
    print(f"5. hypervolume over 11 preferences (ref {np.round(ref, 2).tolist()}):")
    print(f"   simulated RiC policy {hv_ric:.3f}  vs  unconditioned sampling {hv_base:.3f}")
    return {"fraction_kept": kept.fraction_kept, "hv_ric": hv_ric, "hv_base": hv_base}


if __name__ == "__main__":
    main()
