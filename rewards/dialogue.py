"""HH-RLHF transcripts as chat messages: one reading for the LLM trainer's chat prompts (``ric_text.formats``)
and for reward models that read chat templates (``rewards.multi_objective_rm``), so both see the same turns."""

from __future__ import annotations

ASSISTANT_MARKER = "\n\nAssistant:"


def dialogue_messages(prompt: str) -> list[dict[str, str]]:
    r"""An HH transcript (``\n\nHuman: ... \n\nAssistant: ... \n\nHuman: ... \n\nAssistant:``) as chat
    messages ending with the user's turn; a bare question is one user message. Training and generation
    both build chat prompts through here, so the same question gives the same prompt.

    Example:
        >>> hh = "\n\nHuman: hi \n\nAssistant: hello \n\nHuman: bread? \n\nAssistant:"
        >>> [m["role"] for m in dialogue_messages(hh)]
        ['user', 'assistant', 'user']
        >>> dialogue_messages("bread?") == dialogue_messages("\n\nHuman: bread? \n\nAssistant:")
        True
    """
    import re

    body = prompt.removesuffix(ASSISTANT_MARKER)
    if "\n\nHuman:" not in body:
        return [{"role": "user", "content": body.strip()}]
    turns = re.split(r"\n\n(Human|Assistant):", body)[1:]  # [role, text, role, text, ...]
    roles = {"Human": "user", "Assistant": "assistant"}
    messages = [{"role": roles[r], "content": t.strip()} for r, t in zip(turns[::2], turns[1::2], strict=True)]
    if messages[-1]["role"] != "user":
        raise ValueError("a chat-format prompt must end with the user's turn (then the assistant marker)")
    return messages


def chat_messages(prompt: str, response: str) -> list[dict[str, str]]:
    r"""(prompt, response) as chat turns ending with the response, for a reward model's chat template.

    Example:
        >>> [m["role"] for m in chat_messages("\n\nHuman: bread? \n\nAssistant:", "Bake it.")]
        ['user', 'assistant']
    """
    return [*dialogue_messages(prompt.rstrip()), {"role": "assistant", "content": response.strip()}]
