"""``ric study NAME``: open questions of the RiC paper answered with measurements on the demo worlds.

    ric study mapping [--quick] [--seeds 0 1 2] [--worlds image text] [--out runs/study] [--docs docs/study]

Built so far (issue #20 lists the rest: objectives, correlation, mors, compute):

- ``mapping``: the preference-to-target rules (linf, l2, linear, lp with p in 1/2/4/8, quantile,
  quantile_linear) and the range they map onto (the training data's, or the paper evaluation's reference
  range of 50,000 standard-normal draws): hypervolume, steering (Spearman), distance from target to
  obtained, quality.
- ``ood``: targets beyond the training range (the data range stretched 1.5x and 2x about its centre) and
  prompts seen vs unseen in the RiC fine-tune: what is obtained (reach: the best mean per reward, in units
  of the data's maximum), hypervolume, quality, and the share of targets the toolkit warns about.

Each (world, seed) trains RiC once (offline + one online iteration with the demo's presets, cached under
``--out/models``) and sweeps it once per setting, all settings in one resumable sweep (a model spec
``CKPT?mapping=...`` per setting); a finished sweep is not redone, so a study can run in parts. The table
(mean +- sd over seeds) and the plot are written from the sweeps into ``--docs/<study>.md`` / ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ric_demo import settings
from ric_demo.settings import stage
from ric_runtime.config import console
from ric_runtime.io import atomic_write_json, atomic_write_text

QUALITY = {"image": "compliance", "text": "well_formed"}


@dataclass(frozen=True)
class Setting:
    name: str
    overrides: Callable[[Any], str]  # RewardStats of the checkpoint -> the spec's "?..." part ("" for none)
    prompts: str = "unseen"  # "unseen" (held out of the fine-tune) or "seen"


def _fixed(name: str, **query: Any) -> Setting:
    text = "&".join(f"{k}={v}" for k, v in query.items())
    return Setting(name, lambda stats: text)


def _stretched(name: str, factor: float, prompts: str = "unseen") -> Setting:
    """linf onto the data's z range stretched ``factor`` times about its centre (1.0: the data's own)."""

    def query(stats: Any) -> str:
        lo, hi = np.asarray(stats.z_min), np.asarray(stats.z_max)
        mid, half = (lo + hi) / 2, factor * (hi - lo) / 2
        pairs = [[round(float(m - h), 3), round(float(m + h), 3)] for m, h in zip(mid, half, strict=True)]
        return f"mapping=linf&target_range={json.dumps(pairs)}"

    return Setting(name, query, prompts)


def mapping_settings(quick: bool) -> list[Setting]:
    full = [
        _fixed("linf", mapping="linf"),
        _fixed("l2", mapping="l2"),
        _fixed("linear", mapping="linear"),
        *[_fixed(f"lp{p}", mapping="lp", mapping_p=p) for p in (1, 2, 4, 8)],
        _fixed("quantile", mapping="quantile", quantile_levels="[0, 1]"),
        _fixed("quantile_linear", mapping="quantile_linear", quantile_levels="[0, 1]"),
        _fixed("linf_reference", mapping="linf", target_range="reference"),
        _fixed("l2_reference", mapping="l2", target_range="reference"),
    ]
    return [s for s in full if s.name in ("linf", "l2", "quantile_linear", "l2_reference")] if quick else full


def ood_settings(quick: bool) -> list[Setting]:
    full = [
        _stretched("range_1x", 1.0),
        _stretched("range_1.5x", 1.5),
        _stretched("range_2x", 2.0),
        _stretched("range_1x_seen_prompts", 1.0, "seen"),
    ]
    return full[:2] + full[3:] if quick else full


STUDIES: dict[str, Callable[[bool], list[Setting]]] = {"mapping": mapping_settings, "ood": ood_settings}


def ric_checkpoint(world: str, out: Path, seed: int, quick: bool) -> Path:
    """RiC after one online iteration for (world, seed), trained once with the demo's presets."""
    root = out / "models" / f"s{seed}{'_quick' if quick else ''}"
    if world == "image":
        from ric_demo import image_demo
        from ric_demo.image_world import build_dataset
        from ric_diffusion.train import train

        ckpt = image_demo.image_models(root, quick)["ric_online"]
        if not ckpt.is_dir():
            s, cache = settings.world_settings("image", quick), settings.world_dir(out, "image", seed, quick)
            image_demo.base_model(cache, build_dataset(cache, s["images"], seed), seed, s["pretrain_steps"])
            stage(f"study: RiC in the image world, seed {seed}")
            train(image_demo.base_args(cache, seed, quick, f"train.output_dir={root / 'image' / 'ric'}"))
        return ckpt
    from ric_demo import text_demo
    from ric_demo.text_world import build_world
    from ric_text.train import train

    ckpt = text_demo.text_models(root, quick)["ric_online"]
    if not ckpt.is_dir():
        world_data = build_world(settings.world_dir(out, "text", seed, quick), seed, quick)
        stage(f"study: RiC in the text world, seed {seed}")
        train(text_demo.base_args(world_data, seed, quick, f"train.output_dir={root / 'text' / 'ric'}"))
    return ckpt


def seen_prompts(world: str) -> list[str]:
    """Prompts of the RiC fine-tune (as many as the held-out set), for the seen-vs-unseen comparison."""
    if world == "image":
        from ric_demo.image_world import BACKGROUNDS, COLOURS, HELD_OUT, SHAPES, caption

        combos = [(c, s, b) for c in COLOURS for s in SHAPES for b in BACKGROUNDS if (c, s, b) not in HELD_OUT]
        return [caption(*c) for c in combos[:: max(1, len(combos) // len(HELD_OUT))][: len(HELD_OUT)]]
    from ric_demo.text_world import HELD_OUT, PRODUCTS

    return [p for p in PRODUCTS if p not in HELD_OUT][: len(HELD_OUT)]


def sweep_cell(world: str, study: str, prompts: str, settings_: list[Setting], out: Path, seed: int, quick: bool):
    """One sweep of every setting (one prompt set) for (world, seed); skipped when its summary exists."""
    from ric_core.stats import RewardStats

    folder = out / study / world / f"s{seed}{'_quick' if quick else ''}" / prompts
    if (folder / "done.json").exists():
        return folder
    ckpt = ric_checkpoint(world, out, seed, quick)
    stats = RewardStats.load(ckpt)
    models = {}
    for s in settings_:
        query = s.overrides(stats)
        models[s.name] = f"{ckpt}?{query}" if query else str(ckpt)
    if world == "image":
        from ric_demo.image_demo import sweep_image

        seen = seen_prompts(world) if prompts == "seen" else None
        sweep_image(out, models, seed, quick, folder, captions=seen, reference=ckpt)
    else:
        from ric_demo.text_demo import sweep_text

        seen = seen_prompts(world) if prompts == "seen" else None
        sweep_text(out, models, seed, quick, folder, products=seen, reference=ckpt)
    atomic_write_json(folder / "done.json", {"checkpoint": str(ckpt), "settings": list(models)})
    return folder


def cell_measures(folder: Path, world: str) -> dict[str, dict[str, float]]:
    """Per setting: hypervolume, mean steering Spearman, quality, |target - obtained| and reach (z units),
    and the share of targets outside the training data's range."""
    from ric_core.stats import RewardStats
    from ric_eval.table import ResultsTable

    summary = json.loads((folder / "summary.json").read_text())
    names = summary["reward_names"]
    stats = RewardStats.load(json.loads((folder / "done.json").read_text())["checkpoint"])
    rows = ResultsTable(folder / "results.csv", names).rows()
    out = {}
    for model, m in summary["models"].items():
        mine = [r for r in rows if r["model"] == model and r["targets"]]
        target = stats.normalize(np.array([[json.loads(r["targets"])[n] for n in names] for r in mine]))
        got = stats.normalize(np.array([[r[n] for n in names] for r in mine]))
        means = stats.normalize(np.array([[p["mean"][n] for n in names] for p in m["preferences"].values()]))
        outside = (target < np.asarray(stats.z_min) - 0.051) | (target > np.asarray(stats.z_max) + 0.051)
        out[model] = {
            "hypervolume": m["hypervolume"],
            "spearman": float(np.mean(list(m["steering"].values()))),
            "quality": m["quality"][QUALITY[world]]["mean"],
            "target_error_z": float(np.abs(target - got).mean()),
            "reach": float(np.min(means.max(axis=0) / np.asarray(stats.z_max))),
            "targets_outside": float(outside.any(axis=1).mean()),
        }
    return out


COLUMNS = {
    "hypervolume": "hypervolume",
    "spearman": "steering (Spearman)",
    "quality": "quality",
    "target_error_z": "|target - obtained| (z)",
    "reach": "reach (best mean / data max, worst reward)",
    "targets_outside": "targets outside the data",
}


def aggregate(cells: dict[tuple[str, int], dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, list]]]:
    """{world: {setting: {measure: [value per seed]}}}."""
    out: dict[str, dict[str, dict[str, list]]] = {}
    for (world, _seed), per_setting in sorted(cells.items()):
        for setting, measures in per_setting.items():
            slot = out.setdefault(world, {}).setdefault(setting, {})
            for k, v in measures.items():
                slot.setdefault(k, []).append(v)
    return out


def markdown(study: str, table: dict, seeds: list[int], quick: bool, seconds: float, command: str) -> str:
    lines = [
        f"# Study: {study}",
        "",
        f"`{command}` on {os.cpu_count()} CPU cores (no GPU), {time.strftime('%Y-%m-%d')}; seeds {seeds}"
        f"{' (--quick: smoke size, not a result)' if quick else ''}; this run's wall time {seconds / 60:.1f} min.",
        "Each cell: mean +- sd over the seeds (a world's RiC after one online iteration, swept over the 11 paper",
        "preferences). Quality: caption compliance (image), well-formed reviews (text).",
        "",
    ]
    for world, per_setting in table.items():
        lines += [f"## {world} world", "", "| setting | " + " | ".join(COLUMNS.values()) + " |"]
        lines.append("|---" * (len(COLUMNS) + 1) + "|")
        for setting, m in per_setting.items():
            cells = [f"{np.mean(m[k]):.3g} +- {np.std(m[k]):.2g}" for k in COLUMNS]
            lines.append(f"| {setting} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(path: Path, study: str, table: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(6 * len(table), 4), squeeze=False)
    for ax, (world, per_setting) in zip(axes[0], table.items(), strict=True):
        names = list(per_setting)
        hv = [np.mean(per_setting[n]["hypervolume"]) for n in names]
        sd = [np.std(per_setting[n]["hypervolume"]) for n in names]
        ax.bar(range(len(names)), hv, yerr=sd, color="tab:blue", alpha=0.8, capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_ylabel("hypervolume (raw rewards)")
        ax2 = ax.twinx()
        ax2.plot(range(len(names)), [np.mean(per_setting[n]["quality"]) for n in names], "o-", color="tab:red")
        ax2.set_ylabel("quality", color="tab:red")
        ax2.set_ylim(0, 1.05)
        ax.set_title(f"{study}: {world} world")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_study(study: str, worlds: list[str], seeds: list[int], out: Path, docs: Path, quick: bool) -> dict:
    start, settings_ = time.time(), STUDIES[study](quick)
    cells: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    for world in worlds:
        for seed in seeds:
            merged: dict[str, dict[str, float]] = {}
            for prompts in dict.fromkeys(s.prompts for s in settings_):
                group = [s for s in settings_ if s.prompts == prompts]
                merged |= cell_measures(sweep_cell(world, study, prompts, group, out, seed, quick), world)
            cells[(world, seed)] = merged
    table = aggregate(cells)
    docs.mkdir(parents=True, exist_ok=True)
    command = f"ric study {study}{' --quick' if quick else ''} --seeds {' '.join(map(str, seeds))}"
    atomic_write_json(docs / f"{study}.json", {"seeds": seeds, "quick": quick, "table": table})
    atomic_write_text(docs / f"{study}.md", markdown(study, table, seeds, quick, time.time() - start, command))
    plot(docs / f"{study}.png", study, table)
    return table


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="ric study", description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=sorted(STUDIES))
    ap.add_argument("--worlds", nargs="+", choices=["image", "text"], default=["image", "text"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--out", default="runs/study")
    ap.add_argument("--docs", default="docs/study", help="where the table, its data and the plot go")
    ap.add_argument("--quick", action="store_true", help="smoke size: the worlds' --quick presets, fewer settings")
    args = ap.parse_args(argv)
    if any(s < 0 for s in args.seeds):
        ap.error(f"--seeds must be >= 0; got {args.seeds}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the studies never download
    table = run_study(args.study, args.worlds, args.seeds, Path(args.out), Path(args.docs), args.quick)
    print((Path(args.docs) / f"{args.study}.md").read_text())
    return table


def cli(argv: list[str] | None = None) -> int:
    return console(main, argv, "ric study")
