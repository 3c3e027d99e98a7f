"""Hugging Face sequence-classification reward models with their input conventions.

Conventions (docs/method.md 2.2), where ``prompt`` is the clean prompt (no reward tags):
- ``pair``: tokenizer(prompt, response), a text pair (harmless, helpful, deberta);
- ``response``: the response alone (humor);
- ``reversed_bos``: response + " " + BOS + " " + prompt, one text (summary; pass the post as prompt);
- ``response_pair``: text = response, text_pair = prompt (faithful; pass the post as prompt).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rewards.base import TEXT_INPUTS, Reward
from rewards.presets import CONVENTIONS, PRESETS


class HFTextReward(Reward):
    """One logit of a sequence-classification model, for (prompt, response) pairs, batched.

    Inputs are truncated to min(tokenizer maximum, ``max_length``) tokens (1024 as in the paper).

    Example:
        >>> rm = HFTextReward("Ray2333/gpt2-large-helpful-reward_model", "pair")  # doctest: +SKIP
        >>> rm(prompts=["\\n\\nHuman: hi \\n\\nAssistant:"], completions=["Hello!"])  # doctest: +SKIP
        array([0.7], dtype=float32)
    """

    inputs = TEXT_INPUTS

    def __init__(
        self,
        model: str | os.PathLike,
        convention: str = "pair",
        logit_index: int = 0,
        name: str | None = None,
        tokenizer: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        batch_size: int = 8,
        max_length: int = 1024,
    ):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if convention not in CONVENTIONS:
            raise ValueError(f"unknown input convention {convention!r}; choose one of {CONVENTIONS}")
        self.convention, self.logit_index = convention, logit_index
        self.name = name or str(model).rstrip("/").split("/")[-1]
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer or model)
        self.model = AutoModelForSequenceClassification.from_pretrained(model, dtype=dtype)
        self.model = self.model.to(device).eval().requires_grad_(False)
        if self.tokenizer.pad_token is None:  # GPT-2 reward models ship without one
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        if convention == "reversed_bos" and self.tokenizer.bos_token is None:
            raise ValueError(f"convention 'reversed_bos' needs a tokenizer with a BOS token; {model} has none")
        self.max_length = min(int(self.tokenizer.model_max_length), max_length)
        self.device, self.batch_size = torch.device(device), batch_size

    def build_texts(self, prompts: Sequence[str], completions: Sequence[str]) -> tuple[list[str], list[str] | None]:
        """The (text, text_pair) the tokenizer gets under this model's convention."""
        if self.convention == "pair":
            return list(prompts), list(completions)
        if self.convention == "response":
            return list(completions), None
        if self.convention == "reversed_bos":
            bos = self.tokenizer.bos_token
            return [f"{c} {bos} {p}" for p, c in zip(prompts, completions, strict=True)], None
        return list(completions), list(prompts)  # response_pair

    @torch.no_grad()
    def score(self, prompts: Sequence[str], completions: Sequence[str], **_: Any) -> np.ndarray:
        texts, pairs = self.build_texts(prompts, completions)
        enc = self.tokenizer(
            texts, pairs, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        ).to(self.device)
        logits = self.model(**enc).logits  # (N, num_labels)
        if self.logit_index >= logits.shape[-1]:
            raise ValueError(
                f"reward '{self.name}' reads logit {self.logit_index} but the model has {logits.shape[-1]} output(s)"
            )
        return logits[:, self.logit_index].float().cpu().numpy()


def text_reward_preset(name: str, path: str | os.PathLike | None = None, **kwargs: Any) -> HFTextReward:
    """One of the paper's six text rewards by name; ``path`` swaps in a local copy of the model."""
    if name not in PRESETS:
        raise ValueError(f"no text reward preset {name!r}; presets: {sorted(PRESETS)}")
    p = PRESETS[name]
    return HFTextReward(path or p.model_id, p.convention, p.logit_index, name=name, **kwargs)
