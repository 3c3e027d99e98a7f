"""MORLHF baseline for LLMs: trl's GRPO with the toolkit's rewards, weighted by one preference per run.

Each reward model becomes one GRPO reward function returning *normalised* scores (z, with the
statistics of the training data), and ``reward_weights`` is the preference, so the policy maximises
w . z, the linear scalarisation MORLHF optimises. One run per preference, a LoRA on the same base
model RiC starts from; the one-hot runs double as the ingredients of Rewarded Soups.

    python -m ric_text.morlhf --preferences 1,0 0.5,0.5 0,1 --steps 200 --out runs/morlhf-hh \\
        -- model.pretrained=meta-llama/Llama-2-7b-hf data.source=Anthropic/hh-rlhf

Evaluate with ``python -m ric_text.benchmark --model morlhf=per-preference:runs/morlhf-hh``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ric_core.stats import RewardStats
from ric_eval.sweep import parse_preferences
from ric_eval.table import preference_dirname, preference_key
from ric_runtime.config import console, require_at_least_one
from ric_runtime.io import atomic_write_json, finished_run, mark_finished
from ric_text.config import TextConfig

log = logging.getLogger(__name__)


def reward_functions(cfg: TextConfig, stats: RewardStats, device: Any = "cpu") -> list[Callable[..., list[float]]]:
    """One GRPO reward function per reward: ``f(prompts, completions, **_) -> z-scores`` (named by reward)."""
    from rewards import reward_set_from_config

    reward_set = reward_set_from_config(cfg.rewards, device, cfg.train.reward_batch_size)
    reward_set.progress = False
    cache: dict[tuple, np.ndarray] = {}

    def scores(prompts: list[str], completions: list[str]) -> np.ndarray:
        key = (tuple(prompts), tuple(completions))  # GRPO asks each function in turn: score the batch once
        if key not in cache:
            cache.clear()
            raw = reward_set(prompts=list(prompts), completions=[str(c).strip() for c in completions]).values
            cache[key] = stats.normalize(raw)
        return cache[key]

    funcs = []
    for k, name in enumerate(stats.names):

        def f(prompts: list[str], completions: list[str], _k: int = k, **_: Any) -> list[float]:
            return scores(prompts, completions)[:, _k].tolist()

        f.__name__ = name
        funcs.append(f)
    return funcs


def grpo_config(cfg: TextConfig, out: Path, preference: np.ndarray, steps: int, num_generations: int) -> Any:
    import torch
    from trl import GRPOConfig

    tc, g = cfg.train, cfg.generation
    return GRPOConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=tc.batch_size,
        num_generations=num_generations,
        reward_weights=[float(w) for w in preference],
        max_completion_length=g.max_new_tokens,
        temperature=g.temperature,
        learning_rate=tc.learning_rate,
        lr_scheduler_type="constant",
        seed=tc.seed,
        logging_steps=tc.logging_steps,
        save_strategy="no",
        report_to=[] if tc.report_to == "none" else [tc.report_to],
        use_cpu=not torch.cuda.is_available(),
        bf16=cfg.model.dtype == "bfloat16",
        fp16=cfg.model.dtype == "float16",
        disable_tqdm=False,
        dataloader_num_workers=0,
    )


def train_preference(cfg: TextConfig, preference: np.ndarray, out: Path, steps: int, num_generations: int = 8) -> Path:
    """One GRPO run for one preference; returns its final folder (adapter + ric files + compute.json)."""
    import torch
    from datasets import Dataset
    from trl import GRPOTrainer

    from rewards import reward_names, reward_set_from_config
    from ric_eval.compute import compute_record
    from ric_text.data import filter_by_length, load_samples
    from ric_text.formats import tagged_prompt
    from ric_text.model import load_policy, load_tokenizer
    from ric_text.relabel import relabel_text
    from ric_text.sft import lora_config, write_ric_files

    start = time.time()
    tok = load_tokenizer(cfg.model.pretrained, cfg.model.trust_remote_code)
    samples = load_samples(cfg.data.source, cfg.data.kind, cfg.data.split, cfg.data.max_samples, cfg.data.name)
    samples = filter_by_length(samples, tok, cfg.data.min_tokens, cfg.data.max_tokens)
    names = reward_names(cfg.rewards)
    raw = relabel_text(
        samples, lambda: reward_set_from_config(cfg.rewards), out / "relabel", names, cfg.data.shard_size
    )
    stats = RewardStats.from_scores(raw, names)  # the same normalisation RiC's tags use
    untagged = dataclasses.replace(cfg, prompt=dataclasses.replace(cfg.prompt, use_tags=False))
    prompts = [tagged_prompt(p, [], cfg.prompt.format, "") for p in dict.fromkeys(samples.prompts)]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    trainer = GRPOTrainer(
        model=load_policy(cfg.model),
        reward_funcs=reward_functions(cfg, stats, device),
        args=grpo_config(cfg, out, preference, steps, num_generations),
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tok,
        peft_config=lora_config(cfg),
    )
    trainer.train()
    final = out / "final"
    trainer.save_model(str(final))
    tok.save_pretrained(str(final))
    (final / "training_args.bin").unlink(missing_ok=True)
    write_ric_files(final, stats, untagged)
    record = compute_record(
        trainer.state.global_step, cfg.train.batch_size, cfg.train.gradient_accumulation_steps, start=start
    )
    record["generated_samples"] = trainer.state.global_step * cfg.train.batch_size  # GRPO samples what it trains on
    atomic_write_json(final / "compute.json", record)
    atomic_write_json(
        out / "preference.json",
        {"preference": [float(w) for w in preference], "method": "GRPO with reward_weights (MORLHF)"},
    )
    return final


def run(argv: list[str] | None = None) -> dict[str, Path]:
    from ric_text.train import parse_args as parse_train_args

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preferences", nargs="+", required=True, help="comma-separated weights, e.g. 1,0 0.5,0.5")
    ap.add_argument("--steps", type=int, default=200, help="GRPO steps per preference")
    ap.add_argument("--num-generations", type=int, default=8, help="completions per prompt (GRPO group size)")
    ap.add_argument("--out", default="runs/morlhf-text")
    ap.add_argument("--config", help="trainer YAML preset, e.g. configs/text/hh_harmless_helpful.yaml")
    ap.add_argument("overrides", nargs="*", help="trainer overrides (after --)")
    args = ap.parse_args(argv)
    require_at_least_one(args, "steps", "num_generations")
    cfg = parse_train_args((["--config", args.config] if args.config else []) + list(args.overrides))
    prefs = parse_preferences(args.preferences, len(cfg.rewards))
    if cfg.train.batch_size % args.num_generations:
        raise ValueError(f"train.batch_size ({cfg.train.batch_size}) must be a multiple of --num-generations")
    root = Path(args.out)
    return {preference_key(w): _finished_or_trained(cfg, w, root / preference_dirname(w), args) for w in prefs}


def _finished_or_trained(cfg: TextConfig, w: np.ndarray, out: Path, args: argparse.Namespace) -> Path:
    """A finished run with these settings is reused; one finished with others is refused (``done.json``)."""
    key = {"config": args.config, "overrides": list(args.overrides), "preference": [float(x) for x in w]}
    key |= {"steps": args.steps, "num_generations": args.num_generations}
    if (final := finished_run(out, key)) is not None:
        return final
    if (out / "final" / "compute.json").is_file():  # finished before runs recorded their settings: adopted
        log.warning("%s finished before GRPO runs recorded their settings: reused; delete it to retrain", out)
        mark_finished(out, out / "final", key)
        return out / "final"
    final = train_preference(cfg, w, out, args.steps, args.num_generations)
    mark_finished(out, final, key)
    return final


def main(argv: list[str] | None = None) -> int:
    return console(run, argv, "python -m ric_text.morlhf")


if __name__ == "__main__":
    raise SystemExit(main())
