"""MORLHF-style diffusion baseline: per-preference **reward-filtered SFT** on generated samples (not RL).

For each preference w: sample a pool from the base model on the training captions, score it with
every reward, z-normalise the scores over the pool, keep the top ``quantile`` by w . z and fine-tune a
reward-unconditioned LoRA on the kept images with the toolkit's own trainer. One run per preference,
as MORLHF trains one model per preference. The pool is generated once and shared by the runs, but each
run's ``compute.json`` counts the whole pool, as a stand-alone run would pay for it.

    python -m ric_diffusion.reward_filtered_sft --preferences 1,0 0.5,0.5 0,1 --pool-size 512 --out runs/morlhf \\
        -- model.pretrained=stable-diffusion-v1-5/stable-diffusion-v1-5 data.source=my_images train.max_steps=2000

Evaluate with ``python -m ric_diffusion.benchmark --model morlhf=per-preference:runs/morlhf``; the two
one-hot runs are also the ingredients of Rewarded Soups (``soup:runs/morlhf/w_1_0,runs/morlhf/w_0_1``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ric_core.stats import RewardStats
from ric_diffusion.checkpoint import resolve_checkpoint
from ric_diffusion.config import DiffusionConfig
from ric_diffusion.relabel import score_store
from ric_diffusion.train import parse_args as parse_train_args
from ric_diffusion.train import train
from ric_eval.sweep import parse_preferences
from ric_eval.table import preference_dirname, preference_key
from ric_runtime.config import console
from ric_runtime.io import atomic_write_json, finished_run, mark_finished


def build_pool(cfg: DiffusionConfig, out: Path, size: int, seed: int, batch_size: int = 16) -> Path:
    """Generate ``size`` images from the base model on the training captions (cached in ``out``).

    Writes ``out/images`` (an imagefolder with metadata.jsonl), ``out/scores.json`` (raw rewards, (N, K))
    and ``out/pool.json`` (size, seed, generation passes and wall time).
    """
    from PIL import Image
    from tqdm.auto import tqdm

    from rewards import reward_set_from_config
    from ric_diffusion.data import load_records
    from ric_diffusion.models import build_pipeline, load_components

    marker = out / "pool.json"
    if marker.exists() and json.loads(marker.read_text())["size"] == size:
        return out
    start = time.time()
    captions = [r.caption for r in load_records(cfg.data).records]
    if not captions:
        raise ValueError(f"{cfg.data.source}: no captions to generate the pool from")
    rng = np.random.default_rng(seed)
    chosen = [captions[i] for i in rng.integers(0, len(captions), size)]
    pipe = build_pipeline(load_components(cfg.model))
    inf = cfg.inference
    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rows, gen = [], torch.Generator().manual_seed(seed)
    for i in tqdm(range(0, size, batch_size), desc="pool", unit="batch"):
        images = pipe(
            chosen[i : i + batch_size],
            generator=gen,
            num_inference_steps=inf.num_inference_steps,
            guidance_scale=inf.guidance_scale,
        ).images
        for j, image in enumerate(images):
            name = f"{i + j:06d}.png"
            image.save(folder / name)
            rows.append({"file_name": name, "text": chosen[i + j]})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rewards = reward_set_from_config(cfg.rewards)
    images = [Image.open(folder / r["file_name"]).convert("RGB") for r in rows]
    raw = rewards(images=images, prompts=chosen).values  # each reward gets only the inputs it declares
    atomic_write_json(out / "scores.json", {"names": list(rewards.names), "raw": raw.tolist()})
    passes = size * inf.num_inference_steps * (2 if inf.guidance_scale > 1 else 1)
    atomic_write_json(
        marker,
        {"size": size, "seed": seed, "unet_forward_generation": passes, "wall_time_s": round(time.time() - start, 3)},
    )
    return out


def select_top(raw: np.ndarray, names: list[str], preference: np.ndarray, quantile: float) -> np.ndarray:
    """Indices of the top ``quantile`` share of the pool by w . z (z: scores normalised over the pool).

    Example:
        >>> select_top(np.array([[0., 3.], [1., 2.], [2., 1.], [3., 0.]]), ["a", "b"], np.array([1., 0.]), 0.5)
        array([2, 3])
    """
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1]; got {quantile}")
    z = RewardStats.from_scores(raw, names).normalize(raw)
    score = z @ np.asarray(preference, dtype=np.float64)
    keep = max(1, int(round(quantile * len(raw))))
    return np.sort(np.argsort(-score, kind="stable")[:keep])


def train_preference(overrides: list[str], pool: Path, preference: np.ndarray, quantile: float, out: Path) -> Path:
    """One reward-filtered SFT run for one preference; returns its final checkpoint."""
    pool_record = json.loads((pool / "pool.json").read_text())
    key = {
        "overrides": overrides,
        "preference": [float(x) for x in preference],
        "quantile": quantile,
        "pool": pool_record,
    }
    if (ckpt := finished_run(out, key)) is not None:  # finished earlier (a re-run of the same command skips it)
        return ckpt
    scores = json.loads((pool / "scores.json").read_text())
    raw, names = np.array(scores["raw"]), scores["names"]
    keep = select_top(raw, names, preference, quantile)
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    rows = [json.loads(line) for line in (pool / "images" / "metadata.jsonl").read_text().splitlines()]
    for i in keep:
        shutil.copy2(pool / "images" / rows[i]["file_name"], data / rows[i]["file_name"])
    (data / "metadata.jsonl").write_text("".join(json.dumps(rows[i]) + "\n" for i in keep))
    # the pool is scored already: seed the run's relabel cache, so training scores no image twice
    run_cfg = parse_train_args([*overrides, f"data.source={data}", f"train.output_dir={out}"])
    samples = [(j, str((data / rows[i]["file_name"]).resolve()), rows[i]["text"]) for j, i in enumerate(keep)]
    score_store(run_cfg).write_all(samples, raw[keep], run_cfg.data.shard_size)
    meta = {
        "preference": [float(w) for w in preference],
        "method": "reward-filtered SFT (MORLHF-style, not RL)",
        "quantile": quantile,
        "kept": len(keep),
        "pool": len(rows),
    }
    atomic_write_json(out / "preference.json", meta)
    result = train([*overrides, f"data.source={data}", "conditioning.strategy=none", f"train.output_dir={out}"])
    ckpt = result.last_checkpoint or resolve_checkpoint(out)
    add_pool_compute(ckpt, pool_record)
    mark_finished(out, ckpt, key)
    return ckpt


def add_pool_compute(ckpt: Path, pool: dict[str, Any]) -> None:
    """Charge the pool's generation to the run's compute record (samples generated, UNet passes, time)."""
    path = ckpt / "compute.json"
    record = json.loads(path.read_text())
    if record.get("pool_charged"):
        return
    record["generated_samples"] = record.get("generated_samples", 0) + pool["size"]
    record["unet_forward_generation"] = record.get("unet_forward_generation", 0) + pool["unet_forward_generation"]
    record["wall_time_s"] = round(record.get("wall_time_s", 0) + pool["wall_time_s"], 3)
    record["pool_charged"] = True
    atomic_write_json(path, record)


def run(argv: list[str] | None = None) -> dict[str, Path]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preferences", nargs="+", required=True, help="comma-separated weights, e.g. 1,0 0.5,0.5")
    ap.add_argument("--pool-size", type=int, default=512)
    ap.add_argument("--quantile", type=float, default=0.25, help="share of the pool kept per preference")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/morlhf")
    ap.add_argument("--config", help="trainer YAML preset, e.g. configs/diffusion/sd15_aesthetic_jpeg.yaml")
    ap.add_argument("overrides", nargs="*", help="trainer overrides (after --), e.g. model.pretrained=...")
    args = ap.parse_args(argv)
    overrides = (["--config", args.config] if args.config else []) + list(args.overrides)
    cfg = parse_train_args(overrides)
    prefs = parse_preferences(args.preferences, len(cfg.rewards))
    root = Path(args.out)
    pool = build_pool(cfg, root / "pool", args.pool_size, args.seed, cfg.train.batch_size)
    return {
        preference_key(w): train_preference(overrides, pool, w, args.quantile, root / preference_dirname(w))
        for w in prefs
    }


def main(argv: list[str] | None = None) -> int:
    return console(run, argv, "python -m ric_diffusion.reward_filtered_sft")


if __name__ == "__main__":
    raise SystemExit(main())
