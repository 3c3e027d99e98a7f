"""``summary.json``: the one schema every sweep writes, computed from ``results.csv`` alone.

Per model and preference: the number of cells, mean and standard error of each reward (raw units).
Per model: the Pareto set of the per-preference means, its exact hypervolume (raw reward units, all
objectives maximised) against the file's ``reference_point``, how well the sliders steer (Spearman
between each reward's weight and its mean), the training compute when known, and any quality
measures a world adds (:func:`add_quality`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ric_core.pareto import hypervolume, non_dominated
from ric_eval.steering import steering
from ric_eval.table import parse_key

SCHEMA = "ric-sweep-summary/1"
DEFAULT_REFERENCE = "the worst mean over all models minus 10% of the range of the means, per reward"


def _per_preference(rows: list[dict[str, Any]], model: str, names: list[str]) -> dict[str, Any]:
    prefs = {}
    keys = dict.fromkeys(r["preference"] for r in rows if r["model"] == model)
    for pref in sorted(keys, key=lambda k: [-x for x in parse_key(k)]):  # w1 descending, as the grid
        vals = np.array([[r[n] for n in names] for r in rows if r["model"] == model and r["preference"] == pref])
        n = len(vals)
        se = vals.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(names))
        prefs[pref] = {
            "n": n,
            "mean": dict(zip(names, vals.mean(0).round(6).tolist(), strict=True)),
            "stderr": dict(zip(names, se.round(6).tolist(), strict=True)),
        }
    return prefs


def default_reference(means: dict[str, np.ndarray], num_rewards: int) -> np.ndarray:
    """The worst mean over all models minus 10% of the range (1 where the range is 0), per reward."""
    allm = np.concatenate(list(means.values())) if means else np.zeros((1, num_rewards))
    lo, hi = allm.min(0), allm.max(0)
    return lo - 0.1 * np.where(hi > lo, hi - lo, 1.0)


def summarise(
    rows: list[dict[str, Any]],
    reward_names: Sequence[str],
    ref: Sequence[float] | None = None,
    compute: dict[str, dict[str, Any] | None] | None = None,
    ref_rule: str | None = None,
) -> dict[str, Any]:
    """The sweep's summary from its rows (see the module docstring for the schema).

    ``ref`` (raw reward units) defaults to :func:`default_reference`, so every model is measured
    against the same point; ``ref_rule`` says in words where a given ``ref`` came from.

    Example:
        >>> rows = [{"model": "m", "preference": p, "r1": a, "r2": b}
        ...         for p, a, b in [("1,0", 2.0, 0.0), ("0,1", 0.0, 2.0), ("0.5,0.5", 1.0, 1.0)]]
        >>> s = summarise(rows, ["r1", "r2"], ref=[-1, -1])
        >>> s["models"]["m"]["hypervolume"], s["models"]["m"]["steering"]
        (6.0, {'r1': 1.0, 'r2': 1.0})
    """
    names = list(reward_names)
    models = {m: {"preferences": _per_preference(rows, m, names)} for m in dict.fromkeys(r["model"] for r in rows)}
    means = {m: np.array([[p["mean"][n] for n in names] for p in v["preferences"].values()]) for m, v in models.items()}
    rule = ref_rule or ("given" if ref is not None else DEFAULT_REFERENCE)
    ref = np.asarray(default_reference(means, len(names)) if ref is None else ref, dtype=np.float64)
    for model, info in models.items():
        pts, keys = means[model], list(info["preferences"])
        mask = non_dominated(pts)
        info["pareto_set"] = [
            {"preference": k, "mean": pts[i].round(6).tolist()} for i, k in enumerate(keys) if mask[i]
        ]
        info["hypervolume"] = round(hypervolume(pts, ref), 6)
        info["steering"] = steering(info["preferences"], names)
        info["compute"] = (compute or {}).get(model)  # None: not recorded (a base model)
    return {
        "schema": SCHEMA,
        "reward_names": names,
        "hypervolume_units": "raw rewards (every objective maximised)",
        "reference_point": ref.round(6).tolist(),
        "reference_point_rule": rule,
        "models": models,
    }


def add_quality(
    summary: dict[str, Any],
    rows: list[dict[str, Any]],
    measure: str,
    description: str,
    per_row: Callable[[list[dict[str, Any]]], Sequence[float]],
) -> None:
    """Add a quality measure (a share in [0, 1] per row, e.g. caption compliance) to every model:
    its mean over all cells, per preference, and its worst preference. ``per_row(rows)`` scores rows
    of one (model, preference) group."""
    summary.setdefault("quality_measures", {})[measure] = description
    for name, m in summary["models"].items():
        per_pref = {}
        total, count = 0.0, 0
        for key in m["preferences"]:
            sel = [r for r in rows if r["model"] == name and r["preference"] == key]
            vals = np.asarray(per_row(sel), dtype=np.float64)
            per_pref[key] = round(float(vals.mean()), 6)
            total, count = total + float(vals.sum()), count + len(vals)
        m.setdefault("quality", {})[measure] = {
            "mean": round(total / max(count, 1), 6),
            "worst_preference": min(per_pref.values()),
            "per_preference": per_pref,
        }
