"""Toy review rewards an optimiser cannot win with a degenerate output (for the text demo world and studies).

``toy_sentiment`` counts positive lexicon words, so trl GRPO learns "superb superb superb ..." within 60
steps. These score only *well-formed sentences* (3-14 words, ending with a full stop, no word twice) and
count each distinct one once, so noise, blank or flat output, truncation, fragments and repetition all
score below a real review:

- ``toy_praise``: distinct positive lexicon words of a review whose sentences are all well-formed and
  distinct; 0 for anything else (GRPO learned to write praise until the token limit cut the review off while
  complete sentences still counted). Criticism is ``toy_critique``'s: a separate objective.
- ``toy_on_topic``: for a well-formed review, +1 when it names the product the prompt asks about and no other,
  -1 when it names another product, 0 when it names none; 0 for anything malformed (truncated included).
- ``toy_concise``: minus the word count of a review whose sentences are all well-formed and distinct;
  anything else scores ``-MALFORMED_WORDS`` (worse than any real review), so blank output is no shortcut.
- ``toy_facts``: distinct factual sentences (no lexicon word) of a well-formed review; 0 for anything else.
- ``toy_critique``: distinct negative lexicon words of a well-formed review; 0 for anything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewards.base import Reward
from rewards.toy import NEGATIVE_WORDS, POSITIVE_WORDS, words

# the products the demo world's prompts ask about (ric_demo.text_world reads them from here)
REVIEW_PRODUCTS = (
    "kettle",
    "lamp",
    "backpack",
    "blender",
    "chair",
    "toaster",
    "jacket",
    "keyboard",
    "umbrella",
    "headphones",
    "desk",
    "mug",
)
FUNCTION_WORDS = frozenset(
    {"i", "it", "is", "it's", "the", "this", "a", "an", "to", "with", "on", "in", "of", "for", "and", "my"}
    | {"was", "are", "be", "has", "have", "feels", "works"}
)
LEXICON = POSITIVE_WORDS | NEGATIVE_WORDS
MIN_WORDS, MAX_WORDS = 3, 14  # a sentence's length in words
MALFORMED_WORDS = 60  # toy_concise of a malformed review: as bad as a 60-word review
_ASKED = re.compile(r"review of (?:the |a |an )?([a-z]+)", re.IGNORECASE)


def sentences(text: str) -> tuple[list[str], bool]:
    """The text's sentences (each ending with '.') and whether all of them are well-formed.

    Example:
        >>> sentences("I love this mug. It is")
        (['I love this mug.'], False)
    """
    text = text.strip()
    parts = [p.strip() for p in text.split(".")]
    closed = [p + "." for p in parts[:-1] if p]  # the text after the last full stop is unfinished
    ok = [s for s in closed if well_formed_sentence(s)]
    return ok, bool(text) and not parts[-1] and len(ok) == len(closed) and len(set(ok)) == len(ok)


def well_formed_sentence(sentence: str) -> bool:
    """3-14 words, starts with a capital, only letters/apostrophes/spaces, no word twice, at least one
    function word and at most one lexicon word (a list of praise words is no sentence, and neither is word
    salad such as "I recommend it beautiful.", which GRPO wrote to stack praise words)."""
    body = sentence[:-1]
    ws = words(body)
    if not (MIN_WORDS <= len(ws) <= MAX_WORDS) or not body[:1].isupper():
        return False
    if re.fullmatch(r"[A-Za-z' ]+", body) is None or len(set(ws)) != len(ws):
        return False
    return sum(w in LEXICON for w in ws) <= 1 and any(w in FUNCTION_WORDS for w in ws)


class _ReviewCount(Reward):
    """A count over the distinct sentences of a review that is all well-formed; 0 for anything else."""

    inputs = ("prompts", "completions")

    def count(self, sentences_: list[str]) -> int:
        raise NotImplementedError

    def score(self, completions: Sequence[str], **_: Any) -> np.ndarray:
        out = []
        for c in completions:
            good, all_good = sentences(c)
            out.append(self.count(good) if all_good else 0)
        return np.array(out, dtype=np.float64)


def _distinct_words(sentences_: list[str]) -> set[str]:
    return {w for s in sentences_ for w in words(s)}


class ToyPraise(_ReviewCount):
    """Distinct positive lexicon words of a well-formed review; 0 when malformed (truncated included)."""

    name = "toy_praise"

    def count(self, sentences_: list[str]) -> int:
        return len(_distinct_words(sentences_) & POSITIVE_WORDS)


class ToyOnTopic(Reward):
    """+1 on the asked product only, -1 when another product is named, 0 otherwise (well-formed sentences)."""

    name, inputs = "toy_on_topic", ("prompts", "completions")

    def __init__(self, products: Sequence[str] = REVIEW_PRODUCTS, **kwargs: Any):
        super().__init__(**kwargs)
        self.products = frozenset(p.lower() for p in products)

    def score(self, prompts: Sequence[str], completions: Sequence[str], **_: Any) -> np.ndarray:
        out = []
        for p, c in zip(prompts, completions, strict=True):
            asked, (good, all_good) = _ASKED.search(p), sentences(c)
            if not all_good:  # a truncated or malformed review is about nothing
                out.append(0.0)
                continue
            named = {w for s in good for w in words(s)} & self.products
            if named - {asked.group(1).lower() if asked else ""}:
                out.append(-1.0)
            else:
                out.append(1.0 if named else 0.0)
        return np.array(out, dtype=np.float64)


class ToyConcise(Reward):
    """Minus the word count of a well-formed review; ``-MALFORMED_WORDS`` for anything else."""

    name, inputs = "toy_concise", ("prompts", "completions")

    def score(self, completions: Sequence[str], **_: Any) -> np.ndarray:
        out = []
        for c in completions:
            good, all_good = sentences(c)
            out.append(-float(len(words(c))) if good and all_good else -float(MALFORMED_WORDS))
        return np.array(out, dtype=np.float64)


class ToyFacts(_ReviewCount):
    """Distinct factual sentences (no praise or criticism word) of a well-formed review; 0 when malformed."""

    name = "toy_facts"

    def count(self, sentences_: list[str]) -> int:
        return sum(not set(words(s)) & LEXICON for s in sentences_)


class ToyCritique(_ReviewCount):
    """Distinct negative lexicon words of a well-formed review; 0 when malformed (a truncated list of
    complaints earns nothing)."""

    name = "toy_critique"

    def count(self, sentences_: list[str]) -> int:
        return len(_distinct_words(sentences_) & NEGATIVE_WORDS)
