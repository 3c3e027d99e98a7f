"""Reward conditioning for the UNet, two strategies behind one module.

- ``text`` (the paper's): rewards written as tags after the caption, ``a cat <rm1> 0.3 <rm2> -1.1``,
  inside the text encoder's 77 tokens. The caption is truncated to make room; the tags never are.
- ``embed`` (default): each normalised reward -> Fourier features -> a small MLP -> one token of the
  text encoder's width, appended after the 77 caption tokens: hidden states (B, 77 + K, D). A learned
  null token per reward stands for "no reward condition" (guidance dropout, reward guidance).

The UNet cross-attends to whatever sequence it gets, so no UNet change is needed for either.
``none`` ignores the rewards: the same fine-tune without reward conditioning, as a baseline.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ric_core.tags import format_tags
from ric_diffusion.config import ConditioningConfig

CONDITIONER_WEIGHTS = "conditioner.safetensors"
CONDITIONER_CONFIG = "conditioner.json"


class RewardConditioner(nn.Module):
    """Turns caption hidden states and normalised rewards into the UNet's ``encoder_hidden_states``.

    Example:
        >>> c = RewardConditioner(2, 32, ConditioningConfig(strategy="embed"))
        >>> c(torch.zeros(3, 77, 32), torch.zeros(3, 2)).shape
        torch.Size([3, 79, 32])
    """

    def __init__(self, num_rewards: int, text_dim: int, cfg: ConditioningConfig):
        super().__init__()
        self.num_rewards, self.text_dim, self.cfg = num_rewards, text_dim, cfg
        self.strategy = cfg.strategy
        if self.strategy == "embed":
            # Log-spaced frequencies cover z-scores from fine (0.1 apart) to coarse (several units).
            self.register_buffer("freqs", torch.logspace(-1, 1, cfg.fourier_features) * math.pi, persistent=False)
            in_dim = 2 * cfg.fourier_features + 1
            self.mlps = nn.ModuleList(
                nn.Sequential(nn.Linear(in_dim, cfg.hidden_dim), nn.SiLU(), nn.Linear(cfg.hidden_dim, text_dim))
                for _ in range(num_rewards)
            )
            self.null_tokens = nn.Parameter(torch.randn(num_rewards, text_dim) * 0.02)

    # ---- text side ----------------------------------------------------------------------------
    def token_ids(self, tokenizer, captions: Sequence[str], rewards: np.ndarray | None = None) -> torch.Tensor:
        """Token ids (B, 77). ``text`` strategy with rewards: caption truncated first, tags kept whole."""
        max_len = int(tokenizer.model_max_length)
        if self.strategy != "text" or rewards is None:
            return tokenizer(
                list(captions), padding="max_length", max_length=max_len, truncation=True, return_tensors="pt"
            ).input_ids
        rows = []
        for caption, z in zip(captions, np.asarray(rewards), strict=True):
            tag_ids = tokenizer(format_tags(z, self.cfg.tag_template), add_special_tokens=False).input_ids
            budget = max_len - 2 - len(tag_ids)
            if budget < 0:
                raise ValueError(f"{self.num_rewards} reward tags need {len(tag_ids)} tokens, more than {max_len - 2}")
            cap_ids = tokenizer(caption, add_special_tokens=False, truncation=True, max_length=max(budget, 1)).input_ids
            cap_ids = cap_ids[:budget]
            ids = [tokenizer.bos_token_id, *cap_ids, *tag_ids, tokenizer.eos_token_id]
            rows.append(ids + [tokenizer.pad_token_id] * (max_len - len(ids)))
        return torch.tensor(rows, dtype=torch.long)

    # ---- reward side --------------------------------------------------------------------------
    def reward_tokens(self, rewards: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K) normalised rewards -> (B, K, D) tokens; rows where ``drop`` is True get the null tokens."""
        z = rewards.to(self.null_tokens.dtype)[..., None]  # (B, K, 1)
        feats = torch.cat([torch.sin(z * self.freqs), torch.cos(z * self.freqs), z], dim=-1)  # (B, K, 2F+1)
        tokens = torch.stack([mlp(feats[:, k]) for k, mlp in enumerate(self.mlps)], dim=1)  # (B, K, D)
        null = self.null_tokens.expand_as(tokens)
        if drop is None:
            return tokens
        return torch.where(drop[:, None, None], null, tokens)

    def forward(
        self, text_states: torch.Tensor, rewards: torch.Tensor | None = None, drop_rewards: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Caption states (B, L, D) + rewards (B, K) -> encoder states (B, L + K, D) (embed) or (B, L, D) (text).

        ``rewards=None`` means "no reward condition" (all null tokens). The text strategy has its
        rewards inside ``text_states`` already, so it passes them through.
        """
        if self.strategy in ("text", "none"):  # "none": the unconditioned baseline ignores rewards
            return text_states
        b = text_states.shape[0]
        if rewards is None:
            tokens = self.null_tokens.expand(b, -1, -1)
        else:
            tokens = self.reward_tokens(rewards.to(text_states.device), drop_rewards)
        return torch.cat([text_states, tokens.to(text_states.dtype)], dim=1)

    # ---- persistence --------------------------------------------------------------------------
    def save(self, out_dir: str | os.PathLike) -> None:
        from safetensors.torch import save_file

        out = Path(out_dir)
        meta = {"num_rewards": self.num_rewards, "text_dim": self.text_dim, **self.cfg.__dict__}
        (out / CONDITIONER_CONFIG).write_text(json.dumps(meta, indent=2))
        state = {k: v.detach().float().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, out / CONDITIONER_WEIGHTS)

    @classmethod
    def load(cls, ckpt_dir: str | os.PathLike) -> RewardConditioner:
        from safetensors.torch import load_file

        ckpt = Path(ckpt_dir)
        meta = json.loads((ckpt / CONDITIONER_CONFIG).read_text())
        num_rewards, text_dim = meta.pop("num_rewards"), meta.pop("text_dim")
        module = cls(num_rewards, text_dim, ConditioningConfig(**meta))
        module.load_state_dict(load_file(ckpt / CONDITIONER_WEIGHTS))
        return module
