"""The text demo world: template product reviews, a tiny GPT-2 pre-trained on them, RiC through ric_text.

Rewards: any 2-5 of ``REWARD_NAMES``, the hack-resistant review rewards of ``rewards.toy_reviews`` (each
scores noise, blank output, repetition, word lists, fragments and truncation below a real review). The
demo uses ``toy_praise`` (distinct praise words) against ``toy_concise`` (minus the word count): each praising
sentence costs words, so no "short and fully positive" corner exists for the model to aim at. The others:
``toy_on_topic`` (names the asked product; some reviews name another one), ``toy_facts`` (distinct factual
sentences) and ``toy_critique`` (distinct criticism words).

A review draws its numbers of praising, factual and critical sentences from a Gaussian copula: ``rho`` sets
the correlation of one ``pair`` of those counts in the data (0: independent), for the ``correlation`` study.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rewards.toy_reviews import REVIEW_PRODUCTS
from ric_demo.copula import copula_uniforms

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
NEUTRAL = [  # factual sentences: no praise or criticism word (toy_facts counts them)
    "It arrived on Tuesday.",
    "The box was brown.",
    "I use it every morning.",
    "It came with a manual.",
    "It weighs about two pounds.",
    "I bought it in March.",
]
NEGATIVE = ["The lid is flimsy.", "It is a bit noisy.", "The handle feels cheap.", "Shipping was slow."]
OTHER = "It replaced my old {q}."  # names another product (toy_on_topic: -1), in 10% of the reviews
# objectives order: the studies use the first N for N rewards; the demo the first two
REWARD_NAMES = ["toy_praise", "toy_concise", "toy_on_topic", "toy_facts", "toy_critique"]
REWARDS = REWARD_NAMES[:2]
COUNTS = {"toy_praise": 6, "toy_facts": 3, "toy_critique": 2}  # sentences drawn: 0..max
PAIR = ("toy_praise", "toy_facts")  # the pair whose correlation ``rho`` sets


def prompt_for(product: str) -> str:
    return f"\n\nHuman: Write a review of the {product}. \n\nAssistant:"


def sentence_counts(n: int, rng: np.random.Generator, rho: float = 0.0, pair: Sequence[str] = PAIR) -> np.ndarray:
    """(n, 3) counts of praising, factual and critical sentences, from a Gaussian copula whose two ``pair``
    coordinates correlate at ``rho`` (the counts' own correlation is a little weaker: they are discrete)."""
    u = copula_uniforms(n, rng, list(COUNTS), pair, rho)  # (n, 3)
    top = np.array(list(COUNTS.values()))
    return np.minimum((u * (top + 1)).astype(int), top)


def make_reviews(
    n: int, rng: np.random.Generator, products: list[str], rho: float = 0.0, pair: Sequence[str] = PAIR
) -> list[dict[str, str]]:
    """Reviews of praising, factual and critical sentences (at least one sentence; more praise, more words)."""
    rows = []
    for n_pos, n_fact, n_neg in sentence_counts(n, rng, rho, pair):
        p = products[rng.integers(len(products))]
        pos = [POSITIVE[i].format(p=p) for i in rng.choice(len(POSITIVE), n_pos, replace=False)]
        fact = [NEUTRAL[i] for i in rng.choice(len(NEUTRAL), max(int(n_fact), int(n_pos + n_neg == 0)), replace=False)]
        neg = [NEGATIVE[i] for i in rng.choice(len(NEGATIVE), n_neg, replace=False)]
        sentences = pos + fact + neg
        if rng.random() < 0.1:
            sentences.append(OTHER.format(q=rng.choice([q for q in PRODUCTS if q != p])))
        rng.shuffle(sentences)
        rows.append({"prompt": prompt_for(p), "response": " ".join(sentences)})
    return rows


def well_formed(text: str) -> bool:
    """A fluent template review: every sentence is one of the templates (for any product)."""
    sentences = [s.strip() + "." for s in text.split(".") if s.strip()]
    if not sentences or not text.strip().endswith("."):
        return False
    known = set(NEUTRAL) | set(NEGATIVE)
    for p in PRODUCTS:
        known |= {t.format(p=p) for t in POSITIVE} | {OTHER.format(q=p)}
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


def build_world(root: Path, seed: int, quick: bool, rho: float = 0.0, pair: Sequence[str] = PAIR) -> TextWorld:
    """Corpus, tokenizer and pre-trained base model, cached under ``root`` (rebuilt if missing).

    The base model depends on (seed, quick) only; each ``rho`` (and ``pair``) has its own training file, so
    the correlation study's worlds share one base."""
    root.mkdir(parents=True, exist_ok=True)
    tok_dir, base = root / "tokenizer", root / "base_model"
    marker, key = root / "done.json", {"seed": seed, "quick": quick, "version": 2}
    if not (marker.exists() and json.loads(marker.read_text()) == key):
        for old in root.glob("train*.jsonl"):  # another seed's or an older world's data
            old.unlink()
        tagged = pretraining_corpus(np.random.default_rng([seed, 1]))
        build_tokenizer(tagged, tok_dir)
        pretrain(tagged, tok_dir, base, steps=40 if quick else 250, seed=seed)
        marker.write_text(json.dumps(key))
    suffix = "" if rho == 0 else f"_rho{rho:+.2f}_{pair[0]}_{pair[1]}"
    train_file = root / f"train{suffix}.jsonl"
    if not train_file.exists():
        rng = np.random.default_rng([seed, 0])
        rows = make_reviews(1500 if quick else 4000, rng, [p for p in PRODUCTS if p not in HELD_OUT], rho, pair)
        tmp = train_file.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        tmp.replace(train_file)
    return TextWorld(root, train_file, tok_dir, base)


def pretraining_corpus(rng: np.random.Generator) -> list[str]:
    """3,000 reviews of every product (held-out ones too) with 2-5 random reward tags in the prompt, so
    held-out prompts and tag tokens are in-distribution for the base model (toy-worlds.md)."""
    tagged = []
    for r in make_reviews(3000, rng, PRODUCTS):
        z = np.round(rng.normal(size=int(rng.integers(2, len(REWARD_NAMES) + 1))), 1)
        tags = " ".join(f"<rm{i + 1}_score> {v:.1f}" for i, v in enumerate(z))
        question = r["prompt"].removesuffix("\n\nAssistant:")
        tagged.append(f"{question} {tags} \n\nAssistant: {r['response']}")
    return tagged
