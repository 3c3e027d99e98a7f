"""Sweep metrics and the demo's artefacts: results.csv, summary.json, pareto.png, grids and tables."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from ric_core.io import atomic_write_json
from ric_core.pareto import hypervolume
from ric_core.stats import RewardStats, spearman


def sweep_metrics(
    w1: np.ndarray, means: np.ndarray, stats: RewardStats, compliance: np.ndarray, ref: np.ndarray
) -> dict[str, Any]:
    """One model's sweep: means (P, K) raw per preference -> Spearman, hypervolume (z units), compliance."""
    z = stats.normalize(means)
    return {
        "mean_rewards": {n: [round(float(v), 6) for v in means[:, k]] for k, n in enumerate(stats.names)},
        "spearman_w1_reward1": round(spearman(w1, means[:, 0]), 6),
        "spearman_w1_reward2": round(spearman(w1, means[:, 1]), 6),
        "hypervolume": round(hypervolume(z, ref), 6),
        "compliance": [round(float(c), 6) for c in compliance],
        "min_compliance": round(float(np.min(compliance)), 6),
    }


def write_results_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    fields = list(dict.fromkeys(k for r in rows for k in r))  # the union, in first-seen order
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)


def plot_pareto(path: Path, worlds: dict[str, dict[str, Any]]) -> None:
    """One panel per world: each model's mean rewards over the preference sweep (normalised units)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(worlds), figsize=(5.5 * len(worlds), 4.6), squeeze=False)
    styles = {"ric": ("o-", "RiC (offline)"), "ric_online": ("s-", "RiC + 1 online iteration"),
              "baseline": ("x:", "unconditioned baseline")}  # fmt: skip
    for ax, (world, info) in zip(axes[0], worlds.items(), strict=True):
        names = info["reward_names"]
        for model, (style, label) in styles.items():
            if model not in info["models"]:
                continue
            m = info["models"][model]
            z = np.array(m["mean_rewards_z"])
            ax.plot(z[:, 0], z[:, 1], style, label=f"{label} (HV {m['hypervolume']:.2f})")
            if model == "ric_online":
                for (x, y), w in zip(z, info["w1"], strict=True):
                    ax.annotate(f"{w:.1f}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"{names[0]} (normalised)")
        ax.set_ylabel(f"{names[1]} (normalised)")
        ax.set_title(f"{world} world: mean reward per preference (labels: w1)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def image_grid(path: Path, images: list[list[Any]], scale: int = 4) -> None:
    """Rows = preferences, columns = prompts; nearest-neighbour upscaled so small images are visible."""
    from PIL import Image

    rows = [np.concatenate([np.asarray(im.convert("RGB")) for im in row], axis=1) for row in images]
    grid = np.concatenate(rows, axis=0)
    img = Image.fromarray(grid)
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(path)


def text_table(path: Path, w1: np.ndarray, samples: list[list[str]], means: np.ndarray, names: tuple[str, ...]) -> None:
    lines = [f"| w1 | mean {names[0]} | mean {names[1]} | sample |", "|---|---|---|---|"]
    for w, row, m in zip(w1, samples, means, strict=True):
        lines.append(f"| {w:.1f} | {m[0]:.2f} | {m[1]:.2f} | {row[0].replace('|', '/')} |")
    path.write_text("\n".join(lines) + "\n")


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    atomic_write_json(path, summary)
