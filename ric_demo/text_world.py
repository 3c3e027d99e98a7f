"""The text demo world: template product reviews, a tiny GPT-2 pre-trained on them, RiC through ric_text.

Rewards (both weight-free registry rewards): ``toy_sentiment`` (positive lexicon words; each positive
sentence has exactly one) and ``toy_brevity`` (minus the word count). Positive reviews are longer in
the data, so the two conflict one way only: no "short and fully positive" corner exists for the model
to aim at, and neither reward can be earned by truncation (short answers lose positivity) or by
noise (a fragment earns no lexicon word without costing length).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rewards.toy_reviews import REVIEW_PRODUCTS

PRODUCTS = list(REVIEW_PRODUCTS)  # the products toy_on_topic knows
HELD_OUT = ["umbrella", "headphones", "desk", "mug"]  # never in the RiC fine-tune; seen in pre-training
POSITIVE = [
    "I love this {p}.",
    "The {p} works great.",
    "It is an excellent {p}.",
    "The build is superb.",
    "I recommend it to friends.",
    "The design is beautiful.",
    "It feels sturdy.",
    "It is a fantastic buy.",
]
NEUTRAL = ["It arrived on Tuesday.", "The box was brown.", "I use it every morning.", "It came with a manual."]
REWARDS = ["toy_sentiment", "toy_brevity"]


def prompt_for(product: str) -> str:
    return f"\n\nHuman: Write a review of the {product}. \n\nAssistant:"


def make_reviews(n: int, rng: np.random.Generator, products: list[str]) -> list[dict[str, str]]:
    """Reviews with 0-6 positive sentences and 1-2 neutral ones: more praise means more words."""
    rows = []
    for _ in range(n):
        p = products[rng.integers(len(products))]
        n_pos = int(rng.integers(0, 7))
        pos = [POSITIVE[i].format(p=p) for i in rng.choice(len(POSITIVE), n_pos, replace=False)]
        neu = [NEUTRAL[i] for i in rng.choice(len(NEUTRAL), int(rng.integers(1, 3)), replace=False)]
        sentences = pos + neu
        rng.shuffle(sentences)
        rows.append({"prompt": prompt_for(p), "response": " ".join(sentences)})
    return rows


def well_formed(text: str) -> bool:
    """A fluent template review: every sentence is one of the templates (for any product)."""
    sentences = [s.strip() + "." for s in text.split(".") if s.strip()]
    if not sentences or not text.strip().endswith("."):
        return False
    known = set(NEUTRAL)
    for p in PRODUCTS:
        known |= {t.format(p=p) for t in POSITIVE}
    return all(s in known for s in sentences)


@dataclass
class TextWorld:
    root: Path
    train_file: Path
    tokenizer_dir: Path
    base_model: Path


def build_tokenizer(texts: list[str], out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer, bpe.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    bpe.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"], initial_alphabet=alphabet)
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>", model_max_length=256
    )
    tok.save_pretrained(out)


def pretrain(texts: list[str], tok_dir: Path, out: Path, steps: int, seed: int) -> None:
    """Plain causal-LM pre-training of a 2-layer GPT-2 on the whole corpus (the 'base model')."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=256,
        n_embd=128,
        n_inner=256,
        n_layer=2,
        n_head=4,
        activation_function="gelu",
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = GPT2LMHeadModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    ids = [tok(t).input_ids + [tok.eos_token_id] for t in texts]
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        batch = [ids[i] for i in rng.integers(0, len(ids), 32)]
        width = max(map(len, batch))
        x = torch.full((32, width), tok.eos_token_id)
        mask = torch.zeros((32, width), dtype=torch.long)
        for j, row in enumerate(batch):
            x[j, : len(row)], mask[j, : len(row)] = torch.tensor(row), 1
        labels = x.masked_fill(mask == 0, -100)
        loss = model(input_ids=x, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
    model.save_pretrained(out)
    tok.save_pretrained(out)


def build_world(root: Path, seed: int, quick: bool) -> TextWorld:
    """Corpus, tokenizer and pre-trained base model, cached under ``root`` (rebuilt if missing)."""
    root.mkdir(parents=True, exist_ok=True)
    train_file, tok_dir, base = root / "train.jsonl", root / "tokenizer", root / "base_model"
    marker = root / "done.json"
    key = {"seed": seed, "quick": quick, "version": 1}
    if marker.exists() and json.loads(marker.read_text()) == key:
        return TextWorld(root, train_file, tok_dir, base)
    rng = np.random.default_rng(seed)
    train_products = [p for p in PRODUCTS if p not in HELD_OUT]
    rows = make_reviews(1500 if quick else 4000, rng, train_products)
    train_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # Tokenizer and pre-training see every product (held-out ones too), with random tags in the prompts,
    # so held-out prompts and tag tokens are in-distribution for the base model (toy-worlds.md).
    everything = make_reviews(3000, rng, PRODUCTS)
    tagged = []
    for r in everything:
        z = np.round(rng.normal(size=2), 1)
        body = r["prompt"].removesuffix("\n\nAssistant:")
        tagged.append(f"{body} <rm1_score> {z[0]:.1f} <rm2_score> {z[1]:.1f} \n\nAssistant: {r['response']}")
    build_tokenizer(tagged, tok_dir)
    pretrain(tagged, tok_dir, base, steps=40 if quick else 250, seed=seed)
    marker.write_text(json.dumps(key))
    return TextWorld(root, train_file, tok_dir, base)
