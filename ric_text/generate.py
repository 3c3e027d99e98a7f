"""Generation from a RiC LLM checkpoint for a preference (or explicit rewards), batched with left padding.

python -m ric_text.generate --checkpoint runs/hh --prompt "How do I bake bread?" --preference 0.7 0.3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rewards import reward_names
from ric_core.mapping import METHODS
from ric_core.stats import RewardStats
from ric_runtime.config import console, from_dict
from ric_text.config import TextConfig
from ric_text.data import config_context
from ric_text.formats import SUMMARY_MARKER, clean_response, is_degenerate, prompt_ids
from ric_text.model import load_policy, load_tokenizer, read_ric_config, resolve_text_checkpoint


@dataclass
class TextResult:
    prompt: str  # the clean prompt
    text: str  # the cleaned response
    raw: str  # everything the model generated
    targets: list[float]  # normalised targets written into the prompt
    degenerate: bool


def as_user_prompt(text: str, fmt: str) -> str:
    """A bare question -> the format's prompt (HH dialogue or summary instruction); formatted ones pass."""
    if fmt == "assistant" and not text.endswith("\n\nAssistant:"):
        return f"\n\nHuman: {text} \n\nAssistant:"
    if fmt == "summary" and not text.rstrip().endswith(SUMMARY_MARKER):
        from ric_text.data import SUMMARY_TEMPLATE

        return SUMMARY_TEMPLATE.format(post=text.replace("\n", " "))
    return text


class TextGenerator:
    """A policy + adapter that writes the mapped reward tags into every prompt.

    Example:
        >>> gen = TextGenerator.from_checkpoint("runs/hh-harmless-helpful")  # doctest: +SKIP
        >>> gen(["How do I bake bread?"], preference=[0.2, 0.8])[0].text  # doctest: +SKIP
    """

    def __init__(self, model: Any, tokenizer: Any, stats: RewardStats | None, cfg: TextConfig):
        if stats is None and cfg.prompt.use_tags:
            raise ValueError("a tagged (RiC) model needs its reward statistics to turn preferences into targets")
        self.model, self.tok, self.stats, self.cfg = model, tokenizer, stats, cfg

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        base_model: str | None = None,
        device: Any = "cpu",
        merge: bool = True,
        trust_remote_code: bool = False,
    ) -> TextGenerator:
        """Load a checkpoint. Code shipped with a model runs only when the *caller* passes
        ``trust_remote_code=True``: the flag saved in a checkpoint's config is ignored, so a downloaded
        checkpoint folder cannot make the loader run its own Python."""
        from peft import PeftModel

        ckpt = resolve_text_checkpoint(path)
        cfg = from_dict(TextConfig, read_ric_config(ckpt))
        cfg.model = dataclasses.replace(cfg.model, trust_remote_code=trust_remote_code)
        if base_model:
            cfg.model = dataclasses.replace(cfg.model, pretrained=base_model)
        tok = load_tokenizer(str(ckpt), cfg.model.trust_remote_code)
        model = PeftModel.from_pretrained(load_policy(cfg.model, device), str(ckpt))
        if merge and not (cfg.model.load_in_8bit or cfg.model.load_in_4bit):
            model = model.merge_and_unload()  # the paper generates with the LoRA merged
        stats = RewardStats.load(ckpt / "reward_stats.json")
        try:
            stats.check_names(reward_names(cfg.rewards))
        except ValueError as e:
            raise ValueError(f"{ckpt}: reward_stats.json does not match the checkpoint's config: {e}") from None
        return cls(model.eval(), tok, stats, cfg)

    def targets(
        self, n: int, preference: Sequence[float] | None = None, rewards: Any = None, mapping: str | None = None
    ) -> np.ndarray:
        """(n, K) normalised targets from a preference, one reward vector, or one row per prompt
        ((n, 0) for an untagged model: it has no targets)."""
        if not self.cfg.prompt.use_tags:
            return np.zeros((n, 0))
        z = self.cfg.inference.targets(self.stats, preference, rewards, mapping)
        if z.ndim == 2 and z.shape[0] not in (1, n):
            raise ValueError(f"got {z.shape[0]} rows of rewards for {n} prompts; give one row per prompt")
        return np.broadcast_to(z, (n, self.stats.num_rewards)).copy()

    @torch.no_grad()
    def __call__(
        self,
        prompts: Sequence[str],
        preference: Sequence[float] | None = None,
        rewards: Any = None,
        mapping: str | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
        suppress_eos_first: bool | None = None,
    ) -> list[TextResult]:
        g, fmt = self.cfg.generation, self.cfg.prompt.format
        temperature = g.temperature if temperature is None else float(temperature)
        if not temperature >= 0:  # NaN included
            raise ValueError(f"temperature must be >= 0 (0 = greedy decoding); got {temperature}")
        max_new = g.max_new_tokens if max_new_tokens is None else max_new_tokens
        if not (isinstance(max_new, int) and max_new >= 1):
            raise ValueError(f"max_new_tokens must be a whole number >= 1; got {max_new}")
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be >= 0; got {seed}")
        sampling = (
            {"do_sample": False}
            if temperature == 0
            else {"do_sample": True, "temperature": temperature, "top_p": top_p or g.top_p, "top_k": 0}
        )
        prompts = [as_user_prompt(p, fmt) for p in ([prompts] if isinstance(prompts, str) else prompts)]
        z = self.targets(len(prompts), preference, rewards, mapping)
        if seed is not None:
            torch.manual_seed(seed)
        bs = batch_size or g.batch_size
        results: list[TextResult] = []
        for start in range(0, len(prompts), bs):
            chunk, zc = prompts[start : start + bs], z[start : start + bs]
            ids = [prompt_ids(self.tok, p, t, fmt, self.cfg.prompt.template) for p, t in zip(chunk, zc, strict=True)]
            self.check_length(max(map(len, ids)), max_new)
            batch = self.tok.pad({"input_ids": ids}, padding=True, return_tensors="pt")  # left padding
            out = self.model.generate(
                input_ids=batch["input_ids"].to(self.model.device),
                attention_mask=batch["attention_mask"].to(self.model.device),
                **sampling,
                max_new_tokens=max_new,
                min_new_tokens=1 if (g.suppress_eos_first if suppress_eos_first is None else suppress_eos_first) else 0,
                pad_token_id=self.tok.pad_token_id,
                eos_token_id=self.tok.eos_token_id,
            )
            new = out[:, batch["input_ids"].shape[1] :]
            for p, t, row in zip(chunk, zc, new, strict=True):
                raw = self.tok.decode(row, skip_special_tokens=True)
                text = clean_response(raw, ("###",) if fmt == "summary" else ())
                results.append(TextResult(p, text, raw, t.tolist(), is_degenerate(text)))
        return results

    @property
    def context(self) -> int | None:
        """Tokens the model reads at most (its config's max_position_embeddings or n_positions), if stated."""
        return config_context(self.model.config)

    def check_length(self, prompt_tokens: int, max_new_tokens: int) -> None:
        """Refuse a prompt + response longer than the model reads (past it positions are out of range)."""
        if self.context and prompt_tokens + max_new_tokens > self.context:
            raise ValueError(
                f"the prompt is {prompt_tokens} tokens (with the reward tags) and max_new_tokens is {max_new_tokens}, "
                f"more than the {self.context} tokens this model reads: shorten the prompt or lower max_new_tokens"
            )


def generate(argv: list[str] | None = None) -> list[TextResult]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--prompt", required=True, action="append", help="repeat for several prompts")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--preference", type=float, nargs="+")
    group.add_argument("--rewards", type=float, nargs="+")
    ap.add_argument("--mapping", choices=METHODS)
    ap.add_argument("--max-new-tokens", type=int)
    ap.add_argument("--temperature", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base-model")
    ap.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run code shipped with the base model (never read from a checkpoint)",
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args(argv)
    gen = TextGenerator.from_checkpoint(
        args.checkpoint, base_model=args.base_model, device=args.device, trust_remote_code=args.trust_remote_code
    )
    results = gen(
        args.prompt,
        preference=args.preference,
        rewards=args.rewards,
        mapping=args.mapping,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        seed=args.seed,
    )
    for r in results:
        print(json.dumps({"targets": dict(zip(gen.stats.names, r.targets, strict=True)), "response": r.text}))
    return results


def main(argv: list[str] | None = None) -> int:
    """The ``ric-text-generate`` console script: 0 on success, 2 and one line on bad input."""
    return console(generate, argv, "ric-text-generate")


if __name__ == "__main__":
    raise SystemExit(main())
