"""The image world end to end: pre-trained tiny pixel UNet (cached) -> RiC + its online stage and
an unconditioned baseline through ``ric_diffusion.train`` -> the sweep through ``ric_diffusion.benchmark``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ric_demo import settings
from ric_demo.settings import stage, trainer_args, trainer_config, world_settings
from ric_demo.sweeps import add_world_measures, grid_args, reference_args, sweep_clock, write_prompts


def base_model(cache: Path, data: Path, seed: int, steps: int) -> Path:
    """The world's pre-trained base (cached; a changed world or step count retrains it)."""
    from ric_demo.image_world import pretrain_base
    from ric_diffusion.tiny import make_tiny_sd

    model, marker = cache / "model", cache / "model" / "pretrained.json"
    key = {"steps": steps, "seed": seed, "data": json.loads((cache / "done.json").read_text())}
    if marker.exists() and json.loads(marker.read_text()) == key:
        return model
    shutil.rmtree(model, ignore_errors=True)
    # 8-word captions fit 16 tokens; x0-prediction leaves no residual noise in 20 DDIM steps (with
    # epsilon it does, and noise then decides JPEG size)
    make_tiny_sd(
        model,
        pixel_space=True,
        sample_size=16,
        seed=seed,
        beta_schedule="squaredcos_cap_v2",
        model_max_length=16,
        prediction_type="sample",
    )
    pretrain_base(data, model, steps, seed)
    marker.write_text(json.dumps(key))
    return model


def base_args(cache: Path, seed: int, quick: bool, *overrides: str) -> list[str]:
    """The world's trainer arguments, shared by RiC, its baseline and the benchmark's baselines."""
    return trainer_args(
        "image",
        quick,
        f"model.pretrained={cache / 'model'}",
        f"data.source={cache / 'images'}",
        f"train.seed={seed}",
        f"online.seed={seed}",
        *overrides,
    )


def train_image(out: Path, seed: int, quick: bool, caches: Path | None = None) -> dict[str, Path]:
    """Build the world (under ``caches``, default ``out``), train RiC (offline + online) and the baseline;
    returns the models to sweep."""
    from ric_demo.image_world import build_dataset
    from ric_diffusion.config import DiffusionConfig
    from ric_diffusion.train import train as diffusion_train

    s, cache = world_settings("image", quick), settings.world_dir(caches or out, "image", seed, quick)
    stage("image world: shapes dataset and pre-trained tiny pixel UNet (cached)")
    base_model(cache, build_dataset(cache, s["images"], seed), seed, s["pretrain_steps"])
    ric_dir, base_dir = out / "image" / "ric", out / "image" / "baseline"
    stage("image world: relabel -> offline RiC -> online MORS iterations (ric_diffusion)")
    diffusion_train(base_args(cache, seed, quick, f"train.output_dir={ric_dir}"))
    steps = settings.run_steps(DiffusionConfig, "image", quick)[1]
    stage(f"image world: baseline, the same data and {steps} steps without reward conditioning")
    diffusion_train(
        base_args(
            cache, seed, quick, f"train.output_dir={base_dir}", *baseline_overrides(quick), "conditioning.strategy=none"
        )
    )
    return image_models(out, quick)


def baseline_overrides(quick: bool) -> list[str]:
    from ric_diffusion.config import DiffusionConfig

    return settings.baseline_overrides(DiffusionConfig, "image", quick, "train.checkpoint_every")


def image_models(out: Path, quick: bool) -> dict[str, Path]:
    """The demo's three image models: RiC offline, RiC + online, the unconditioned baseline."""
    from ric_diffusion.config import DiffusionConfig

    offline, total = settings.run_steps(DiffusionConfig, "image", quick)
    return {
        "ric": out / "image" / "ric" / f"checkpoint-{offline}",
        "ric_online": out / "image" / "ric" / f"checkpoint-{total}",
        "baseline": out / "image" / "baseline" / f"checkpoint-{total}",
    }


def sweep_image(
    out: Path,
    models: dict[str, Path | str],
    seed: int,
    quick: bool,
    folder: Path | None = None,
    captions: list[str] | None = None,
    reference: Path | None = None,
    rewards: list | None = None,
    grid: str = "paper",
) -> dict:
    """The 11 paper preferences (or another ``grid``) x ``captions`` (default: the held-out ones) over
    ``models`` (one seed per cell for every preference, so only the slider moves; ``reference``'s statistics,
    default ``ric_online``'s, set the reference point), scored by ``rewards`` (trainer config entries; default:
    the preset's) -> ``folder`` (default ``out/image``): results.csv, summary.json, images/, grids/."""
    from ric_demo.image_world import HELD_OUT, caption
    from ric_diffusion.benchmark import run as sweep
    from ric_diffusion.config import DiffusionConfig

    s, folder = world_settings("image", quick), folder or out / "image"
    folder.mkdir(parents=True, exist_ok=True)
    started = sweep_clock(folder / "summary.json")
    captions = captions or [caption(*c) for c in HELD_OUT]
    prompts = folder / "prompts.txt"
    write_prompts(prompts, "".join(c + "\n" for c in captions))
    stage(
        f"image world: sweep of {grid} preferences x {len(captions)} captions x {s['per_prompt']} over {list(models)}"
    )
    rewards = [json.dumps(r) for r in rewards or trainer_config(DiffusionConfig, "image", quick).rewards]
    specs = [a for name, path in models.items() for a in ("--model", f"{name}={path}")]
    summary = sweep(
        [
            *specs,
            "--rewards",
            *rewards,
            "--prompts",
            str(prompts),
            "--images-per-prompt",
            str(s["per_prompt"]),
            "--seeds",
            str(seed),
            "--batch-size",
            str(s["sweep_batch"]),
            *grid_args(grid),
            "--out",
            str(folder),
            *reference_args(reference or models["ric_online"]),
        ]
    )
    return add_world_measures(folder, summary, image_measures(folder), started)


def image_measures(folder: Path) -> dict[str, tuple[str, Any]]:
    """Caption compliance per saved picture: dominant colour and background (image level), and the
    share of pixels in the captioned colours (pixel level)."""
    from PIL import Image

    from ric_demo.image_world import compliance, pixel_compliance

    def image_level(row: dict[str, Any]) -> float:
        return float(compliance([Image.open(folder / row["output"])], [row["prompt"]])[0])

    def pixel_level(row: dict[str, Any]) -> float:
        return float(pixel_compliance([Image.open(folder / row["output"])], [row["prompt"]])[0])

    return {
        "compliance": ("share of images whose dominant colour and background are the captioned ones", image_level),
        "pixel_compliance": ("share of pixels in the captioned colour or background (shade-invariant)", pixel_level),
    }
