"""The SFT setup both text stages share (offline RiC and the online fits): the pre-tokenised dataset,
trl's ``SFTConfig``, the peft LoRA and the RiC files written into every checkpoint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ric_core.stats import RewardStats
from ric_eval.compute import compute_record
from ric_runtime.config import to_dict
from ric_runtime.io import atomic_write_json
from ric_text.config import TextConfig
from ric_text.formats import encode_example
from ric_text.model import RIC_CONFIG


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
        output_dir=str(out),
        max_steps=max_steps,
        per_device_train_batch_size=tc.batch_size,
        gradient_accumulation_steps=tc.gradient_accumulation_steps,
        learning_rate=lr,
        lr_scheduler_type=scheduler,
        warmup_steps=0,
        weight_decay=tc.weight_decay,
        max_grad_norm=tc.max_grad_norm,
        seed=seed,
        data_seed=seed,
        save_strategy="steps" if save else "no",
        save_steps=tc.save_steps,
        save_total_limit=tc.save_total_limit,
        logging_steps=tc.logging_steps,
        report_to=[] if tc.report_to == "none" else [tc.report_to],
        completion_only_loss=True,
        max_length=None,
        use_cpu=not torch.cuda.is_available(),
        bf16=cfg.model.dtype == "bfloat16",
        fp16=cfg.model.dtype == "float16",
        disable_tqdm=False,
        dataloader_num_workers=0,
        **({"gradient_checkpointing": True} if tc.gradient_checkpointing else {}),
    )


def ric_files_callback(stats: RewardStats, cfg: TextConfig, start: float | None = None) -> Any:
    """Writes reward_stats.json, ric_config.json and compute.json into every checkpoint the Trainer saves."""
    from transformers import TrainerCallback

    start = time.time() if start is None else start

    class RiCFiles(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                write_ric_files(ckpt, stats, cfg)
                record = compute_record(
                    state.global_step,
                    cfg.train.batch_size,
                    cfg.train.gradient_accumulation_steps,
                    args.world_size,
                    start=start,
                )
                atomic_write_json(ckpt / "compute.json", record)

    return RiCFiles()


def write_ric_files(folder: Path, stats: RewardStats, cfg: TextConfig) -> None:
    stats.save(folder / "reward_stats.json")
    atomic_write_json(folder / RIC_CONFIG, to_dict(cfg))


def lora_config(cfg: TextConfig) -> Any:
    from peft import LoraConfig

    lc = cfg.lora
    return LoraConfig(
        r=lc.rank,
        lora_alpha=lc.alpha,
        lora_dropout=lc.dropout,
        bias="none",
        task_type="CAUSAL_LM",
        target_modules=lc.target_modules,
    )


def finite_guard() -> Any:
    """A Trainer callback that stops before a non-finite gradient reaches the adapter, so no checkpoint (and
    no online fit) ever holds NaN weights: the newest checkpoint stays the last finite one."""
    import torch
    from transformers import TrainerCallback

    class FiniteGuard(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
            for name, p in model.named_parameters():
                if p.requires_grad and p.grad is not None and not torch.isfinite(p.grad).all():
                    lr = optimizer.param_groups[0]["lr"] if optimizer is not None else args.learning_rate
                    raise ValueError(
                        f"training stopped at step {state.global_step + 1}: a gradient is not finite ({name}); no "
                        f"update of that step was applied or saved, and the newest checkpoint in {args.output_dir} is "
                        f"the last finite one. Lower train.learning_rate (now {lr:g}) or check the data"
                    )

    return FiniteGuard()
