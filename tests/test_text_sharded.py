"""Text relabelling sharded over processes, and the prompt-only start for text."""

import json
import threading

import numpy as np
from helpers import tiny_text_args

from rewards import reward_set_from_config
from ric_text.data import TextSamples
from ric_text.relabel import relabel_text
from ric_text.train import train as main


class ThreadRank:
    """A rank of an N-thread group (accelerate's members, a barrier for wait_for_everyone)."""

    def __init__(self, barrier: threading.Barrier, index: int, count: int):
        self.barrier, self.process_index, self.num_processes = barrier, index, count
        self.is_main_process = index == 0

    def wait_for_everyone(self) -> None:
        self.barrier.wait(timeout=60)


def on_two_threads(fn):
    """fn(processes) on ranks 0 and 1 at once; rank 0's result."""
    barrier, results = threading.Barrier(2), {}
    threads = [
        threading.Thread(target=lambda r=r: results.__setitem__(r, fn(ThreadRank(barrier, r, 2)))) for r in (0, 1)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results[0]


def test_text_relabel_on_two_ranks_equals_one_and_scores_each_pair_once(tmp_path):
    samples = TextSamples()
    for i in range(50):
        samples.add(f"\n\nHuman: question {i % 7} \n\nAssistant:", "word " * (i % 11 + 1))
    calls = []

    def make():
        rs = reward_set_from_config(["toy_length", "toy_sentiment"])

        class Counted:
            names = rs.names

            def __call__(self, **kw):
                calls.append(len(kw["completions"]))
                return rs(**kw)

        return Counted()

    names = ("toy_length", "toy_sentiment")
    one = relabel_text(samples, make, tmp_path / "one", names, shard_size=8, chunk=3)
    distinct = len(set(zip(samples.prompts, samples.responses, strict=True)))
    assert sum(calls) == distinct  # a repeated pair is scored once and shares its score
    calls.clear()
    two = on_two_threads(lambda p: relabel_text(samples, make, tmp_path / "two", names, 8, p, chunk=3))
    np.testing.assert_array_equal(one, two)
    assert sum(calls) == distinct
    calls.clear()
    relabel_text(samples, make, tmp_path / "one", names, shard_size=8, chunk=3)
    assert calls == []  # a rerun scores nothing
    grown = TextSamples()
    for i in range(5):
        grown.add("\n\nHuman: a new question \n\nAssistant:", "new " * (i + 1))
    for p, r in zip(samples.prompts, samples.responses, strict=True):  # the old pairs after the new: shifted
        grown.add(p, r)
    again = relabel_text(grown, make, tmp_path / "one", names, shard_size=8, chunk=3)
    assert sum(calls) == 5 and np.array_equal(again[5:], one)  # only the new pairs scored; the rest found by key


def test_prompt_only_start_samples_scores_and_trains(tmp_path, tiny_text_world):
    """data.source = prompts.txt: the base model answers each prompt twice, the answers are scored and trained on."""
    policy, _, rms = tiny_text_world
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("How do I bake bread?\nWhat is a good name for a cat?\nTell me a joke.\n")
    out = tmp_path / "run"
    args = tiny_text_args(policy, prompts, rms, out, "data.responses_per_prompt=2", "data.shard_size=4")
    args += ["generation.temperature=1.0", "train.max_steps=2", "data.max_tokens=64"]
    result = main(args)
    (pool,) = (out / "pool").iterdir()
    rows = [json.loads(line) for f in sorted(pool.glob("part-*.jsonl")) for line in f.read_text().splitlines()]
    assert len(rows) == 6 and len(list(pool.glob("part-*.jsonl"))) == 2
    assert all("How do I bake bread?" in r["prompt"] for r in rows[:2])
    kept = len(result.samples) + sum(result.samples.skipped.values())
    assert kept == 6 and len(result.samples) >= 1 and result.raw.shape == (len(result.samples), 2)
    assert (result.final / "adapter_model.safetensors").exists()
