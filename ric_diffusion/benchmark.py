"""Benchmark diffusion models over a preference sweep: results.csv, summary.json, pareto.png, image grids.

    python -m ric_diffusion.benchmark --model ric=runs/sd15-aes-jpeg --model base=runwayml/stable-diffusion-v1-5 \\
        --model soups=soup:runs/soup-aes,runs/soup-jpeg --rewards aesthetic jpeg_compressibility --out runs/bench

A model is ``NAME=SPEC``; SPEC is a RiC checkpoint (or run folder), a plain diffusers base model,
``soup:CKPT1,CKPT2,...`` (Rewarded Soups: one single-reward LoRA per objective, their weight deltas
mixed by the preference) or ``per-preference:DIR`` (one run per preference, e.g. MORLHF-style runs,
each folder holding ``preference.json``). Interrupted sweeps resume where they stopped.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ric_core.sweep import (
    ResultsTable,
    add_compute,
    extend_grid,
    make_grid,
    parse_models,
    parse_reward_specs,
    preference_key,
    read_prompts,
    run_sweep,
    soup_weights,
    sweep_arg_parser,
    write_outputs,
)
from ric_diffusion.checkpoint import resolve_checkpoint
from ric_diffusion.pipeline import RiCDiffusionPipeline

PROMPTS = Path(__file__).parent / "prompts" / "everyday.txt"


def _read_compute(ckpt: Path) -> dict[str, Any] | None:
    f = ckpt / "compute.json"
    return json.loads(f.read_text()) if f.exists() else None


class _Common:
    steps: int | None = None
    guidance: float | None = None

    def _call(self, pipe: RiCDiffusionPipeline, prompts, preference, seeds) -> Any:
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        return pipe(prompts, preference=list(preference), generator=gens, num_inference_steps=self.steps,
                    guidance_scale=self.guidance)  # fmt: skip


class RiCModel(_Common):
    """A RiC checkpoint (or a reward-unconditioned one trained by the same trainer)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu"):
        self.ckpt = resolve_checkpoint(path)
        self.pipe = RiCDiffusionPipeline.from_checkpoint(self.ckpt, device=device)

    def covers(self, preference: Sequence[float]) -> bool:
        return True

    def generate(self, prompts, preference, seeds):
        out = self._call(self.pipe, prompts, preference, seeds)
        if self.pipe.conditioner.strategy == "none":
            return out.images, None
        raw = self.pipe.stats.denormalize(out.targets)
        return out.images, dict(zip(self.pipe.reward_names, np.round(raw, 6).tolist(), strict=True))

    def compute(self):
        return _read_compute(self.ckpt)


class SoupModel(_Common):
    """Rewarded Soups: single-reward LoRAs loaded side by side; for preference w the UNet runs with
    W0 + sum_i w_i * dW_i (diffusers' ``set_adapters`` weights scale each adapter's merged update)."""

    def __init__(self, paths: Sequence[str | os.PathLike], device: str = "cpu"):
        self.ckpts = [resolve_checkpoint(p) for p in paths]
        if len(self.ckpts) < 2:
            raise ValueError("soup: needs one checkpoint per objective, e.g. soup:runs/a,runs/b")
        self.pipe = RiCDiffusionPipeline.from_checkpoint(self.ckpts[0], device=device)
        self.pipe.pipe.delete_adapters(self.pipe.pipe.get_active_adapters())
        self.names = [f"soup{i}" for i in range(len(self.ckpts))]
        for name, ckpt in zip(self.names, self.ckpts, strict=True):
            self.pipe.pipe.load_lora_weights(str(ckpt), adapter_name=name)

    def covers(self, preference: Sequence[float]) -> bool:
        if len(preference) != len(self.names):
            raise ValueError(
                f"a soup of {len(self.names)} LoRAs needs {len(self.names)} weights; got {len(preference)}"
            )
        return True

    def set_weights(self, preference: Sequence[float]) -> None:
        self.pipe.pipe.set_adapters(self.names, adapter_weights=soup_weights(preference, len(self.names)))

    def generate(self, prompts, preference, seeds):
        self.covers(preference)
        self.set_weights(preference)
        return self._call(self.pipe, prompts, preference, seeds).images, None

    def compute(self):
        return add_compute([_read_compute(c) for c in self.ckpts])


class PerPreferenceModel(_Common):
    """One checkpoint per preference (MORLHF-style baselines): ``DIR/*/preference.json`` names each run's w."""

    def __init__(self, root: str | os.PathLike, device: str = "cpu"):
        self.runs: dict[str, Path] = {}
        for f in sorted(Path(root).glob("*/preference.json")):
            self.runs[preference_key(json.loads(f.read_text())["preference"])] = f.parent
        if not self.runs:
            raise FileNotFoundError(f"per-preference:{root}: no */preference.json (one run folder per preference)")
        self.device, self._loaded = device, {}

    def covers(self, preference: Sequence[float]) -> bool:
        return preference_key(preference) in self.runs

    def preferences(self) -> list[list[float]]:
        return [[float(x) for x in key.split(",")] for key in self.runs]

    def generate(self, prompts, preference, seeds):
        key = preference_key(preference)
        if key not in self._loaded:
            self._loaded = {key: RiCDiffusionPipeline.from_checkpoint(self.runs[key], device=self.device)}
        return self._call(self._loaded[key], prompts, preference, seeds).images, None

    def compute(self):
        return add_compute([_read_compute(resolve_checkpoint(r)) for r in self.runs.values()])


class BaseModel(_Common):
    """The untouched base model (a diffusers folder or hub id; a folder without ``vae/`` is pixel space)."""

    def __init__(self, path: str, device: str = "cpu"):
        from ric_diffusion.config import ModelConfig
        from ric_diffusion.models import build_pipeline, load_components

        pixel = Path(path).is_dir() and not (Path(path) / "vae").is_dir()
        self.pipe = build_pipeline(load_components(ModelConfig(pretrained=path, pixel_space=pixel))).to(device)
        self.steps, self.guidance = 50, 7.5

    def covers(self, preference: Sequence[float]) -> bool:
        return True

    def generate(self, prompts, preference, seeds):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        out = self.pipe(prompts, generator=gens, num_inference_steps=self.steps, guidance_scale=self.guidance)
        return list(out.images), None

    def compute(self):
        return None


def load_model(spec: str, device: str = "cpu") -> Any:
    """``soup:A,B``, ``per-preference:DIR``, a RiC checkpoint/run folder, or a base model."""
    if spec.startswith("soup:"):
        return SoupModel(spec.removeprefix("soup:").split(","), device)
    if spec.startswith("per-preference:"):
        return PerPreferenceModel(spec.removeprefix("per-preference:"), device)
    p = Path(spec)
    if (p / "reward_stats.json").exists() or any(p.glob("checkpoint-*/reward_stats.json")):
        return RiCModel(p, device)
    return BaseModel(spec, device)


def preference_grids(out: Path, rows: list[dict[str, Any]], columns: int = 8) -> list[Path]:
    """One image per preference: rows = models, columns = the first prompts (seed, sample 0)."""
    from PIL import Image

    written = []
    (out / "grids").mkdir(parents=True, exist_ok=True)
    for pref in dict.fromkeys(r["preference"] for r in rows):
        sel = [r for r in rows if r["preference"] == pref and r["sample"] == 0 and r["prompt_index"] < columns]
        seed = min(r["seed"] for r in sel)
        models = list(dict.fromkeys(r["model"] for r in sel))
        cells = {(r["model"], r["prompt_index"]): out / r["output"] for r in sel if r["seed"] == seed}
        first = Image.open(next(iter(cells.values())))
        w, h = first.size
        grid = Image.new("RGB", (w * columns, h * len(models)), "white")
        for i, m in enumerate(models):
            for j in range(columns):
                if (m, j) in cells:
                    grid.paste(Image.open(cells[m, j]).convert("RGB"), (j * w, i * h))
        path = out / "grids" / f"w_{pref.replace(',', '_')}.png"
        grid.save(path)
        written.append(path)
    return written


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = sweep_arg_parser(__doc__.splitlines()[0], "prompt file, one per line (default: 50 everyday subjects)")
    ap.add_argument("--images-per-prompt", dest="per_prompt", type=int, default=1)
    ap.add_argument("--steps", type=int, help="sampling steps (default: each checkpoint's config)")
    ap.add_argument("--guidance-scale", type=float)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from rewards import reward_set_from_config

    args = parse_args(argv)
    specs = parse_models(args.model)  # fail on a bad spec before loading anything
    prompts = read_prompts(args.prompts or str(PROMPTS), args.prompts_dataset, args.prompts_column, args.prompts_split)
    prompts = prompts[: args.max_prompts] if args.max_prompts else prompts
    rewards = reward_set_from_config(parse_reward_specs(args.rewards))
    rewards.progress = False
    grid = make_grid(args.objectives or len(rewards.names), args.grid, args.step)
    out = Path(args.out)
    models = {name: load_model(spec, args.device) for name, spec in specs.items()}
    for m in models.values():
        m.steps = args.steps or m.steps
        m.guidance = args.guidance_scale or m.guidance
    grid = extend_grid(grid, models)  # per-preference runs are measured at their own preferences too
    table = ResultsTable(out / "results.csv", rewards.names)

    def score(ps: list[str], images: list[Any]) -> np.ndarray:
        inputs = {"images": images, **({"prompts": ps} if "prompts" in rewards.inputs else {})}
        return rewards(**inputs).values

    def store(model: str, key: str, pi: int, seed: int, s: int, image: Any) -> str:
        rel = Path("images") / model / key.replace(",", "_") / f"p{pi:04d}_s{seed}_{s}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(out / rel)
        return str(rel)

    run_sweep(table, models, prompts, grid, args.seeds, args.per_prompt, score, store, args.batch_size)
    summary = write_outputs(out, table, models, args, specs, len(prompts), grid)
    preference_grids(out, table.rows())
    return summary


if __name__ == "__main__":
    main()
