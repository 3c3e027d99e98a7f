"""Prompt formats, loss masking by position, cleaning and data adapters for ric_text."""

import json

import numpy as np
import pytest

from ric_core.tags import parse_tags
from ric_text.data import from_hh, from_jsonl, from_summary, load_samples, split_dialogue
from ric_text.formats import clean_response, encode_example, is_degenerate, tagged_prompt

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="module")
def tok(byte_bpe_tokenizer_dir):
    from transformers import AutoTokenizer

    t = AutoTokenizer.from_pretrained(byte_bpe_tokenizer_dir)
    t.chat_template = CHAT_TEMPLATE
    return t


def test_paper_assistant_format():
    prompt, response = split_dialogue("\n\nHuman: How are you?\n\nAssistant: Fine, thanks.")
    text = tagged_prompt(prompt, [0.3, -1.1], "assistant")
    assert text == "\n\nHuman: How are you?  <rm1_score> 0.3 <rm2_score> -1.1 \n\nAssistant:"
    assert response == "Fine, thanks."


def test_summary_format_keeps_the_post_intact():
    # The reference code's rstrip("### Response:") ate "...his reason" down to "...his rea".
    prompt = "### Instruction: Summarise. ### Input: I told him his reason ### Response: "
    text = tagged_prompt(prompt, [1.0, 0.5], "summary")
    assert (
        text
        == "### Instruction: Summarise. ### Input: I told him his reason <rm1_score> 1.0 <rm2_score> 0.5 ### Response:"
    )


@pytest.mark.parametrize("fmt", ["assistant", "summary", "chat"])
def test_loss_only_on_response_and_eos(tok, fmt):
    prompt = {
        "assistant": "\n\nHuman: how do I bake bread? \n\nAssistant:",
        "summary": "### Instruction: Summarise. ### Input: The cat sat on the mat. ### Response: ",
        "chat": "how do I bake bread?",
    }[fmt]
    response = "Mix flour and water, then bake it."
    enc = encode_example(tok, prompt, response, [0.3, -1.1], fmt)
    n_prompt = enc.completion_mask.index(1)
    assert all(m == 0 for m in enc.completion_mask[:n_prompt]) and all(enc.completion_mask[n_prompt:])
    # By position: the supervised ids are exactly the response tokens then EOS...
    supervised = enc.input_ids[n_prompt:]
    assert supervised[-1] == tok.eos_token_id
    assert tok.decode(supervised[:-1]).strip() == response
    # ...and the unsupervised ids are exactly the tagged prompt, tags included.
    assert tok.decode(enc.input_ids[:n_prompt]) == enc.prompt_text
    np.testing.assert_allclose(parse_tags(enc.prompt_text, 2), [0.3, -1.1])
    if fmt == "chat":
        assert enc.prompt_text.endswith("<|assistant|>") and "<rm2_score> -1.1" in enc.prompt_text


def test_cleaning_and_degenerate_outputs():
    assert clean_response(" Sure.\nHuman: more") == "Sure."
    assert clean_response("Paris is the capital.\n\nAssistant: again") == "Paris is the capital."
    assert clean_response("I like cats") == "I like cats"  # no character-set stripping of the last word
    assert is_degenerate("") and is_degenerate("wait.....") and is_degenerate(":) :) :) hi")
    assert not is_degenerate("A fine answer :)")


def test_adapters_and_bad_input(tmp_path):
    hh = from_hh(
        [
            {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: c"},
            {"chosen": "no marker here", "rejected": "\n\nHuman: x\n\nAssistant: y"},
        ]
    )
    assert hh.responses == ["b", "c", "y"] and hh.skipped == {"no assistant marker": 1}
    post = "word " * 30
    summ = from_summary(
        [
            {"info": {"post": post}, "summaries": [{"text": "short"}, {"text": "other"}]},
            {"info": {"post": "too short"}, "summaries": [{"text": "x"}]},
        ]
    )
    assert len(summ) == 2 and summ.prompts[0].endswith("### Response: ") and summ.skipped == {"post length": 1}
    assert len(from_jsonl([{"prompt": "p", "response": "r"}, {"prompt": "p"}])) == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"chosen": "nothing", "rejected": "nothing"}) + "\n")
    with pytest.raises(ValueError, match="no usable samples.*no assistant marker"):
        load_samples(str(empty), "hh")


def test_chat_training_and_generation_prompts_are_the_same(tok):
    """HH transcripts are parsed into turns and the tags end the last user turn, so the prompt a chat
    model trains on for a question is exactly the one ric-text-generate builds from that question."""
    from ric_text.formats import prompt_ids
    from ric_text.generate import as_user_prompt

    hh = "\n\nHuman: how do I bake bread? \n\nAssistant:"
    bare = as_user_prompt("how do I bake bread?", "chat")
    trained = encode_example(tok, hh, "Mix and bake.", [0.3, -1.1], "chat")
    assert prompt_ids(tok, bare, [0.3, -1.1], "chat") == trained.input_ids[: trained.completion_mask.index(1)]
    multi = "\n\nHuman: hi \n\nAssistant: hello! \n\nHuman: and bread? \n\nAssistant:"
    text = tagged_prompt(multi, [0.3, -1.1], "chat", tokenizer=tok)
    assert text.count("<|user|>") == 2 and text.count("<|assistant|>") == 2  # two turns each, then the reply
    assert text.index("hello!") < text.index("and bread?") < text.index("<rm1_score> 0.3")
    with pytest.raises(ValueError, match="end with the user's turn"):
        tagged_prompt("\n\nHuman: hi \n\nAssistant: hello", [0.3, -1.1], "chat", tokenizer=tok)
