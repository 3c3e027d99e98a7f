"""The paper's six text reward models as plain data (hub id, input convention, logit index).

Kept apart from ``text_rm`` so the registry can list them without importing torch or transformers.
Conventions (docs/method.md, rewards), where ``prompt`` is the clean prompt (no reward tags):
``pair`` tokenizer(prompt, response); ``response`` the response alone; ``reversed_bos`` response +
" " + BOS + " " + prompt as one text; ``response_pair`` text = response, text_pair = prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

CONVENTIONS = ("pair", "response", "reversed_bos", "response_pair")


@dataclass(frozen=True)
class TextRewardPreset:
    model_id: str
    convention: str
    logit_index: int


PRESETS: dict[str, TextRewardPreset] = {
    "harmless": TextRewardPreset("Ray2333/gpt2-large-harmless-reward_model", "pair", 0),
    "helpful": TextRewardPreset("Ray2333/gpt2-large-helpful-reward_model", "pair", 0),
    "humor": TextRewardPreset("mohameddhiab/humor-no-humor", "response", 1),
    "summary": TextRewardPreset("Tristan/gpt2_reward_summarization", "reversed_bos", 0),
    "faithful": TextRewardPreset("CogComp/bart-faithful-summary-detector", "response_pair", 1),
    "deberta": TextRewardPreset("OpenAssistant/reward-model-deberta-v3-large-v2", "pair", 0),
}
