"""Text reward presets on tiny GPT-2 classifiers saved with save_pretrained: one test per convention."""

import numpy as np
import pytest
import torch
from helpers import make_classifier

from rewards import get_reward
from rewards.presets import PRESETS

PROMPTS = ["\n\nHuman: how do I bake bread? \n\nAssistant:", "\n\nHuman: tell me a joke \n\nAssistant:", "Hi"]
RESPONSES = ["Mix flour and water, then bake it.", "Why did the chicken cross the road?", "Hello there, friend"]


@pytest.fixture(scope="module")
def rm_dirs(tmp_path_factory, byte_bpe_tokenizer_dir):
    root = tmp_path_factory.mktemp("rms")
    return {n: make_classifier(root / f"rm{n}", byte_bpe_tokenizer_dir, n, seed=n) for n in (1, 2)}


def manual_logits(path, texts, pairs=None):
    """Score one sample at a time, with no padding at all, straight through transformers."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    out = []
    for i, t in enumerate(texts):
        enc = tok(t, pairs[i] if pairs else None, return_tensors="pt")
        with torch.no_grad():
            out.append(model(**enc).logits[0].numpy())
    return np.array(out)


def test_pair_convention(rm_dirs):
    r = get_reward("harmless", path=rm_dirs[1], batch_size=2)
    assert r.name == "harmless" and r.convention == "pair" and r.logit_index == 0
    scores = r(prompts=PROMPTS, completions=RESPONSES)
    # Batched with padding equals one-at-a-time without padding.
    np.testing.assert_allclose(scores, manual_logits(rm_dirs[1], PROMPTS, RESPONSES)[:, 0], rtol=1e-4, atol=1e-5)


def test_response_only_convention(rm_dirs):
    r = get_reward("humor", path=rm_dirs[2])
    assert r.logit_index == 1
    scores = r(prompts=PROMPTS, completions=RESPONSES)
    np.testing.assert_allclose(scores, manual_logits(rm_dirs[2], RESPONSES)[:, 1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r(prompts=["other"] * 3, completions=RESPONSES), scores, rtol=1e-5)


def test_reversed_bos_convention(rm_dirs):
    r = get_reward("summary", path=rm_dirs[1])
    bos = r.tokenizer.bos_token
    texts = [f"{c} {bos} {p}" for p, c in zip(PROMPTS, RESPONSES, strict=True)]
    scores = r(prompts=PROMPTS, completions=RESPONSES)
    np.testing.assert_allclose(scores, manual_logits(rm_dirs[1], texts)[:, 0], rtol=1e-4, atol=1e-5)


def test_response_pair_convention(rm_dirs):
    r = get_reward("faithful", path=rm_dirs[2])
    scores = r(prompts=PROMPTS, completions=RESPONSES)
    np.testing.assert_allclose(scores, manual_logits(rm_dirs[2], RESPONSES, PROMPTS)[:, 1], rtol=1e-4, atol=1e-5)
    swapped = manual_logits(rm_dirs[2], PROMPTS, RESPONSES)[:, 1]
    assert not np.allclose(scores, swapped)  # the order of the pair matters


def test_presets_cover_the_paper_and_validate(rm_dirs):
    assert set(PRESETS) == {"harmless", "helpful", "humor", "summary", "faithful", "deberta"}
    assert PRESETS["helpful"].model_id == "Ray2333/gpt2-large-helpful-reward_model"
    too_high = get_reward("humor", path=rm_dirs[1])  # reads logit 1 of a one-logit model
    with pytest.raises(ValueError, match="reads logit 1 but the model has 1 output"):
        too_high(prompts=PROMPTS[:1], completions=RESPONSES[:1])


def test_truncation_to_model_limit(rm_dirs):
    r = get_reward("helpful", path=rm_dirs[1])
    assert r.max_length == 256  # min(tokenizer maximum, 1024)
    long = "bread " * 500
    assert np.isfinite(r(prompts=[long], completions=[long])).all()
