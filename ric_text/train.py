"""RiC for LLMs: relabel -> reward-tagged prompts -> stock trl SFTTrainer (completion-only) with a peft LoRA.

    accelerate launch -m ric_text.train --config configs/text/hh_harmless_helpful.yaml train.max_steps=20000

Every checkpoint folder holds the adapter (safetensors), the tokenizer, ``reward_stats.json`` and the
resolved ``ric_config.json``; the final model is in ``<output_dir>/final``. ``--resume latest``
continues from the newest checkpoint (transformers' own resume).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rewards import reward_names, reward_set_from_config
from rewards.cache import ScoreCache
from ric_core.config import parse_cli, to_dict
from ric_core.io import atomic_write_json
from ric_core.stats import RewardStats
from ric_text.config import TextConfig
from ric_text.data import TextSamples, filter_by_length, load_samples
from ric_text.formats import encode_example
from ric_text.model import RIC_CONFIG, load_policy, load_tokenizer

logger = logging.getLogger("ric_text.train")


def sample_key(prompt: str, response: str) -> str:
    return hashlib.sha1(f"{prompt}\x00{response}".encode()).hexdigest()


def relabel_text(
    samples: TextSamples, make_reward_set: Any, cache_path: Path, names: tuple[str, ...], chunk: int = 256
) -> np.ndarray:
    """Raw scores (N, K), scoring only samples the cache does not hold; reward models see the clean prompt."""
    cache = ScoreCache(cache_path, names)
    keys = [sample_key(p, r) for p, r in zip(samples.prompts, samples.responses, strict=True)]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    if todo:
        reward_set = make_reward_set()
        for start in tqdm(range(0, len(todo), chunk), desc="relabel", unit="chunk"):
            idx = todo[start : start + chunk]
            scores = reward_set(
                prompts=[samples.prompts[i] for i in idx], completions=[samples.responses[i] for i in idx]
            )
            cache.update([keys[i] for i in idx], scores.values)
    return np.stack([cache[k] for k in keys])


def encode_dataset(tok: Any, prompts: list[str], responses: list[str], z: np.ndarray, cfg: TextConfig) -> Any:
    """A pre-tokenised `datasets.Dataset` (input_ids, completion_mask) that SFTTrainer trains on as is."""
    from datasets import Dataset

    enc = [
        encode_example(tok, p, r, t, cfg.prompt.format, cfg.prompt.template)
        for p, r, t in zip(prompts, responses, z, strict=True)
    ]
    return Dataset.from_dict(
        {"input_ids": [e.input_ids for e in enc], "completion_mask": [e.completion_mask for e in enc]}
    )


def sft_config(cfg: TextConfig, out: Path, max_steps: int, lr: float, scheduler: str, seed: int, save: bool) -> Any:
    import torch
    from trl import SFTConfig

    tc = cfg.train
    return SFTConfig(
        output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=tc.batch_size,
        gradient_accumulation_steps=tc.gradient_accumulation_steps, learning_rate=lr, lr_scheduler_type=scheduler,
        warmup_steps=0, weight_decay=tc.weight_decay, max_grad_norm=tc.max_grad_norm, seed=seed, data_seed=seed,
        save_strategy="steps" if save else "no", save_steps=tc.save_steps, save_total_limit=tc.save_total_limit,
        logging_steps=tc.logging_steps, report_to=[] if tc.report_to == "none" else [tc.report_to],
        completion_only_loss=True, max_length=None, use_cpu=not torch.cuda.is_available(),
        bf16=cfg.model.dtype == "bfloat16", fp16=cfg.model.dtype == "float16",
        disable_tqdm=False, dataloader_num_workers=0,
        **({"gradient_checkpointing": True} if tc.gradient_checkpointing else {}),
    )  # fmt: skip


def ric_files_callback(stats: RewardStats, cfg: TextConfig, start: float | None = None) -> Any:
    """Writes reward_stats.json, ric_config.json and compute.json into every checkpoint the Trainer saves."""
    from transformers import TrainerCallback

    start = time.time() if start is None else start

    class RiCFiles(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                write_ric_files(ckpt, stats, cfg)
                atomic_write_json(ckpt / "compute.json", compute_record(cfg, state.global_step, 0, start))

    return RiCFiles()


def compute_record(cfg: TextConfig, steps: int, generated: int, start: float, processes: int = 1) -> dict[str, Any]:
    """Training compute for quality-per-compute comparisons: optimizer steps, samples (= policy
    forward/backward passes), generated samples (online) and wall time of this process."""
    tc = cfg.train
    samples = steps * tc.batch_size * tc.gradient_accumulation_steps * processes
    return {"optimizer_steps": steps, "samples": samples, "policy_forward_backward": samples,
            "generated_samples": generated, "wall_time_s": round(time.time() - start, 3)}  # fmt: skip


def write_ric_files(folder: Path, stats: RewardStats, cfg: TextConfig) -> None:
    stats.save(folder / "reward_stats.json")
    atomic_write_json(folder / RIC_CONFIG, to_dict(cfg))


def lora_config(cfg: TextConfig) -> Any:
    from peft import LoraConfig

    lc = cfg.lora
    return LoraConfig(r=lc.rank, lora_alpha=lc.alpha, lora_dropout=lc.dropout, bias="none", task_type="CAUSAL_LM",
                      target_modules=lc.target_modules)  # fmt: skip


@dataclass
class TextTrainResult:
    trainer: Any
    tokenizer: Any
    stats: RewardStats
    samples: TextSamples
    raw: np.ndarray
    final: Path


def run(cfg: TextConfig) -> TextTrainResult:
    from accelerate import PartialState
    from trl import SFTTrainer

    tc, out = cfg.train, Path(cfg.train.output_dir)
    state, start = PartialState(), time.time()
    tok = load_tokenizer(cfg.model.pretrained, cfg.model.trust_remote_code)
    samples = load_samples(cfg.data.source, cfg.data.kind, cfg.data.split, cfg.data.max_samples, cfg.data.name)
    samples = filter_by_length(samples, tok, cfg.data.min_tokens, cfg.data.max_tokens)
    if len(samples) == 0:
        bounds = f"{cfg.data.min_tokens}..{cfg.data.max_tokens}"
        raise ValueError(
            f"no sample of {cfg.data.source} passes the length filter ({bounds} tokens); see data.*_tokens"
        )
    logger.warning("%d samples; skipped: %s", len(samples), samples.skipped)
    names = reward_names(cfg.rewards)
    with state.main_process_first():  # the main process scores; the others then read the cache
        raw = relabel_text(samples, lambda: reward_set_from_config(cfg.rewards, state.device, tc.reward_batch_size),
                           out / "relabel" / "scores.parquet", names)  # fmt: skip
    stats = RewardStats.from_scores(raw, names)
    if state.is_main_process:
        stats.save(out / "relabel" / "reward_stats.json")
        atomic_write_json(out / "relabel" / "report.json", {"samples": len(samples), "skipped": samples.skipped})
    dataset = encode_dataset(tok, samples.prompts, samples.responses, stats.normalize(raw), cfg)
    args = sft_config(cfg, out, tc.max_steps, tc.learning_rate, tc.lr_scheduler, tc.seed, save=True)
    trainer = SFTTrainer(
        model=load_policy(cfg.model), args=args, train_dataset=dataset, processing_class=tok,
        peft_config=lora_config(cfg), callbacks=[ric_files_callback(stats, cfg, start)],
    )  # fmt: skip
    resume = tc.resume or ("latest" if cfg.online.iterations else None)
    has_ckpt = any(out.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=(True if resume == "latest" else resume) if resume and has_ckpt else None)
    final = out / "final"
    if state.is_main_process:
        trainer.save_model(str(final))
        tok.save_pretrained(str(final))
        (final / "training_args.bin").unlink(missing_ok=True)  # pickled; the final folder loads without pickle
        write_ric_files(final, stats, cfg)
    state.wait_for_everyone()
    result = TextTrainResult(trainer, tok, stats, samples, raw, final)
    online_steps, generated = 0, 0
    if cfg.online.iterations:
        from ric_text.online import run_online

        result.final = run_online(cfg, result)
        online_steps, generated = (
            cfg.online.iterations * cfg.online.steps,
            cfg.online.iterations * cfg.online.num_samples,
        )
    if state.is_main_process:
        steps = trainer.state.global_step + online_steps
        atomic_write_json(result.final / "compute.json",
                          compute_record(cfg, steps, generated, start, state.num_processes))  # fmt: skip
    return result


def parse_args(argv: list[str] | None) -> TextConfig:
    return parse_cli(
        TextConfig, argv, "RiC fine-tuning of an LLM with trl's SFTTrainer.", "configs/text/hh_harmless_helpful.yaml"
    )


def main(argv: list[str] | None = None) -> TextTrainResult:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
