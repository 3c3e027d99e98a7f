"""The demo's own artefacts, read from the shared sweep's files: image grid, text samples, table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ric_eval.table import ResultsTable


def _first_per_preference(folder: Path, summary: dict[str, Any], model: str) -> dict[str, list[dict[str, Any]]]:
    """Rows of ``model`` per preference (grid order), first seed and sample, by prompt index."""
    rows = ResultsTable(folder / "results.csv", summary["reward_names"]).rows()
    out = {}
    for key in summary["models"][model]["preferences"]:
        sel = [r for r in rows if r["model"] == model and r["preference"] == key and r["sample"] == 0]
        out[key] = sorted(sel, key=lambda r: r["prompt_index"])
    return out


def image_grid(path: Path, folder: Path, summary: dict[str, Any], model: str = "ric_online", scale: int = 4) -> None:
    """Rows = preferences (w1 = 1 at the top), columns = held-out captions; nearest-neighbour upscaled."""
    from PIL import Image

    per_pref = _first_per_preference(folder, summary, model)
    rows = [
        np.concatenate([np.asarray(Image.open(folder / r["output"]).convert("RGB")) for r in sel], axis=1)
        for sel in per_pref.values()
    ]
    img = Image.fromarray(np.concatenate(rows, axis=0))
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(path)


def text_samples(path: Path, folder: Path, summary: dict[str, Any], model: str = "ric_online") -> None:
    """One sample per preference (the first product) with the preference's mean rewards."""
    names = summary["reward_names"]
    lines = [f"| w1 | mean {names[0]} | mean {names[1]} | sample |", "|---|---|---|---|"]
    for key, sel in _first_per_preference(folder, summary, model).items():
        mean = summary["models"][model]["preferences"][key]["mean"]
        text = sel[0]["output"].replace("|", "/").replace("\n", " ")
        lines.append(f"| {key.split(',')[0]} | {mean[names[0]]:.2f} | {mean[names[1]]:.2f} | {text} |")
    path.write_text("\n".join(lines) + "\n")


def table_rows(worlds: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per world and model: steering per reward, hypervolume, worst-preference quality."""
    out = []
    for world, s in worlds.items():
        quality = next(iter(s.get("quality_measures", {})), None)
        for model, m in s["models"].items():
            rho = [m["steering"][n] for n in s["reward_names"]]
            q = m.get("quality", {}).get(quality, {}) if quality else {}
            out.append(
                {
                    "world": world,
                    "model": model,
                    "spearman": rho,
                    "hypervolume": m["hypervolume"],
                    "quality": quality,
                    "worst_quality": q.get("worst_preference"),
                }
            )
    return out


def print_table(worlds: dict[str, dict[str, Any]], out: Path) -> None:
    print(f"\n {'world':6s} {'model':11s} {'spearman(w_k, r_k)':>20s} {'hypervolume':>12s}  worst-preference quality")
    for r in table_rows(worlds):
        rho = " / ".join("-" if x is None else f"{x:.3f}" for x in r["spearman"])
        q = "-" if r["worst_quality"] is None else f"{r['worst_quality']:.3f} ({r['quality']})"
        print(f" {r['world']:6s} {r['model']:11s} {rho:>20s} {r['hypervolume']:12.4g}  {q}")
    print("\nhypervolume: raw reward units, against each world's reference point (summary.json)")
    print(f"artefacts in {out}: summary.json, pareto.png, image_grid.png, text_samples.md; per world results.csv")
