"""The review rewards against the degenerate outputs an optimiser finds first (issue: GRPO learned
"superb superb superb ..." against toy_sentiment): every one scores below a real review, for every reward."""

import re

import numpy as np
import pytest

from rewards import get_reward
from ric_demo.text_world import NEUTRAL, POSITIVE, PRODUCTS, make_reviews, prompt_for

PROMPT = prompt_for("kettle")
REVIEW = "I love this kettle. The build is superb. It arrived on Tuesday."
CRITICAL_REVIEW = REVIEW + " The lid is flimsy."  # toy_critique's real review: it has a complaint
DEGENERATE = {
    "blank": "",
    "whitespace": "   \n ",
    "noise": "xq zzv 8#@! pl0 ..., qqq",
    "flat": "the the the the the the the the",
    "one word repeated": "superb " * 20,
    "sentence repeated": "The build is superb. " * 6,
    "praise words listed": "Superb great love excellent fantastic beautiful sturdy.",
    "fragments": "Superb. Great. Love. Excellent.",
    "truncated": "I love this kettle. The build is su",
    "truncated complaint": "It arrived on Tuesday. The lid is flimsy. The handle feels ch",
    "complaints listed": "Flimsy noisy cheap slow.",
    # what trl GRPO wrote against these rewards at w = (1, 0): praise until the token limit cut it off, and
    # sentences stacking two lexicon words
    "long praise cut off": "I love this kettle. It feels sturdy. The design is beautiful. It is a fantastic buy. The",
    "word salad": "I recommend it beautiful. The design is a fantastic buy. It feels sturdy superb.",
    "one fact repeated": "It arrived on Tuesday. " * 5,
    "no full stop": "I love this kettle and the build is superb",
    "another product": "I love this backpack. The build is superb. It arrived on Tuesday.",
    "punctuation only": ". . . . .",
}
REWARDS = ["toy_praise", "toy_on_topic", "toy_concise", "toy_facts", "toy_critique"]


def scores(name, texts):
    return get_reward(name)(prompts=[PROMPT] * len(texts), completions=texts)


@pytest.mark.parametrize("name", REWARDS)
def test_every_degenerate_output_scores_below_a_real_review(name):
    reference = scores(name, [CRITICAL_REVIEW if name == "toy_critique" else REVIEW])[0]
    got = dict(zip(DEGENERATE, scores(name, list(DEGENERATE.values())), strict=True))
    if name != "toy_on_topic":  # naming another product is toy_on_topic's concern alone
        got.pop("another product")
    beaten = {k: v for k, v in got.items() if v >= reference}
    assert not beaten, f"{name}: {beaten} reach the real review's {reference}"


def test_the_world_reviews_are_well_formed_and_scored_as_written():
    rows = make_reviews(200, np.random.default_rng(0), PRODUCTS)
    texts, prompts = [r["response"] for r in rows], [r["prompt"] for r in rows]
    product = [re.search(r"review of the (\w+)", p).group(1) for p in prompts]
    concise = get_reward("toy_concise")(prompts=prompts, completions=texts)
    assert (concise > -60).all()  # every review of the world is well-formed (and above the malformed floor)
    on_topic = get_reward("toy_on_topic")(prompts=prompts, completions=texts)
    names_it = np.array([p in t for p, t in zip(product, texts, strict=True)], dtype=float)
    other = np.array(["It replaced my old" in t for t in texts])
    assert 0.03 < other.mean() < 0.2  # some reviews name another product (toy_on_topic's -1)
    np.testing.assert_array_equal(on_topic, np.where(other, -1.0, names_it))  # only neutral sentences: 0
    praising = [sum(s.format(p=p) in t for s in POSITIVE) for p, t in zip(product, texts, strict=True)]
    praise = get_reward("toy_praise")(prompts=prompts, completions=texts)
    assert np.corrcoef(praise, praising)[0, 1] > 0.9  # more praising sentences, more praise
    assert all(get_reward("toy_concise")(prompts=[PROMPT], completions=[s])[0] > -60 for s in NEUTRAL)


def test_more_distinct_praise_scores_higher_and_criticism_is_not_praise():
    praise = get_reward("toy_praise")
    got = praise(
        prompts=[PROMPT] * 3,
        completions=[
            "I love this kettle.",
            "I love this kettle. The design is beautiful. It feels sturdy.",
            "I love this kettle. The lid is flimsy.",
        ],
    )
    assert got[1] > got[0] == got[2]


def test_facts_and_critique_count_distinct_sentences_and_words():
    facts, critique = get_reward("toy_facts"), get_reward("toy_critique")
    texts = [
        "It arrived on Tuesday.",
        "It arrived on Tuesday. The box was brown. I love this kettle.",
        "The lid is flimsy. It is a bit noisy. It arrived on Tuesday.",
    ]
    np.testing.assert_array_equal(facts(prompts=[PROMPT] * 3, completions=texts), [1, 2, 1])
    np.testing.assert_array_equal(critique(prompts=[PROMPT] * 3, completions=texts), [0, 0, 2])


@pytest.mark.parametrize("rho", [-0.8, 0.0, 0.8])
def test_the_correlation_knob_sets_the_pair_correlation_in_the_data(rho):
    rows = make_reviews(1500, np.random.default_rng(1), PRODUCTS, rho=rho)
    prompts, texts = [r["prompt"] for r in rows], [r["response"] for r in rows]
    praise = get_reward("toy_praise")(prompts=prompts, completions=texts)
    facts = get_reward("toy_facts")(prompts=prompts, completions=texts)
    measured = np.corrcoef(praise, facts)[0, 1]
    assert abs(measured - 0.85 * rho) < 0.15, (rho, measured)  # discrete counts: a little weaker than rho


def test_the_correlation_knob_names_a_bad_pair_or_rho():
    with pytest.raises(ValueError, match="two of"):
        make_reviews(3, np.random.default_rng(0), PRODUCTS, pair=("toy_praise", "toy_concise"))
    with pytest.raises(ValueError, match="rho"):
        make_reviews(3, np.random.default_rng(0), PRODUCTS, rho=1.0)


def test_a_world_cache_of_an_older_version_is_rebuilt_with_its_data(tmp_path, monkeypatch):
    import json

    from ric_demo import text_world

    monkeypatch.setattr(text_world, "pretrain", lambda texts, tok, out, steps, seed: out.mkdir(exist_ok=True))
    monkeypatch.setattr(text_world, "build_tokenizer", lambda texts, out: None)
    (tmp_path / "train.jsonl").write_text('{"prompt": "old", "response": "old world"}\n')
    (tmp_path / "done.json").write_text(json.dumps({"seed": 0, "quick": True, "version": 1}))
    world = text_world.build_world(tmp_path, 0, True)
    rows = [json.loads(line) for line in world.train_file.read_text().splitlines()]
    assert len(rows) == 1500 and rows[0]["prompt"] != "old"  # the old world's data is not reused
    assert text_world.build_world(tmp_path, 0, True, rho=0.8).train_file.name != world.train_file.name
