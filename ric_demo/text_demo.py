"""The text world end to end: pre-trained base (cached) -> RiC + one online iteration and an untagged
baseline through ``ric_text.train`` -> the 11-preference sweep through ``ric_text.benchmark``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ric_demo import settings
from ric_demo.settings import stage, trainer_args, trainer_config, world_settings
from ric_demo.sweeps import add_world_measures, grid_args, reference_args, sweep_clock, write_prompts


def base_args(world: Any, seed: int, quick: bool, *overrides: str) -> list[str]:
    """The world's trainer arguments, shared by RiC, its baseline and the benchmark's GRPO runs."""
    return trainer_args(
        "text",
        quick,
        f"model.pretrained={world.base_model}",
        f"data.source={world.train_file}",
        f"train.seed={seed}",
        f"online.seed={seed}",
        *overrides,
    )


def train_text(out: Path, seed: int, quick: bool, caches: Path | None = None) -> dict[str, Path]:
    """Build the world (under ``caches``, default ``out``), train RiC (offline + online) and the untagged
    baseline; returns the models to sweep."""
    from ric_demo.text_world import build_world
    from ric_text.config import TextConfig
    from ric_text.train import train as text_train

    stage("text world: corpus, tokenizer and pre-trained tiny GPT-2 (cached)")
    world = build_world(settings.world_dir(caches or out, "text", seed, quick), seed, quick)
    ric_dir, base_dir = out / "text" / "ric", out / "text" / "baseline"
    stage("text world: relabel -> offline RiC -> 1 online MORS iteration (ric_text)")
    text_train(base_args(world, seed, quick, f"train.output_dir={ric_dir}"))
    steps = settings.run_steps(TextConfig, "text", quick)[1]
    stage(f"text world: baseline, the same data and {steps} steps without reward tags")
    text_train(
        base_args(
            world, seed, quick, f"train.output_dir={base_dir}", *baseline_overrides(quick), "prompt.use_tags=false"
        )
    )
    return text_models(out, quick)


def baseline_overrides(quick: bool) -> list[str]:
    from ric_text.config import TextConfig

    return settings.baseline_overrides(TextConfig, "text", quick, "train.save_steps")


def text_models(out: Path, quick: bool) -> dict[str, Path]:
    """The demo's three text models: RiC offline, RiC + online, the untagged baseline."""
    from ric_text.config import TextConfig

    offline = settings.run_steps(TextConfig, "text", quick)[0]
    ric = out / "text" / "ric"
    baseline = out / "text" / "baseline" / "final"
    return {"ric": ric / f"checkpoint-{offline}", "ric_online": ric / "final", "baseline": baseline}


def sweep_text(
    out: Path,
    models: dict[str, Path | str],
    seed: int,
    quick: bool,
    folder: Path | None = None,
    products: list[str] | None = None,
    reference: Path | None = None,
    rewards: list[str] | None = None,
    grid: str = "paper",
) -> dict:
    """The 11 paper preferences (or another ``grid``) x ``products`` (default: the held-out ones) over
    ``models`` (``reference``'s statistics, default ``ric_online``'s, set the reference point), scored by
    ``rewards`` (default: the preset's) -> ``folder`` (default ``out/text``): results.csv, summary.json,
    samples.md."""
    from ric_demo.text_world import HELD_OUT, prompt_for, well_formed
    from ric_text.benchmark import run as sweep
    from ric_text.config import TextConfig

    s, folder = world_settings("text", quick), folder or out / "text"
    folder.mkdir(parents=True, exist_ok=True)
    started = sweep_clock(folder / "summary.json")
    products = products or HELD_OUT
    prompts = folder / "prompts.jsonl"
    write_prompts(prompts, "".join(json.dumps({"prompt": prompt_for(x)}) + "\n" for x in products))
    stage(f"text world: sweep of {grid} preferences x {len(products)} products x {s['per_prompt']} over {list(models)}")
    ref = reference_args(reference or models["ric_online"])
    specs = [a for name, path in models.items() for a in ("--model", f"{name}={path}")]
    rewards = rewards or trainer_config(TextConfig, "text", quick).rewards
    summary = sweep(
        [
            *specs,
            "--rewards",
            *rewards,
            "--prompts",
            str(prompts),
            "--samples-per-prompt",
            str(s["per_prompt"]),
            "--seeds",
            str(seed),
            "--batch-size",
            str(s["sweep_batch"]),
            *grid_args(grid),
            "--out",
            str(folder),
            *ref,
        ]
    )
    measures = {"well_formed": ("share of well-formed template reviews", lambda r: well_formed(r["output"]))}
    return add_world_measures(folder, summary, measures, started)
