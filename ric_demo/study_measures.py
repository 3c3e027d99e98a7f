"""What ``ric study`` reads off a finished sweep, and the table and plot it writes (mean +- sd over seeds)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

QUALITY = {"image": "compliance", "text": "well_formed"}
MAX_OBJECTIVES = 5  # per-objective columns r1..r5 (NaN past a setting's N)
COLUMNS = {
    "hypervolume": "hypervolume",
    "hv_side": "normalised HV side",
    "spearman": "steering (Spearman)",
    "spearman_min": "worst objective's Spearman",
    **{f"spearman_r{k}": f"Spearman r{k}" for k in range(1, 6)},
    "separation": "separation (z)",
    "data_corr": "data correlation",
    "mors_acceptance": "MORS acceptance",
    "hv_raised": "share of seeds where it beats offline HV",
    "quality": "quality",
    "target_error_z": "|target - obtained| (z)",
    "reach": "reach (best mean / data max, worst reward)",
    "targets_outside": "targets outside the data",
}


def hv_side(means_z: np.ndarray, z_min: np.ndarray, z_max: np.ndarray) -> float:
    """Hypervolume of the per-preference means (P, N) with every reward scaled to the training data's
    [min, max] (0..1), against the origin, to the power 1/N: the side of the cube of equal volume, so
    N = 2..5 compare (1: the data's best of every reward at once; 0: nothing above the data's minima)."""
    from ric_core.pareto import hypervolume

    unit = np.clip((means_z - z_min) / np.maximum(z_max - z_min, 1e-9), 0.0, None)
    return hypervolume(unit, np.zeros(unit.shape[1])) ** (1.0 / unit.shape[1])


def path_spearman(prefs: dict[str, Any], names: list[str]) -> list[float]:
    """Per objective k, Spearman(w_k, mean reward k) along the path from one-hot k to uniform (the
    preferences whose other weights are equal and w_k >= 1/N) for N > 2; over all preferences for N = 2
    (the paper's grid is itself the path between the two one-hot ends)."""
    from ric_eval.steering import spearman
    from ric_eval.table import parse_key

    keys = list(prefs)
    w = np.array([parse_key(k) for k in keys])
    out = []
    for k, name in enumerate(names):
        others = np.delete(w, k, axis=1)
        on_path = np.isclose(others.std(axis=1), 0) & (w[:, k] >= 1 / len(names) - 1e-9)
        idx = np.flatnonzero(on_path) if len(names) > 2 and on_path.sum() >= 3 else np.arange(len(keys))
        out.append(float(spearman(w[idx, k], [prefs[keys[i]]["mean"][name] for i in idx])))
    return out


def separation(prefs: dict[str, Any], names: list[str], stats: Any) -> float:
    """How far each one-hot end wins its own reward over the other ends (z units, mean over rewards)."""
    from ric_eval.table import parse_key

    w = {k: np.array(parse_key(k)) for k in prefs}
    means = {k: stats.normalize(np.array([[prefs[k]["mean"][n] for n in names]]))[0] for k in prefs}
    gaps = []
    for k in range(len(names)):
        mine = [means[p][k] for p, v in w.items() if np.isclose(v[k], 1)]
        rest = [means[p][k] for p, v in w.items() if np.isclose(v.max(), 1) and not np.isclose(v[k], 1)]
        if mine and rest:
            gaps.append(np.mean(mine) - np.mean(rest))
    return float(np.mean(gaps)) if gaps else float("nan")


def cell_measures(folder: Path, world: str) -> dict[str, dict[str, float]]:
    """Per setting: hypervolume (raw and normalised), steering, separation, quality, |target - obtained| and
    reach (z units), the share of targets outside the training data's range, MORS acceptance and the
    training data's reward correlation (both from ``done.json``)."""
    from ric_core.stats import RewardStats
    from ric_eval.table import ResultsTable

    summary = json.loads((folder / "summary.json").read_text())
    names, done = summary["reward_names"], json.loads((folder / "done.json").read_text())
    stats = RewardStats.load(done["checkpoint"])
    rows = ResultsTable(folder / "results.csv", names).rows()
    z_min, z_max = np.asarray(stats.z_min), np.asarray(stats.z_max)
    out = {}
    for model, m in summary["models"].items():
        mine = [r for r in rows if r["model"] == model and r["targets"]]
        target = stats.normalize(np.array([[json.loads(r["targets"])[n] for n in names] for r in mine]))
        got = stats.normalize(np.array([[r[n] for n in names] for r in mine]))
        prefs = m["preferences"]
        means = stats.normalize(np.array([[p["mean"][n] for n in names] for p in prefs.values()]))
        outside = (target < z_min - 0.051) | (target > z_max + 0.051)
        rho = path_spearman(prefs, names)
        out[model] = {
            "hypervolume": m["hypervolume"],
            "hv_side": hv_side(means, z_min, z_max),
            "spearman": float(np.mean(rho)),
            "spearman_min": float(np.min(rho)),
            **{f"spearman_r{k + 1}": rho[k] if k < len(rho) else float("nan") for k in range(MAX_OBJECTIVES)},
            "separation": separation(prefs, names, stats),
            "quality": m["quality"][QUALITY[world]]["mean"],
            "target_error_z": float(np.abs(target - got).mean()),
            "reach": float(np.min(means.max(axis=0) / z_max)),
            "targets_outside": float(outside.any(axis=1).mean()),
            "mors_acceptance": done.get("mors_acceptance", {}).get(model, float("nan")),
            "data_corr": done.get("data_corr", float("nan")),
        }
    return out


def compare_to_offline(cell: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``hv_raised``: 1 where a setting's hypervolume beats the cell's "offline" model's (same seed), else 0;
    averaged over seeds it is the share of seeds where online raised the hypervolume. NaN without "offline"."""
    base = cell.get("offline", {}).get("hypervolume")
    for measures in cell.values():
        measures["hv_raised"] = float("nan") if base is None else float(measures["hypervolume"] > base)
    return cell


def aggregate(cells: dict[tuple[str, int], dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, list]]]:
    """{world: {setting: {measure: [value per seed]}}}."""
    out: dict[str, dict[str, dict[str, list]]] = {}
    for (world, _seed), per_setting in sorted(cells.items()):
        for setting, measures in per_setting.items():
            slot = out.setdefault(world, {}).setdefault(setting, {})
            for k, v in measures.items():
                slot.setdefault(k, []).append(v)
    return out


def run_line(command: str, seeds: list[int], quick: bool, seconds: float) -> str:
    """The line under a study's title: the command, the machine, the date, the seeds and the wall time."""
    return (
        f"`{command}` on {os.cpu_count()} CPU cores (no GPU), {time.strftime('%Y-%m-%d')}; seeds {seeds}"
        f"{' (--quick: smoke size, not a result)' if quick else ''}; this run's wall time {seconds / 60:.1f} min "
        "(finished cells are read back, not redone; `python -m ric_demo.study_cost` sums what every part cost)."
    )


def markdown(
    study: str, table: dict, columns: tuple[str, ...], seeds: list[int], quick: bool, seconds: float, command: str
) -> str:
    lines = [
        f"# Study: {study}",
        "",
        run_line(command, seeds, quick, seconds),
        "Each cell: mean +- sd over the seeds (a world's RiC after its preset's online stage, swept over the",
        "preferences of its grid). Quality: caption compliance (image), well-formed reviews (text).",
        "",
    ]
    for world, per_setting in table.items():
        lines += [f"## {world} world", "", "| setting | " + " | ".join(COLUMNS[c] for c in columns) + " |"]
        lines.append("|---" * (len(columns) + 1) + "|")
        for setting, m in per_setting.items():
            cells = ["–" if np.isnan(m[k]).all() else f"{np.mean(m[k]):.3g} +- {np.std(m[k]):.2g}" for k in columns]
            lines.append(f"| {setting} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(path: Path, study: str, table: dict, measure: str = "hypervolume") -> None:
    """Per world, ``measure`` per setting (bars, +- sd over seeds) and quality (red line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(6 * len(table), 4), squeeze=False)
    for ax, (world, per_setting) in zip(axes[0], table.items(), strict=True):
        names = list(per_setting)
        value = [np.mean(per_setting[n][measure]) for n in names]
        sd = [np.std(per_setting[n][measure]) for n in names]
        ax.bar(range(len(names)), value, yerr=sd, color="tab:blue", alpha=0.8, capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_ylabel(COLUMNS[measure] + (" (raw rewards)" if measure == "hypervolume" else ""))
        ax2 = ax.twinx()
        ax2.plot(range(len(names)), [np.mean(per_setting[n]["quality"]) for n in names], "o-", color="tab:red")
        ax2.set_ylabel("quality", color="tab:red")
        ax2.set_ylim(0, 1.05)
        ax.set_title(f"{study}: {world} world")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
