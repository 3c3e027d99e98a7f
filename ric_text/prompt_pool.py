"""Start from prompts only: the base model samples the offline dataset's responses.

``data.source`` = a ``.txt`` prompt list. Sample ``i`` answers prompt ``i // responses_per_prompt``.
Samples are drawn in shards of ``data.shard_size`` (shard ``s`` on process ``s % N``), each generation
batch seeded by ``(train.seed, its first sample)``, so the pool does not depend on the number of
processes; a shard is finished when its ``part-XXXXX.jsonl`` exists, so a rerun samples nothing twice.
Degenerate responses (empty, repeated) are dropped and counted. The pairs then train as any dataset does.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from rewards.score_shards import owner
from ric_runtime.io import atomic_write_text, fingerprint, read_prompts
from ric_text.config import TextConfig
from ric_text.data import TextSamples


def is_prompt_list(source: str) -> bool:
    return source.endswith(".txt")


def _draw_shard(gen: Any, cfg: TextConfig, prompts: list[str], ids: range) -> list[dict[str, Any]]:
    n, b, rows = cfg.data.responses_per_prompt, cfg.generation.batch_size, []
    for start in range(ids.start, ids.stop, b):
        batch = range(start, min(ids.stop, start + b))
        results = gen([prompts[i // n] for i in batch], seed=cfg.train.seed * 1_000_003 + start)
        rows += [{"prompt": r.prompt, "response": r.text, "degenerate": r.degenerate} for r in results]
    return rows


def prompt_samples(cfg: TextConfig, tokenizer: Any, processes: Any) -> TextSamples:
    """The (prompt, response) pairs of a prompt-list source, generated first where missing.

    Example:
        >>> samples = prompt_samples(parse_args(["data.source=prompts.txt"]), tok, PartialState())  # doctest: +SKIP
    """
    from ric_text.generate import TextGenerator
    from ric_text.model import load_policy

    prompts = read_prompts(cfg.data.source)
    if not prompts:
        raise ValueError(f"{cfg.data.source} holds no prompt; write one prompt per line")
    total, size = len(prompts) * cfg.data.responses_per_prompt, cfg.data.shard_size
    key = {"model": cfg.model.pretrained, "prompts": prompts, "n": cfg.data.responses_per_prompt, "size": size}
    key |= {"seed": cfg.train.seed, "generation": dataclasses.asdict(cfg.generation), "format": cfg.prompt.format}
    folder = Path(cfg.train.output_dir) / "pool" / f"pool-{fingerprint(key)}"
    part = lambda s: folder / f"part-{s:05d}.jsonl"  # noqa: E731
    shards = range(-(-total // size))
    mine = [s for s in shards if owner(s, processes.num_processes) == processes.process_index and not part(s).exists()]
    if mine:
        base = dataclasses.replace(cfg, prompt=dataclasses.replace(cfg.prompt, use_tags=False))  # no tags yet
        gen = TextGenerator(load_policy(cfg.model, processes.device).eval(), tokenizer, None, base)
        for s in tqdm(mine, desc="prompt pool", unit="shard", disable=not processes.is_main_process):
            rows = _draw_shard(gen, cfg, prompts, range(s * size, min(total, (s + 1) * size)))
            atomic_write_text(part(s), "".join(json.dumps(r) + "\n" for r in rows))
        del gen
    processes.wait_for_everyone()
    out = TextSamples()
    for s in shards:
        for line in part(s).read_text().splitlines():
            row = json.loads(line)
            if row["degenerate"] or not row["response"]:
                out.skip("degenerate base-model response")
            else:
                out.add(row["prompt"], row["response"])
    return out
