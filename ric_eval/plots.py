"""``pareto.png``: every model's mean rewards per preference, its Pareto set, and RiC's targets."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


def plot_fronts(
    path: str | os.PathLike, summary: dict[str, Any], rows: list[dict[str, Any]] | None = None, title: str = ""
) -> None:
    """All models on one plot (first two rewards); see :func:`draw_fronts`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    draw_fronts(ax, summary, rows, title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_panels(path: str | os.PathLike, summaries: dict[str, dict[str, Any]]) -> None:
    """One panel per sweep (e.g. per demo world), side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summaries), figsize=(6.5 * len(summaries), 5), squeeze=False)
    for ax, (name, summary) in zip(axes[0], summaries.items(), strict=True):
        draw_fronts(ax, summary, title=f"{name}: mean reward per preference (rings: Pareto set)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_fronts(ax: Any, summary: dict[str, Any], rows: list[dict[str, Any]] | None = None, title: str = "") -> None:
    """Mean obtained rewards per preference for every model (labels: w1 on the first model), its
    Pareto set ringed; where rows carry targets (RiC), the targets as faint crosses joined to what
    was obtained."""
    names = summary["reward_names"]
    for i, (model, info) in enumerate(summary["models"].items()):
        colour = f"C{i % 10}"
        pts = np.array([[p["mean"][n] for n in names[:2]] for p in info["preferences"].values()])
        label = f"{model} (HV {info['hypervolume']:.3g}"
        label += f", {info['compute']['samples']} samples)" if info.get("compute") else ")"
        ax.plot(pts[:, 0], pts[:, 1], "o-", color=colour, ms=4, lw=1, label=label)
        front = np.array([p["mean"][:2] for p in info["pareto_set"]])
        ax.scatter(front[:, 0], front[:, 1], s=60, facecolors="none", edgecolors=colour)
        if i == 0:
            for (x, y), key in zip(pts, info["preferences"], strict=True):
                ax.annotate(key.split(",")[0], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
        for target, obtained in _targets(model, info, rows or [], names):
            ax.plot(*zip(target, obtained, strict=True), color=colour, alpha=0.25, lw=0.8)
            ax.scatter(*target, marker="x", color=colour, alpha=0.35, s=18)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1] if len(names) > 1 else "")
    ax.set_title(title or "mean reward per preference (rings: Pareto set; x: targets)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _targets(model: str, info: dict[str, Any], rows: list[dict[str, Any]], names: Sequence[str]) -> Iterator:
    """(mean raw target (2,), mean obtained (2,)) per preference where rows carry targets for both
    plotted rewards."""
    if len(names) < 2:
        return
    for pref, p in info["preferences"].items():
        sel = [r for r in rows if r["model"] == model and r["preference"] == pref and r["targets"]]
        ts = [json.loads(r["targets"]) for r in sel]
        ts = [[t[n] for n in names[:2]] for t in ts if all(n in t for n in names[:2])]
        if ts:
            yield np.mean(np.array(ts), axis=0), [p["mean"][n] for n in names[:2]]
