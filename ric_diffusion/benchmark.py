"""Benchmark diffusion models over a preference sweep: results.csv, summary.json, pareto.png, image grids.

    python -m ric_diffusion.benchmark --model ric=runs/sd15-aes-jpeg \\
        --model base=stable-diffusion-v1-5/stable-diffusion-v1-5 \\
        --model soups=soup:runs/soup-aes,runs/soup-jpeg --rewards aesthetic jpeg_compressibility --out runs/bench

A model is ``NAME=SPEC``; SPEC is a RiC checkpoint (or run folder), a plain diffusers base model,
``soup:CKPT1,CKPT2,...`` (Rewarded Soups: one single-reward LoRA per objective, their weight deltas
mixed by the preference) or ``per-preference:DIR`` (one run per preference, e.g. MORLHF-style runs,
each folder holding ``preference.json``). Interrupted sweeps resume where they stopped.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ric_diffusion.checkpoint import resolve_checkpoint
from ric_diffusion.pipeline import RiCDiffusionPipeline
from ric_eval.cli import run_benchmark, sweep_arg_parser
from ric_eval.compute import add_compute, read_compute
from ric_eval.specs import split_spec, with_inference
from ric_eval.sweep import PerPreferenceRuns, soup_weights
from ric_runtime.config import console

PROMPTS = Path(__file__).parent / "prompts" / "everyday.txt"


class _Common:
    """Sampling settings shared by the model kinds: None means each checkpoint's own config."""

    def __init__(self, steps: int | None = None, guidance: float | None = None):
        self.steps, self.guidance = steps, guidance

    def _call(self, pipe: RiCDiffusionPipeline, prompts, preference, seeds) -> Any:
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        return pipe(
            prompts,
            preference=list(preference),
            generator=gens,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance,
        )


class RiCModel(_Common):
    """A RiC checkpoint (or a reward-unconditioned one trained by the same trainer)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu", steps=None, guidance=None):
        super().__init__(steps, guidance)
        path, inference = split_spec(str(path))  # PATH?mapping=...: this checkpoint under other inference settings
        self.ckpt = resolve_checkpoint(path)
        self.pipe = RiCDiffusionPipeline.from_checkpoint(self.ckpt, device=device)
        self.pipe.pipe.fuse_lora()  # one fixed LoRA for the whole sweep: merged, the UNet runs at base speed
        self.pipe.config.inference = with_inference(self.pipe.config.inference, inference)
        self.preference_free = self.pipe.conditioner.strategy == "none"  # one pass serves every preference

    def covers(self, preference: Sequence[float]) -> bool:
        return True

    def generate(self, prompts, preference, seeds):
        out = self._call(self.pipe, prompts, preference, seeds)
        if self.pipe.conditioner.strategy == "none":
            return out.images, None
        raw = self.pipe.stats.denormalize(out.targets)
        return out.images, dict(zip(self.pipe.reward_names, np.round(raw, 6).tolist(), strict=True))

    def compute(self):
        return read_compute(self.ckpt)


class SoupModel(_Common):
    """Rewarded Soups: single-reward LoRAs loaded side by side; for preference w the UNet runs with
    W0 + sum_i w_i * dW_i (diffusers' ``set_adapters`` weights scale each adapter's merged update)."""

    def __init__(self, paths: Sequence[str | os.PathLike], device: str = "cpu", steps=None, guidance=None):
        super().__init__(steps, guidance)
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
        return add_compute([read_compute(c) for c in self.ckpts])


def per_preference_model(root: str | os.PathLike, device: str = "cpu", steps=None, guidance=None) -> PerPreferenceRuns:
    """One checkpoint per preference (``DIR/*/preference.json``), e.g. ``ric_diffusion.reward_filtered_sft``'s runs."""
    return PerPreferenceRuns(root, lambda run: RiCModel(run, device, steps, guidance), resolve_checkpoint)


class BaseModel(_Common):
    """The untouched base model (a diffusers folder or hub id; a folder without ``vae/`` is pixel space)."""

    preference_free = True

    def __init__(self, path: str, device: str = "cpu", steps=None, guidance=None):
        super().__init__(steps or 50, guidance or 7.5)  # diffusers' defaults: a base folder has no RiC config
        from ric_diffusion.config import ModelConfig
        from ric_diffusion.models import build_pipeline, load_components

        pixel = Path(path).is_dir() and not (Path(path) / "vae").is_dir()
        self.pipe = build_pipeline(load_components(ModelConfig(pretrained=path, pixel_space=pixel))).to(device)

    def covers(self, preference: Sequence[float]) -> bool:
        return True

    def generate(self, prompts, preference, seeds):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        out = self.pipe(prompts, generator=gens, num_inference_steps=self.steps, guidance_scale=self.guidance)
        return list(out.images), None

    def compute(self):
        return None


def load_model(spec: str, device: str = "cpu", steps: int | None = None, guidance: float | None = None) -> Any:
    """``soup:A,B``, ``per-preference:DIR``, a RiC checkpoint/run folder, or a base model; ``steps`` and
    ``guidance`` override the sampling settings (None: each checkpoint's config)."""
    if spec.startswith("soup:"):
        return SoupModel(spec.removeprefix("soup:").split(","), device, steps, guidance)
    if spec.startswith("per-preference:"):
        return per_preference_model(spec.removeprefix("per-preference:"), device, steps, guidance)
    p = Path(split_spec(spec)[0])
    if (p / "reward_stats.json").exists() or any(p.glob("checkpoint-*/reward_stats.json")):
        return RiCModel(spec, device, steps, guidance)
    return BaseModel(spec, device, steps, guidance)


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


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """The sweep from the command line's arguments; returns the summary (also in ``--out/summary.json``)."""
    from rewards import reward_set_from_config

    args = parse_args(argv)
    out = Path(args.out)

    def score(rewards: Any, ps: list[str], images: list[Any]) -> np.ndarray:
        return rewards(images=images, prompts=ps).values  # each reward gets only the inputs it declares

    def store(model: str, key: str, pi: int, seed: int, s: int, image: Any) -> str:
        rel = Path("images") / model / key.replace(",", "_") / f"p{pi:04d}_s{seed}_{s}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(out / rel)
        return str(rel)

    summary, table = run_benchmark(
        args,
        str(PROMPTS),
        reward_set_from_config,
        lambda spec: load_model(spec, args.device, args.steps, args.guidance_scale),
        score,
        store,
    )
    preference_grids(out, table.rows())
    return summary


def main(argv: list[str] | None = None) -> int:
    """The ``ric-diffusion-benchmark`` console script: 0 on success."""
    return console(run, argv, "ric-diffusion-benchmark")


if __name__ == "__main__":
    raise SystemExit(main())
