"""Generated tokens/s: batched generation with left padding vs one prompt at a time, same tiny model.

    python benchmarks/text_generation_speed.py [--batch-size 16] [--new-tokens 32]

A tiny Llama-style model (random weights, a byte-level BPE trained on the fly) goes through the same
TextGenerator the online stage uses. Every response is forced to the same length, so both paths
produce the same number of tokens; the two paths alternate in one process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def tiny_policy() -> tuple:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [f"Human: question {i} about bread? Assistant: answer {i} <rm1_score> 0.{i}" for i in range(200)]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer, bpe.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=alphabet)
    bpe.train_from_iterator(corpus, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    tok.pad_token, tok.padding_side = tok.eos_token, "left"
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        pad_token_id=tok.eos_token_id,
    )
    return LlamaForCausalLM(cfg).eval(), tok


def main(argv: list[str] | None = None) -> float:
    from ric_core.stats import RewardStats
    from ric_text.config import TextConfig
    from ric_text.generate import TextGenerator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    model, tok = tiny_policy()
    stats = RewardStats.from_scores(np.random.default_rng(0).normal(size=(100, 2)), ["r1", "r2"])
    cfg = TextConfig()
    cfg.generation.max_new_tokens = args.new_tokens
    gen = TextGenerator(model, tok, stats, cfg)
    prompts = [f"question {i} about bread and cats of varying length {'x ' * (i % 5)}?" for i in range(args.batch_size)]

    def run(bs: int) -> float:
        # Suppressing EOS for the whole budget makes every response exactly new_tokens long.
        model.generation_config.suppress_tokens = [tok.eos_token_id]
        start = time.perf_counter()
        gen(prompts, preference=[0.6, 0.4], batch_size=bs, seed=0, max_new_tokens=args.new_tokens)
        return len(prompts) * args.new_tokens / (time.perf_counter() - start)

    run(args.batch_size)  # warm-up
    rates: dict[str, list[float]] = {"one at a time": [], "batched": []}
    for _ in range(args.rounds):
        rates["one at a time"].append(run(1))
        rates["batched"].append(run(args.batch_size))
    best = {k: max(v) for k, v in rates.items()}
    print(
        f"tiny Llama (2 layers, 128 wide), {len(prompts)} prompts x {args.new_tokens} new tokens, "
        f"{torch.get_num_threads()} threads, best of {args.rounds}"
    )
    for k, v in best.items():
        print(f"  {k:14s}: {v:8.1f} generated tokens/s")
    ratio = best["batched"] / best["one at a time"]
    print(f"  speed-up at batch {args.batch_size}: {ratio:.1f}x")
    return ratio


if __name__ == "__main__":
    main()
