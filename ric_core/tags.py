"""Reward tags in text: ``<rm1_score> 0.3 <rm2_score> -1.1``, written into prompts and read back.

The paper writes each normalised reward as plain text (not special tokens), one decimal, tags
numbered from 1 in reward order (docs/method.md 2.4). One formatter serves both modalities; the
diffusion paper uses the template ``<rm{i}>`` instead of ``<rm{i}_score>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

DEFAULT_TAG_TEMPLATE = "<rm{i}_score>"
_NUMBER = r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"


def tag_names(num_rewards: int, template: str = DEFAULT_TAG_TEMPLATE) -> list[str]:
    """Tag strings for ``num_rewards`` rewards, numbered from 1.

    Example:
        >>> tag_names(2)
        ['<rm1_score>', '<rm2_score>']
    """
    if "{i}" not in template:
        raise ValueError(f"tag template {template!r} must contain '{{i}}' (the 1-based reward number)")
    return [template.format(i=i + 1) for i in range(num_rewards)]


def format_value(value: float, decimals: int = 1) -> str:
    """One reward value as text: fixed decimals, and never ``-0.0``."""
    if not np.isfinite(value):
        raise ValueError(f"cannot write a non-finite reward value ({value!r}) into a prompt")
    # Round like numpy (as the mapping does) before formatting, so a tag always equals np.round(value).
    text = f"{float(np.round(value, decimals)):.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_tags(values: Sequence[float] | np.ndarray, template: str = DEFAULT_TAG_TEMPLATE, decimals: int = 1) -> str:
    """Write a normalised reward vector as tags.

    Example:
        >>> format_tags([0.31, -1.14])
        '<rm1_score> 0.3 <rm2_score> -1.1'
        >>> format_tags([0.0, 2.0], template="<rm{i}>")
        '<rm1> 0.0 <rm2> 2.0'
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    tags = tag_names(len(values), template)
    return " ".join(f"{tag} {format_value(v, decimals)}" for tag, v in zip(tags, values, strict=True))


def parse_tags(text: str, num_rewards: int, template: str = DEFAULT_TAG_TEMPLATE) -> np.ndarray:
    """Read ``num_rewards`` tag values back out of a prompt (the last occurrence of each tag).

    Example:
        >>> parse_tags("Human: hi  <rm1_score> 0.3 <rm2_score> -1.1 \\n\\nAssistant:", 2).tolist()
        [0.3, -1.1]
    """
    out = np.empty(num_rewards, dtype=np.float64)
    for k, tag in enumerate(tag_names(num_rewards, template)):
        found = re.findall(re.escape(tag) + r"\s*" + _NUMBER, text)
        if not found:
            raise ValueError(f"tag {tag!r} (reward {k + 1} of {num_rewards}) not found in the text: {text!r}")
        out[k] = float(found[-1])
    return out


def strip_tags(text: str, num_rewards: int | None = None, template: str = DEFAULT_TAG_TEMPLATE) -> str:
    """Remove every tag and its value, e.g. to give reward models the clean prompt (docs/method.md 2.2).

    Whitespace around a removed tag collapses to the whitespace before it, so the surrounding text is
    left as it was written. ``num_rewards=None`` removes tags with any number.

    Example:
        >>> strip_tags("a cat <rm1> 0.3 <rm2> -1.1", template="<rm{i}>")
        'a cat'
    """
    if num_rewards is None:
        head, _, tail = template.partition("{i}")
        pattern = re.escape(head) + r"\d+" + re.escape(tail)
    else:
        pattern = "|".join(re.escape(t) for t in tag_names(num_rewards, template))
    cleaned = re.sub(r"\s*(?:" + pattern + r")\s*" + _NUMBER, "", text)
    return cleaned
