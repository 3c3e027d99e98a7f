"""RiC for LLMs: relabel -> reward-tagged prompts -> stock trl SFTTrainer (completion-only) with a peft LoRA.

    accelerate launch -m ric_text.train --config configs/text/hh_harmless_helpful.yaml train.max_steps=20000

Every checkpoint folder holds the adapter (safetensors), the tokenizer, ``reward_stats.json`` and the
resolved ``ric_config.json``; the final model is in ``<output_dir>/final``. ``--resume latest``
continues from the newest checkpoint (transformers' own resume).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ric_core.stats import RewardStats
from ric_eval.compute import compute_record, read_compute
from ric_runtime.checkpoints import CONFIG_FILE
from ric_runtime.config import check_launch, console, parse_cli
from ric_runtime.io import atomic_write_folder, atomic_write_json
from ric_text.checkpoints import resume_point, train_or_restore
from ric_text.config import TextConfig
from ric_text.data import TextSamples, filter_by_length, load_samples, model_context
from ric_text.model import check_quantization, load_policy, load_tokenizer
from ric_text.prompt_pool import is_prompt_list, prompt_samples
from ric_text.relabel import relabel_stage
from ric_text.sft import encode_dataset, finite_guard, lora_config, ric_files_callback, sft_config, write_ric_files

logger = logging.getLogger("ric_text.train")


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
    import torch

    # cpu=True lets a CPU launch (ACCELERATE_USE_CPU, gloo) form its process group, as the Trainer would
    state, start = PartialState(cpu=not torch.cuda.is_available()), time.time()
    check_launch(state.num_processes)  # before hours of relabelling
    check_quantization(cfg.model)
    tok = load_tokenizer(cfg.model.pretrained, cfg.model.trust_remote_code)
    samples = training_samples(cfg, tok, state)
    raw, stats = relabel_stage(cfg, samples, state)
    dataset = encode_dataset(tok, samples.prompts, samples.responses, stats.normalize(raw), cfg)
    args = sft_config(cfg, out, tc.max_steps, tc.learning_rate, tc.lr_scheduler, tc.seed, save=True)
    resume = agreed_resume_point(cfg, out, state, stats)
    start -= previous_wall_time(resume)  # wall time adds up over resumed runs
    trainer = SFTTrainer(
        model=load_policy(cfg.model),
        args=args,
        train_dataset=dataset,
        processing_class=tok,
        peft_config=lora_config(cfg),
        callbacks=[ric_files_callback(stats, cfg, start), finite_guard()],
    )
    offline_steps = train_or_restore(trainer, resume, tc.max_steps)
    final = out / "final"
    if state.is_main_process:

        def write_final(d: Path) -> None:
            trainer.save_model(str(d))
            tok.save_pretrained(str(d))
            (d / "training_args.bin").unlink(missing_ok=True)  # pickled; the final folder loads without pickle
            write_ric_files(d, stats, cfg)

        atomic_write_folder(final, [write_final])  # a kill mid-save leaves the old final/ or none
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
        steps = offline_steps + online_steps
        record = compute_record(
            steps, tc.batch_size, tc.gradient_accumulation_steps, state.num_processes, generated, start
        )
        atomic_write_json(result.final / "compute.json", record)
    return result


def previous_wall_time(resume: Path | None) -> float:
    """The wall time a checkpoint's ``compute.json`` records (0 without one): a resumed run counts on from it."""
    record = read_compute(resume) if resume else None
    return float(record.get("wall_time_s", 0.0)) if record else 0.0


def agreed_resume_point(cfg: TextConfig, out: Path, state: Any, stats: RewardStats) -> Path | None:
    """The checkpoint every process resumes from, with our files completed by the main process (a kill between
    the Trainer's save and our callback leaves them out)."""
    resume = resume_point(out, cfg.train.resume or ("latest" if cfg.online.iterations else None), state)
    if resume and state.is_main_process and not (resume / CONFIG_FILE).is_file():
        write_ric_files(resume, stats, cfg)
    state.wait_for_everyone()
    return resume


def training_samples(cfg: TextConfig, tok: Any, state: Any) -> TextSamples:
    """The data's samples (a prompt list's sampled from the base model first) within the length bounds; none
    left is a clear error."""
    if is_prompt_list(cfg.data.source):
        samples = prompt_samples(cfg, tok, state)
    else:
        samples = load_samples(cfg.data.source, cfg.data.kind, cfg.data.split, cfg.data.max_samples, cfg.data.name)
    context = model_context(cfg.model.pretrained, cfg.model.trust_remote_code)
    samples = filter_by_length(samples, tok, cfg.data.min_tokens, cfg.data.max_tokens, context)
    if len(samples) == 0:
        bounds = f"{cfg.data.min_tokens}..{cfg.data.max_tokens}"
        raise ValueError(
            f"no sample of {cfg.data.source} passes the length filter ({bounds} tokens); see data.*_tokens"
        )
    logger.warning("%d samples; skipped: %s", len(samples), samples.skipped)
    return samples


def parse_args(argv: list[str] | None) -> TextConfig:
    return parse_cli(
        TextConfig, argv, "RiC fine-tuning of an LLM with trl's SFTTrainer.", "configs/text/hh_harmless_helpful.yaml"
    )


def train(argv: list[str] | None = None) -> TextTrainResult:
    """Train from the command line's arguments (in-process callers get the result)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return run(parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """The ``ric-text-train`` console script: 0 on success, 2 and one line on bad input."""
    return console(train, argv, "ric-text-train")


if __name__ == "__main__":
    raise SystemExit(main())
