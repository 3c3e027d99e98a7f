"""A real OpenAI-CLIP tokenizer built offline from the BPE file that open_clip ships.

Stable Diffusion's text encoder and transformers CLIP processors need a ``CLIPTokenizer``; without a
model hub we rebuild the exact one (49,408 ids, same merges as OpenAI's) from
``open_clip/bpe_simple_vocab_16e6.txt.gz``, and can save it for ``from_pretrained``.
"""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path

CLIP_NUM_MERGES = 49152 - 256 - 2  # OpenAI CLIP keeps the first 48,894 merges of the file


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's byte -> printable-character table, in CLIP's vocabulary order (printable first)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The CLIP vocabulary (token -> id) and BPE merges, read from open_clip's bundled file."""
    import open_clip

    bpe_path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe_path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : CLIP_NUM_MERGES + 1]]
    chars = _bytes_to_unicode()
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def build_clip_tokenizer(save_dir: str | os.PathLike | None = None, model_max_length: int = 77):
    """A transformers ``CLIPTokenizer`` identical to OpenAI CLIP's, optionally saved to ``save_dir``.

    Example:
        >>> tok = build_clip_tokenizer()
        >>> len(tok), tok("a photo of a cat").input_ids[:2]
        (49408, [49406, 320])
    """
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    tok = CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=model_max_length)
    if save_dir is not None:
        tok.save_pretrained(save_dir)
    return tok
