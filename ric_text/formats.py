"""Reward-tagged prompts for LLMs, tokenised once, with the loss on the response only.

Formats (docs/method.md 2.4):
- ``assistant`` (HH-RLHF): ``\\n\\nHuman: ...?  <rm1_score> 0.3 <rm2_score> -1.1 \\n\\nAssistant: {response}</s>``
- ``summary``: ``### Instruction: ... ### Input: {post} <rm1_score> z1 <rm2_score> z2 ### Response: {summary}</s>``
- ``chat``: the tags end the last user turn; the tokenizer's chat template renders the conversation.

Every marker is removed as an exact suffix, never with ``str.strip``'s character sets (the
reference code's bug that turned "...his reason" into "...his rea", docs/method.md 9.6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewards.dialogue import ASSISTANT_MARKER, dialogue_messages  # shared with the reward models
from ric_core.tags import format_tags

SUMMARY_MARKER = "### Response:"
ROLE_MARKERS = ("\n\nHuman:", "\nHuman:", "\n\nAssistant:", "\nAssistant:")
FORMATS = ("assistant", "summary", "chat")


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    completion_mask: list[int]  # 1 on the response tokens and EOS: the only supervised positions
    prompt_text: str


def tagged_prompt(
    prompt: str, rewards: Sequence[float], fmt: str, template: str = "<rm{i}_score>", tokenizer=None
) -> str:
    """The clean prompt with reward tags inserted just before the response marker.

    Example:
        >>> tagged_prompt("\\n\\nHuman: Hi? \\n\\nAssistant:", [0.3, -1.1], "assistant")
        '\\n\\nHuman: Hi?  <rm1_score> 0.3 <rm2_score> -1.1 \\n\\nAssistant:'
    """
    tags = format_tags(rewards, template) if template else ""  # no template: the untagged baseline
    if not tags and fmt != "chat":
        return prompt
    if fmt == "assistant":
        if not prompt.endswith(ASSISTANT_MARKER):
            raise ValueError(f"an assistant-format prompt must end with {ASSISTANT_MARKER!r}; got ...{prompt[-40:]!r}")
        return prompt.removesuffix(ASSISTANT_MARKER) + " " + tags + " " + ASSISTANT_MARKER
    if fmt == "summary":
        body = prompt.rstrip(" ")  # spaces only: the post's own characters stay
        if not body.endswith(SUMMARY_MARKER):
            raise ValueError(f"a summary-format prompt must end with {SUMMARY_MARKER!r}; got ...{prompt[-40:]!r}")
        return body.removesuffix(SUMMARY_MARKER).rstrip(" ") + " " + tags + " " + SUMMARY_MARKER
    if fmt == "chat":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("the chat format needs a tokenizer with a chat template")
        messages = dialogue_messages(prompt)
        if tags:
            messages[-1] = {"role": "user", "content": f"{messages[-1]['content']}\n{tags}"}
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    raise ValueError(f"unknown prompt format {fmt!r}; choose one of {FORMATS}")


def completion_text(response: str, fmt: str) -> str:
    """What follows the prompt: a space and the response (chat templates bring their own spacing)."""
    return response if fmt == "chat" else " " + response


def encode_example(
    tokenizer: Any, prompt: str, response: str, rewards: Sequence[float], fmt: str, template: str = "<rm{i}_score>"
) -> Encoded:
    """Token ids of prompt+tags, response and EOS, tokenised once, and the completion mask by position."""
    text = tagged_prompt(prompt, rewards, fmt, template, tokenizer)
    add_special = fmt != "chat"  # chat templates already carry BOS
    prompt_ids = tokenizer(text, add_special_tokens=add_special).input_ids
    response_ids = tokenizer(completion_text(response, fmt), add_special_tokens=False).input_ids
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; RiC appends EOS so generation learns to stop")
    ids = [*prompt_ids, *response_ids, tokenizer.eos_token_id]
    mask = [0] * len(prompt_ids) + [1] * (len(response_ids) + 1)
    return Encoded(ids, mask, text)


def prompt_ids(
    tokenizer: Any, prompt: str, rewards: Sequence[float], fmt: str, template: str = "<rm{i}_score>"
) -> list[int]:
    """Generation input: exactly the prompt tokens the model was trained on."""
    return tokenizer(
        tagged_prompt(prompt, rewards, fmt, template, tokenizer), add_special_tokens=fmt != "chat"
    ).input_ids


def clean_response(text: str, extra_stops: Sequence[str] = ()) -> str:
    """Cut at the first role marker (the model starting a new turn) and trim surrounding whitespace.

    Example:
        >>> clean_response(" Sure, here it is.\\n\\nHuman: thanks")
        'Sure, here it is.'
    """
    cut = len(text)
    for marker in (*ROLE_MARKERS, *extra_stops):
        pos = text.find(marker)
        if pos != -1:
            cut = min(cut, pos)
    return text[:cut].strip()


def is_degenerate(text: str) -> bool:
    """The paper's filter: empty, or containing '.....' or three or more ':)'."""
    return not text or "....." in text or text.count(":)") >= 3
