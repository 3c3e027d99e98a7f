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


CHAT_TEMPLATE = "{% for m in messages %}<|endoftext|>{{ m['role'] }}: {{ m['content'] }}{% endfor %}<|endoftext|>"


@pytest.fixture(scope="module")
def armorm_dir(tmp_path_factory, byte_bpe_tokenizer_dir):
    """A tiny checkpoint in ArmoRM's released layout: ``model.*`` (a Llama), ``regression_layer.weight``
    (19 x hidden), the gating network we never run, and a config that names the custom class."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    from rewards.multi_objective_rm import ARMORM_OBJECTIVES

    path = tmp_path_factory.mktemp("armorm")
    tok = AutoTokenizer.from_pretrained(byte_bpe_tokenizer_dir)
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(path)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=256,
        pad_token_id=tok.eos_token_id,
        architectures=["LlamaForRewardModelWithGating"],
    )
    torch.manual_seed(0)
    backbone = LlamaModel(cfg).eval()
    state = {f"model.{k}": v.contiguous() for k, v in backbone.state_dict().items()}
    state["regression_layer.weight"] = torch.randn(len(ARMORM_OBJECTIVES), 32)
    state["gating.layers.0.weight"] = torch.randn(8, 32)
    state["reward_transform_matrix"] = torch.eye(len(ARMORM_OBJECTIVES))
    save_file(state, str(path / "model.safetensors"))
    cfg.save_pretrained(path)
    return path, backbone, state["regression_layer.weight"], tok


def test_multi_objective_model_gives_one_column_per_objective_from_one_pass(armorm_dir):
    from rewards import RewardSet, reward_names
    from rewards.multi_objective_rm import ARMORM_OBJECTIVES

    path, backbone, head, tok = armorm_dir
    picked = {"helpful": "helpsteer-helpfulness", "safe": "beavertails-is_safe", "honest": "ultrafeedback-honesty"}
    spec = {"name": "armorm", "path": str(path), "objectives": picked}
    assert reward_names([spec, "toy_length"]) == ("helpful", "safe", "honest", "toy_length")
    rm = get_reward("armorm", path=str(path), objectives=picked, batch_size=2)
    prompts = ["\n\nHuman: how do I bake bread?\n\nAssistant:", "tell me a joke."] * 2
    answers = ["Mix flour and water.", "No.", "Bake it for an hour at a high heat, then let it cool.", "Why not?"]
    rs = RewardSet([rm, get_reward("toy_length")])
    scores = rs(prompts=prompts, completions=answers)
    assert scores.names == ("helpful", "safe", "honest", "toy_length") and scores.values.shape == (4, 4)
    # reference: each conversation alone (no padding), the backbone's last hidden state times the head's rows
    rows = [ARMORM_OBJECTIVES.index(o) for o in picked.values()]
    from rewards.multi_objective_rm import chat_messages

    for i, (p, a) in enumerate(zip(prompts, answers, strict=True)):
        ids = tok.apply_chat_template(chat_messages(p, a), tokenize=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            h = backbone(input_ids=ids["input_ids"]).last_hidden_state[0, -1]
        np.testing.assert_allclose(scores.values[i, :3], (head[rows] @ h).numpy(), rtol=1e-4, atol=1e-5)
    assert chat_messages(prompts[0], answers[0])[0] == {"role": "user", "content": "how do I bake bread?"}


def test_multi_objective_model_names_its_errors(armorm_dir):
    path = armorm_dir[0]
    with pytest.raises(ValueError, match="unknown objective"):
        get_reward("armorm", path=str(path), objectives=["helpfulness"])
    with pytest.raises(ValueError, match="no tensor 'score.weight'"):
        get_reward("armorm", path=str(path), head_key="score.weight")
