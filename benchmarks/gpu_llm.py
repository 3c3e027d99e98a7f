"""The GPU suite's LLM section: RiC SFT tokens/s through ric_text's trl path, and generation tokens/s
batched vs one prompt at a time, on a ~1.1B Llama (TinyLlama's shape) with random weights."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gpu_common import sync, timed


def tiny_tokenizer(folder: Path) -> Any:
    """A byte-level BPE trained on the fly (no hub); the model's vocabulary may be larger."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = ["Human: how do I bake bread? Assistant: Mix flour, water, salt and yeast, then bake it."] * 50
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok.train_from_iterator(
        corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>"], initial_alphabet=alphabet)
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<eos>", eos_token="<eos>", pad_token="<eos>")
    fast.save_pretrained(folder)
    return fast


def llama(folder: Path, tiny: bool, vocab: int) -> None:
    """~1.1B parameters (TinyLlama's shape) or a 2-layer stand-in, random weights, saved for from_pretrained."""
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = (
        dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
        if tiny
        else dict(
            hidden_size=2048,
            intermediate_size=5632,
            num_hidden_layers=22,
            num_attention_heads=32,
            num_key_value_heads=4,
        )
    )
    cfg = LlamaConfig(vocab_size=vocab, max_position_embeddings=1024, bos_token_id=0, eos_token_id=0, **shape)
    LlamaForCausalLM(cfg).save_pretrained(folder)


def llm(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp())
    tok = tiny_tokenizer(folder)
    llama(folder, args.tiny, len(tok) if args.tiny else 32000)
    seq, steps = (64, 3) if args.tiny else (512, 8)
    out = {"sequence_length": seq, **sft_rate(folder, tok, seq, steps, args)}
    out.update(generation_rates(folder, tok, args))
    return out


def sft_rate(folder: Path, tok: Any, seq: int, steps: int, args: argparse.Namespace) -> dict[str, Any]:
    """RiC SFT through ric_text's trl path (tagged prompts, completion mask, LoRA): tokens/s after step 1."""
    from transformers import TrainerCallback
    from trl import SFTTrainer

    from ric_runtime.config import load_config
    from ric_text.config import TextConfig
    from ric_text.model import load_policy
    from ric_text.sft import encode_dataset, lora_config, sft_config

    dtype = "float32" if args.device == "cpu" else "bfloat16"
    cfg = load_config(
        TextConfig,
        None,
        [
            f"model.pretrained={folder}",
            f"model.dtype={dtype}",
            "train.batch_size=4",
            "train.report_to=none",
            "lora.target_modules=[q_proj, v_proj]",
        ],
    )
    words = " ".join(["flour water salt yeast"] * seq)
    response = tok.decode(tok(words).input_ids[: seq - 24])  # prompt + tags + response ~ seq tokens
    z = np.zeros((32, 2))
    data = encode_dataset(tok, ["\n\nHuman: bread? \n\nAssistant:"] * 32, [response] * 32, z, cfg)
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a: Any, **k: Any) -> None:
            sync(args.device)
            marks.append(time.perf_counter())

    sft = sft_config(cfg, folder / "sft", steps, 1e-4, "constant", 0, save=False)
    trainer = SFTTrainer(
        model=load_policy(cfg.model, args.device),
        args=sft,
        train_dataset=data,
        processing_class=tok,
        peft_config=lora_config(cfg),
        callbacks=[Clock()],
    )
    trainer.train()
    tokens = sum(len(x) for x in data["input_ids"][:4])  # one batch
    return {"sft_tokens_per_s": round(tokens * (len(marks) - 1) / (marks[-1] - marks[0]), 1)}


def generation_rates(folder: Path, tok: Any, args: argparse.Namespace) -> dict[str, Any]:
    """New tokens/s of ``model.generate``: 64 prompts in one left-padded batch vs one prompt at a time."""
    from transformers import AutoModelForCausalLM

    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(args.device).eval()
    new, n, single = (8, 8, 2) if args.tiny else (64, 64, 4)
    tok.padding_side = "left"
    prompt = tok(["\n\nHuman: how do I bake bread? \n\nAssistant:"] * n, return_tensors="pt", padding=True)
    gen = {"max_new_tokens": new, "min_new_tokens": new, "do_sample": True, "top_p": 0.9, "pad_token_id": 0}

    def batched() -> None:
        with torch.no_grad():
            model.generate(**prompt.to(args.device), **gen)

    def one_by_one() -> None:
        with torch.no_grad():
            for i in range(single):
                model.generate(input_ids=prompt.input_ids[i : i + 1].to(args.device), **gen)

    t_batch, t_single = timed(batched, 1, args.device), timed(one_by_one, 1, args.device)
    batch_rate, single_rate = n * new / t_batch, single * new / t_single
    return {
        "generation_batch": n,
        "batched_tokens_per_s": round(batch_rate, 1),
        "one_at_a_time_tokens_per_s": round(single_rate, 1),
        "llm_batched_speedup": round(batch_rate / single_rate, 2),
    }
