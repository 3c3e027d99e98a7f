"""Benchmark LLM checkpoints over a preference sweep: results.csv, summary.json, pareto.png, samples.

    python -m ric_text.benchmark --model ric=runs/hh-harmless-helpful --model soups=soup:runs/m/w_1_0,runs/m/w_0_1 \\
        --model morlhf=per-preference:runs/m --rewards harmless helpful --out runs/bench-hh

A model is ``NAME=SPEC``: a RiC (or untagged) checkpoint from ``ric_text.train``, ``soup:A,B,...``
(Rewarded Soups over single-reward LoRAs, e.g. the one-hot runs of ``ric_text.morlhf``; mixed by
peft's ``add_weighted_adapter(combination_type="cat")``, which sums w_i * dW_i exactly),
``per-preference:DIR`` (one run per preference, each with ``preference.json``) or a plain base model.
Prompts: a JSONL file (``prompt`` field), a text file, a ``datasets`` column, or the 50 shipped
HH-style questions. Interrupted sweeps resume where they stopped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ric_eval.cli import run_benchmark, sweep_arg_parser
from ric_eval.compute import add_compute, read_compute
from ric_eval.specs import split_spec, with_inference
from ric_eval.sweep import PerPreferenceRuns, soup_weights
from ric_eval.table import preference_key
from ric_runtime.config import console, from_dict
from ric_text.config import TextConfig
from ric_text.generate import TextGenerator
from ric_text.model import RIC_CONFIG, load_policy, load_tokenizer, read_ric_config, resolve_text_checkpoint

PROMPTS = Path(__file__).parent / "prompts" / "hh_style.jsonl"


def _seed(seeds: list[int]) -> int:
    """One sampling seed per batch (text generation seeds a batch, not each row)."""
    return int(np.random.SeedSequence(seeds).generate_state(1)[0] % (2**31))


class RiCTextModel:
    """A ``ric_text.train`` checkpoint, tagged (RiC) or not (the unconditioned baseline, GRPO runs)."""

    def __init__(self, path: str, device: Any = "cpu"):
        path, inference = split_spec(path)  # PATH?mapping=...: this checkpoint under other inference settings
        self.ckpt = resolve_text_checkpoint(path)
        self.gen = TextGenerator.from_checkpoint(self.ckpt, device=device)
        self.gen.cfg.inference = with_inference(self.gen.cfg.inference, inference)
        self.preference_free = not self.gen.cfg.prompt.use_tags  # untagged: one pass serves every preference

    def covers(self, preference: Sequence[float]) -> bool:
        return True

    def generate(self, prompts, preference, seeds):
        res = self.gen(prompts, preference=list(preference), seed=_seed(seeds))
        if not self.gen.cfg.prompt.use_tags:
            return [r.text for r in res], None
        raw = self.gen.stats.denormalize(np.array(res[0].targets))
        return [r.text for r in res], dict(zip(self.gen.stats.names, np.round(raw, 6).tolist(), strict=True))

    def compute(self):
        return read_compute(self.ckpt)


class TextSoupModel:
    """Rewarded Soups: the ingredients' LoRAs on one base; preference w -> one adapter with sum_i w_i dW_i."""

    def __init__(self, paths: Sequence[str], device: Any = "cpu"):
        from peft import PeftModel

        self.ckpts = [resolve_text_checkpoint(p) for p in paths]
        if len(self.ckpts) < 2:
            raise ValueError("soup: needs one checkpoint per objective, e.g. soup:runs/m/w_1_0,runs/m/w_0_1")
        cfg = from_dict(TextConfig, read_ric_config(self.ckpts[0]))
        cfg = dataclasses.replace(cfg, prompt=dataclasses.replace(cfg.prompt, use_tags=False))
        self.names = [f"soup{i}" for i in range(len(self.ckpts))]
        model = PeftModel.from_pretrained(load_policy(cfg.model, device), str(self.ckpts[0]), adapter_name="soup0")
        for name, ckpt in zip(self.names[1:], self.ckpts[1:], strict=True):
            model.load_adapter(str(ckpt), adapter_name=name)
        self.model, self.current = model.eval(), None
        self.gen = TextGenerator(self.model, load_tokenizer(str(self.ckpts[0])), None, cfg)

    def set_weights(self, preference: Sequence[float]) -> None:
        key = preference_key(preference)
        if key == self.current:
            return
        if "mix" in self.model.peft_config:
            self.model.set_adapter(self.names[0])
            self.model.delete_adapter("mix")
        weights = soup_weights(preference, len(self.names))
        self.model.add_weighted_adapter(self.names, weights, "mix", combination_type="cat")
        self.model.set_adapter("mix")
        self.model.eval()  # the new adapter's modules (LoRA dropout included) are created in training mode
        self.current = key

    def covers(self, preference: Sequence[float]) -> bool:
        soup_weights(preference, len(self.names))
        return True

    def generate(self, prompts, preference, seeds):
        self.covers(preference)
        self.set_weights(preference)
        return [r.text for r in self.gen(prompts, seed=_seed(seeds))], None

    def compute(self):
        return add_compute([read_compute(c) for c in self.ckpts])


def per_preference_model(root: str, device: Any = "cpu") -> PerPreferenceRuns:
    """One run per preference (``DIR/*/preference.json``), e.g. ``ric_text.morlhf``'s GRPO runs."""
    return PerPreferenceRuns(root, lambda run: RiCTextModel(str(run), device), resolve_text_checkpoint)


class TextBaseModel:
    """The base policy, no adapter and no tags (prompts in ``fmt``: assistant, summary or chat)."""

    preference_free = True

    def __init__(self, path: str, fmt: str = "assistant", device: Any = "cpu"):
        cfg = TextConfig()
        cfg.model = dataclasses.replace(cfg.model, pretrained=path)
        cfg.prompt = dataclasses.replace(cfg.prompt, use_tags=False, format=fmt)
        tok = load_tokenizer(path)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
        self.gen = TextGenerator(load_policy(cfg.model, device).eval(), tok, None, cfg)

    def covers(self, preference: Sequence[float]) -> bool:
        return True

    def generate(self, prompts, preference, seeds):
        return [r.text for r in self.gen(prompts, seed=_seed(seeds))], None

    def compute(self):
        return None


def load_model(spec: str, fmt: str = "assistant", device: Any = "cpu") -> Any:
    if spec.startswith("soup:"):
        return TextSoupModel(spec.removeprefix("soup:").split(","), device)
    if spec.startswith("per-preference:"):
        return per_preference_model(spec.removeprefix("per-preference:"), device)
    p = Path(split_spec(spec)[0])
    if (p / RIC_CONFIG).exists() or (p / "final" / RIC_CONFIG).exists() or any(p.glob(f"checkpoint-*/{RIC_CONFIG}")):
        return RiCTextModel(spec, device)
    return TextBaseModel(spec, fmt, device)


def write_samples(out: Path, rows: list[dict[str, Any]], per_cell: int = 2) -> Path:
    """samples.md: per model and preference, the first outputs and their rewards (a table to read)."""
    names = (
        [
            k
            for k in rows[0]
            if k not in ("model", "preference", "prompt_index", "seed", "sample", "prompt", "targets", "output")
        ]
        if rows
        else []
    )
    lines = ["| model | preference | " + " | ".join(names) + " | output |", "|---|---|" + "---|" * (len(names) + 1)]
    seen: dict[tuple, int] = {}
    for r in rows:
        key = (r["model"], r["preference"])
        if seen.get(key, 0) >= per_cell:
            continue
        seen[key] = seen.get(key, 0) + 1
        text = r["output"].replace("|", "/").replace("\n", " ")[:200]
        lines.append(
            f"| {r['model']} | {r['preference']} | " + " | ".join(f"{r[n]:.2f}" for n in names) + f" | {text} |"
        )
    path = out / "samples.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """The sweep from the command line's arguments; returns the summary (also in ``--out/summary.json``)."""
    import torch

    from rewards import reward_set_from_config

    ap = sweep_arg_parser(__doc__.splitlines()[0], "JSONL (prompt field) or text file (default: 50 HH-style questions)")
    ap.add_argument("--samples-per-prompt", dest="per_prompt", type=int, default=1)
    ap.add_argument("--format", default="assistant", help="prompt format of a plain base model")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args(argv)

    def score(rewards: Any, ps: list[str], texts: list[str]) -> np.ndarray:
        return rewards(prompts=ps, completions=texts).values

    def store(model: str, key: str, pi: int, seed: int, s: int, text: str) -> str:
        return text

    summary, table = run_benchmark(
        args,
        str(PROMPTS),
        reward_set_from_config,
        lambda spec: load_model(spec, args.format, args.device),
        score,
        store,
    )
    write_samples(Path(args.out), table.rows())
    return summary


def main(argv: list[str] | None = None) -> int:
    """The ``ric-text-benchmark`` console script: 0 on success."""
    return console(run, argv, "ric-text-benchmark")


if __name__ == "__main__":
    raise SystemExit(main())
