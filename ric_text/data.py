"""Text data adapters: HH-RLHF style, summarize-from-feedback style, and plain JSONL.

Every adapter yields (prompt, response) samples with a clean prompt (no tags). HH-RLHF pairs give
two samples each, chosen and rejected: RiC learns from low-reward responses too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ric_text.formats import ASSISTANT_MARKER

SUMMARY_TEMPLATE = "### Instruction: Generate a one-sentence summary of this post. ### Input: {post} ### Response: "


@dataclass
class TextSamples:
    prompts: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count

    def add(self, prompt: str, response: str) -> None:
        self.prompts.append(prompt)
        self.responses.append(response)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def __len__(self) -> int:
        return len(self.prompts)


def split_dialogue(text: str) -> tuple[str, str] | None:
    """HH-RLHF dialogue -> (prompt ending in ' \\n\\nAssistant:', final response), at the last marker.

    Example:
        >>> split_dialogue("\\n\\nHuman: Hi\\n\\nAssistant: Hello!")
        ('\\n\\nHuman: Hi \\n\\nAssistant:', 'Hello!')
    """
    pos = text.rfind(ASSISTANT_MARKER)
    if pos == -1:
        return None
    return text[:pos] + " " + ASSISTANT_MARKER, text[pos + len(ASSISTANT_MARKER) :].strip()


def from_hh(rows: Iterable[dict[str, Any]]) -> TextSamples:
    out = TextSamples()
    for row in rows:
        for key in ("chosen", "rejected"):
            split = split_dialogue(row.get(key) or "")
            if split is None:
                out.skip("no assistant marker")
            elif not split[1]:
                out.skip("empty response")
            else:
                out.add(*split)
    return out


def from_summary(rows: Iterable[dict[str, Any]], min_chars: int = 100, max_chars: int = 1200) -> TextSamples:
    """summarize_from_feedback 'comparisons' rows: the chosen summary and the other one."""
    out = TextSamples()
    for row in rows:
        post = (row.get("info") or {}).get("post") or ""
        if not min_chars <= len(post) <= max_chars:
            out.skip("post length")
            continue
        prompt = SUMMARY_TEMPLATE.format(post=post.replace("\n", " "))
        for summary in row.get("summaries") or []:
            text = (summary.get("text") or "").strip()
            if text:
                out.add(prompt, text)
            else:
                out.skip("empty response")
    return out


def from_jsonl(
    rows: Iterable[dict[str, Any]], prompt_key: str = "prompt", response_key: str = "response"
) -> TextSamples:
    out = TextSamples()
    for row in rows:
        if not row.get(prompt_key) or not row.get(response_key):
            out.skip(f"missing {prompt_key} or {response_key}")
        else:
            out.add(str(row[prompt_key]), str(row[response_key]))
    return out


def load_rows(source: str, split: str = "train", name: str | None = None) -> list[dict[str, Any]]:
    """Rows of a JSON/JSONL file, a saved `datasets` folder, or a hub dataset."""
    import datasets

    path = Path(source)
    if path.is_file():
        ds = datasets.load_dataset("json", data_files=str(path), split="train")
    elif path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json")):
        ds = datasets.load_from_disk(str(path))
        ds = ds[split] if isinstance(ds, datasets.DatasetDict) else ds
    else:
        ds = datasets.load_dataset(source, name, split=split)
    return list(ds)


ADAPTERS = {"hh": from_hh, "summary": from_summary, "jsonl": from_jsonl}


def load_samples(
    source: str, kind: str, split: str = "train", max_samples: int | None = None, name: str | None = None
) -> TextSamples:
    """Samples from ``source`` through the ``kind`` adapter; an empty result is a clear error."""
    if kind not in ADAPTERS:
        raise ValueError(f"unknown data.kind {kind!r}; choose one of {sorted(ADAPTERS)}")
    rows = load_rows(source, split, name)
    samples = ADAPTERS[kind](rows[:max_samples] if max_samples else rows)
    if len(samples) == 0:
        raise ValueError(f"{source} gave no usable samples with the '{kind}' adapter (skipped: {samples.skipped})")
    return samples


def filter_by_length(
    samples: TextSamples, tokenizer: Any, min_tokens: int, max_tokens: int, context: int | None = None
) -> TextSamples:
    """Keep samples whose prompt and response each have min..max tokens (the paper: 8..512) and whose whole
    sequence (with tags, markers and EOS; ``context`` minus a 64-token margin) fits the model's context."""
    out = TextSamples(skipped=dict(samples.skipped))
    for p, r in zip(samples.prompts, samples.responses, strict=True):
        n_p = len(tokenizer(p, add_special_tokens=False).input_ids)
        n_r = len(tokenizer(r, add_special_tokens=False).input_ids)
        if not (min_tokens <= n_p <= max_tokens and min_tokens <= n_r <= max_tokens):
            out.skip("token length")
        elif context is not None and n_p + n_r + 64 > context:
            out.skip("longer than the model's context")
        else:
            out.add(p, r)
    return out


def model_context(path: str, trust_remote_code: bool = False) -> int | None:
    """The model's context length from its config (max_position_embeddings, n_positions), if it states one."""
    from transformers import AutoConfig

    return config_context(AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code))


def config_context(cfg: Any) -> int | None:
    """Tokens a model with this config reads at most (Llama-style or GPT-2-style field), if it states one."""
    return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
