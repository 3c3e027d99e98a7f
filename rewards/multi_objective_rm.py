"""Multi-objective text reward models (ArmoRM-style): one forward pass, several named objectives.

ArmoRM-Llama3-8B-v0.1 is a Llama backbone with a bias-free linear ``regression_layer`` (19 objectives x
hidden) read at the last token of the chat-formatted conversation; its ``rewards`` output is exactly that
(the gating network only mixes them into one score, which RiC does not want). The hub model ships its
own Python class; we load it without running any: the backbone through transformers' ``AutoModel`` (its
config is a plain ``llama`` one) and the head tensor straight from the checkpoint's safetensors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewards.base import TEXT_INPUTS, MultiReward
from rewards.dialogue import chat_messages

DEFAULT_MODEL = "RLHFlow/ArmoRM-Llama3-8B-v0.1"
# The order of ArmoRM's regression_layer rows (its model card's attribute list).
ARMORM_OBJECTIVES = (
    "helpsteer-helpfulness",
    "helpsteer-correctness",
    "helpsteer-coherence",
    "helpsteer-complexity",
    "helpsteer-verbosity",
    "ultrafeedback-overall_score",
    "ultrafeedback-instruction_following",
    "ultrafeedback-truthfulness",
    "ultrafeedback-honesty",
    "ultrafeedback-helpfulness",
    "beavertails-is_safe",
    "prometheus-score",
    "argilla-overall_quality",
    "argilla-judge_lm",
    "code-complexity",
    "code-style",
    "code-explanation",
    "code-instruction-following",
    "code-readability",
)


def local_folder(path: str | os.PathLike) -> Path:
    """A local copy of the model (a hub id is fetched once through huggingface_hub)."""
    if Path(path).is_dir():
        return Path(path)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(path), allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"]))


def read_tensor(folder: Path, key: str) -> torch.Tensor:
    """One tensor of a (possibly sharded) safetensors checkpoint, read without loading the rest."""
    from safetensors import safe_open

    index = folder / "model.safetensors.index.json"
    shard = json.loads(index.read_text())["weight_map"].get(key) if index.exists() else "model.safetensors"
    if shard is None or not (folder / shard).exists():
        raise ValueError(f"{folder} has no tensor {key!r}: not an ArmoRM-style checkpoint (set head_key)")
    with safe_open(str(folder / shard), framework="pt") as f:
        if key not in f.keys():  # noqa: SIM118  (a safetensors handle has keys(), not __contains__)
            raise ValueError(f"{folder} has no tensor {key!r}: not an ArmoRM-style checkpoint (set head_key)")
        return f.get_tensor(key)


class MultiObjectiveRM(MultiReward):
    """Chosen objectives of an ArmoRM-style model as reward columns, all from one forward pass.

    ``objectives``: a list of objective names (they become the column names) or a dict
    ``{column: objective}``; ``None`` takes all of ``all_objectives``.

    Example:
        >>> objectives = {"helpful": "helpsteer-helpfulness", "safe": "beavertails-is_safe"}
        >>> rm = MultiObjectiveRM(objectives=objectives)  # doctest: +SKIP
        >>> rm(prompts=["How do I bake bread?"], completions=["Mix flour, water and yeast."]).shape  # doctest: +SKIP
        (1, 2)
    """

    inputs = TEXT_INPUTS

    def __init__(
        self,
        path: str | os.PathLike = DEFAULT_MODEL,
        objectives: Sequence[str] | dict[str, str] | None = None,
        name: str = "armorm",
        head_key: str = "regression_layer.weight",
        all_objectives: Sequence[str] = ARMORM_OBJECTIVES,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        batch_size: int = 8,
        max_length: int = 4096,
    ):
        from transformers import AutoModel, AutoTokenizer

        pick = dict(zip(objectives, objectives, strict=True)) if isinstance(objectives, (list, tuple)) else objectives
        pick = pick or {o: o for o in all_objectives}
        unknown = [o for o in pick.values() if o not in all_objectives]
        if unknown:
            raise ValueError(f"reward '{name}': unknown objective(s) {unknown}; this model has {list(all_objectives)}")
        folder = local_folder(path)
        head = read_tensor(folder, head_key)  # (num_objectives, hidden)
        if head.shape[0] != len(all_objectives):
            raise ValueError(f"{head_key} has {head.shape[0]} rows but {len(all_objectives)} objectives are named")
        self.name, self.columns = name, tuple(pick)
        self.head = head[[list(all_objectives).index(o) for o in pick.values()]].float().to(device)  # (C, H)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.tokenizer.padding_side = "right"  # the reward is read at the last real token
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModel.from_pretrained(folder, dtype=dtype).to(device).eval().requires_grad_(False)
        self.device, self.batch_size, self.max_length = torch.device(device), batch_size, max_length

    @torch.no_grad()
    def score(self, prompts: Sequence[str], completions: Sequence[str], **_: Any) -> np.ndarray:
        texts = [
            self.tokenizer.apply_chat_template(chat_messages(p, c), tokenize=False)
            for p, c in zip(prompts, completions, strict=True)
        ]
        enc = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            add_special_tokens=False,  # the chat template writes its own
            return_tensors="pt",
        ).to(self.device)
        hidden = self.model(**enc).last_hidden_state  # (B, T, H)
        last = enc["attention_mask"].sum(dim=1) - 1  # (B,) right padding: the last real token
        h = hidden[torch.arange(hidden.shape[0], device=self.device), last].float()  # (B, H)
        return (h @ self.head.T).cpu().numpy()  # (B, C)
