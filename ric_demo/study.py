"""``ric study NAME``: open questions of the RiC paper answered with measurements on the demo worlds.

    ric study mapping [--quick] [--seeds 0 1 2] [--worlds image text] [--out runs/study] [--docs docs/study]
    ric study all [--quick]   # the six, one after another (--quick: 5 preferences a sweep, not the paper's 11)

The studies (``python -m ric_demo.study_cost`` sums what a set of them cost):

- ``mapping``: the preference-to-target rules (linf, l2, linear, lp with p in 1/2/4/8, quantile,
  quantile_linear) and the range they map onto (the training data's, or the paper evaluation's reference
  range of 50,000 standard-normal draws): hypervolume, steering (Spearman), distance from target to
  obtained, quality.
- ``ood``: targets beyond the training range (the data range stretched 1.5x and 2x about its centre) and
  prompts seen vs unseen in the RiC fine-tune: what is obtained (reach: the best mean per reward, in units
  of the data's maximum), hypervolume, quality, and the share of targets the toolkit warns about.
- ``objectives``: N = 2, 3, 4, 5 of a world's five rewards on the same data and training steps (the image
  world's five-reward version for images): normalised hypervolume (``study_measures.hv_side``), Spearman per
  objective along the paths from each one-hot preference to the uniform one, MORS acceptance, distance from
  target to obtained, quality.
- ``correlation``: a pair (text toy_praise / toy_facts, image toy_shape_size / toy_fill_light) on data
  generated with the correlation of what drives them at rho = -0.8, 0, +0.8: steering, hypervolume, and
  separation (how far each one-hot end wins its own reward).
- ``compute`` (``ric_demo.study_compute``): ``ric benchmark`` per seed; every method's hypervolume against its
  training compute (policy passes and wall time), and RiC + online against MORLHF (RL) and Rewarded Soups.
- ``mors``: the online stage's quantile, rule and samples per iteration, 3 iterations from one offline model.

Each (world, variant, seed) trains RiC once (offline + the online stage of the demo's presets, cached
under ``--out/models``; the demo's own world is shared by every study) and sweeps it once per setting, all
settings in one resumable sweep (a model spec ``CKPT?mapping=...`` per setting); a finished sweep is not
redone, so a study can run in parts. The table (mean +- sd over seeds) and the plot are written from the
sweeps into ``--docs/<study>.md`` / ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from ric_demo.study_measures import aggregate, cell_measures, compare_to_offline, markdown, plot
from ric_demo.study_models import image_world, ric_checkpoint, setting_checkpoint, text_world
from ric_demo.study_specs import STUDIES, Setting, Variant, sweep_grid
from ric_runtime.config import console
from ric_runtime.io import atomic_write_json, atomic_write_text


def data_correlation(world: str, out: Path, seed: int, quick: bool, variant: Variant) -> float:
    """Mean pairwise Pearson correlation of the variant's rewards over its training data."""
    import numpy as np

    from rewards import reward_set_from_config

    if variant.rewards is None:
        return float("nan")
    if world == "text":
        rows = [json.loads(ln) for ln in text_world(out, seed, quick, variant).train_file.read_text().splitlines()]
        inputs = {"prompts": [r["prompt"] for r in rows], "completions": [r["response"] for r in rows]}
        specs = list(variant.rewards)
    else:
        from PIL import Image

        from ric_demo.image_world import reward_specs

        folder = image_world(out, seed, quick, variant) / "images"
        rows = [json.loads(ln) for ln in (folder / "metadata.jsonl").read_text().splitlines()]
        images = [Image.open(folder / r["file_name"]).convert("RGB") for r in rows]
        inputs, specs = {"images": images, "prompts": [r["text"] for r in rows]}, reward_specs(variant.rewards)
    corr = np.corrcoef(reward_set_from_config(specs)(**inputs).values.T)  # (K, K) over the training samples
    return float(corr[np.triu_indices(len(specs), 1)].mean())


def seen_prompts(world: str) -> list[str]:
    """Prompts of the RiC fine-tune (as many as the held-out set), for the seen-vs-unseen comparison."""
    if world == "image":
        from ric_demo.image_world import BACKGROUNDS, COLOURS, HELD_OUT, SHAPES, caption

        combos = [(c, s, b) for c in COLOURS for s in SHAPES for b in BACKGROUNDS if (c, s, b) not in HELD_OUT]
        return [caption(*c) for c in combos[:: max(1, len(combos) // len(HELD_OUT))][: len(HELD_OUT)]]
    from ric_demo.text_world import HELD_OUT, PRODUCTS

    return [p for p in PRODUCTS if p not in HELD_OUT][: len(HELD_OUT)]


def sweep_cell(world: str, study: str, group: list[Setting], out: Path, seed: int, quick: bool) -> Path:
    """One sweep of every setting of ``group`` (one prompt set, one variant) for (world, seed); skipped when
    its ``done.json`` exists."""
    from ric_core.stats import RewardStats
    from ric_demo.sweeps import sweep_clock

    prompts, variant = group[0].prompts, group[0].variant
    name = prompts + (f"_{variant.key}" if variant.key else "")
    folder = out / study / world / f"s{seed}{'_quick' if quick else ''}" / name
    previous = json.loads((folder / "done.json").read_text()) if (folder / "done.json").exists() else {}
    if previous.get("settings") == [s.name for s in group]:
        return folder  # a group that gained a setting since is swept again
    run = ric_checkpoint(world, out, seed, quick, variant)
    ckpts = {s.name: setting_checkpoint(run, s, world, quick) for s in group}
    reference = next(iter(ckpts.values()))  # every setting of a group shares the training statistics
    stats = RewardStats.load(reference)
    models = {}
    for s in group:
        query = s.overrides(stats)
        models[s.name] = f"{ckpts[s.name]}?{query}" if query else str(ckpts[s.name])
    seen = seen_prompts(world) if prompts == "seen" else None
    grid = sweep_grid(variant.grid, quick)
    start = sweep_clock(folder / "done.json")  # the time is added up over the cell's reruns
    if world == "image":
        from ric_demo.image_demo import sweep_image
        from ric_demo.image_world import reward_specs

        rewards = reward_specs(variant.rewards) if variant.rewards else None
        sweep_image(out, models, seed, quick, folder, seen, reference, rewards, grid)
    else:
        from ric_demo.text_demo import sweep_text

        rewards = list(variant.rewards) if variant.rewards else None
        sweep_text(out, models, seed, quick, folder, seen, reference, rewards, grid)
    done = {
        "checkpoint": str(reference),
        "settings": list(models),
        "mors_acceptance": {s.name: mors_acceptance(ckpts[s.name], s) for s in group},
        "data_corr": data_correlation(world, out, seed, quick, variant),
        "sweep_s": round(time.time() - start, 1),
    }
    atomic_write_json(folder / "done.json", done)
    return folder


def mors_acceptance(ckpt: Path, setting: Setting) -> float:
    """The share of online samples MORS kept in the iteration that produced ``ckpt`` (an iteration's
    policy, or a run's final model: its last iteration); NaN for an offline model."""
    if setting.checkpoint == "offline":
        return float("nan")
    policy = ckpt.name == "policy" and ckpt.parent.name.startswith("iter")  # <run>/online/iter<k>/policy
    metrics = ckpt.parent.parent / "metrics.jsonl" if policy else ckpt.parent / "online" / "metrics.jsonl"
    if not metrics.is_file():
        return float("nan")
    lines = metrics.read_text().splitlines()
    return float(json.loads(lines[int(ckpt.parent.name[4:]) if policy else -1])["mors_acceptance"])


def run_study(study: str, worlds: list[str], seeds: list[int], out: Path, docs: Path, quick: bool) -> dict:
    start, spec = time.time(), STUDIES[study]
    settings_ = spec.settings(quick)
    cells: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    for world in worlds:
        mine = [s for s in settings_ if world in s.worlds]
        groups: dict[tuple, list[Setting]] = {}
        for s in mine:
            if s.same_as is None:
                groups.setdefault((s.prompts, s.variant), []).append(s)
        for seed in seeds:
            merged: dict[str, dict[str, float]] = {}
            for group in groups.values():
                merged |= cell_measures(sweep_cell(world, study, group, out, seed, quick), world)
            cells[(world, seed)] = compare_to_offline(setting_rows(mine, merged))
    table = aggregate(cells)
    docs.mkdir(parents=True, exist_ok=True)
    command = f"ric study {study}{' --quick' if quick else ''} --seeds {' '.join(map(str, seeds))}"
    atomic_write_json(docs / f"{study}.json", {"seeds": seeds, "quick": quick, "table": table})
    text = markdown(study, table, spec.columns, seeds, quick, time.time() - start, command)
    atomic_write_text(docs / f"{study}.md", text)
    plot(docs / f"{study}.png", study, table, spec.plot_measure)
    return table


def setting_rows(settings_: list[Setting], swept: dict[str, dict]) -> dict[str, dict]:
    """Each setting's measures in the study's order, a ``same_as`` setting's copied from the one it is."""
    return {s.name: dict(swept[s.same_as or s.name]) for s in settings_}


def study_worlds(study: str) -> tuple[str, ...]:
    return STUDIES[study].worlds if study in STUDIES else ("image", "text")  # compute: both


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="ric study", description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=sorted([*STUDIES, "compute", "all"]), help="all: every study, in ORDER")
    ap.add_argument("--worlds", nargs="+", choices=["image", "text"], help="default: every world the study has")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--out", default="runs/study")
    ap.add_argument("--docs", default="docs/study", help="where the table, its data and the plot go")
    ap.add_argument("--quick", action="store_true", help="smoke size: the worlds' --quick presets, fewer settings")
    args = ap.parse_args(argv)
    if any(s < 0 for s in args.seeds):
        ap.error(f"--seeds must be >= 0; got {args.seeds}")
    studies = list(ORDER) if args.study == "all" else [args.study]
    for study in studies:
        has = study_worlds(study)
        if missing := [w for w in args.worlds or [] if w not in has]:
            ap.error(f"the {study} study has no {' or '.join(missing)} world yet; it runs on: {' '.join(has)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the studies never download
    tables = {s: one_study(s, args) for s in studies}
    return tables if args.study == "all" else tables[args.study]


# ``ric study all``: the studies that train the shared demo models and worlds first, compute (which adds the
# RL baselines to them) last
ORDER = ("mapping", "ood", "objectives", "correlation", "mors", "compute")


def one_study(study: str, args: argparse.Namespace) -> dict:
    worlds = args.worlds or list(study_worlds(study))
    if study == "compute":  # every method trained per seed by ric benchmark, not settings of one RiC model
        from ric_demo.study_compute import run_compute

        table = run_compute(worlds, args.seeds, Path(args.out), Path(args.docs), args.quick)
    else:
        table = run_study(study, worlds, args.seeds, Path(args.out), Path(args.docs), args.quick)
    print((Path(args.docs) / f"{study}.md").read_text())
    return table


def cli(argv: list[str] | None = None) -> int:
    return console(main, argv, "ric study")
