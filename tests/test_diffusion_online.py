"""The online stage on the tiny diffusion setup: two iterations, and SIGKILL at several points."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import assert_same_weights, launch_two, tiny_train_args

from ric_core.mors import mors
from ric_core.stats import RewardStats
from ric_diffusion.pipeline import RiCDiffusionPipeline
from ric_diffusion.train import train as main

ONLINE = [
    "online.iterations=2",
    "online.num_samples=10",
    "online.shard_size=4",
    "online.steps=4",
    "online.num_origin_samples=6",
    "online.learning_rate=2e-3",  # unlike train.learning_rate (1e-3)
]


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, tiny_sd_dir, image_folder):
    out = tmp_path_factory.mktemp("online") / "clean"
    result = main(tiny_train_args(tiny_sd_dir, image_folder, out, *ONLINE))
    return out, result


def test_two_iterations_buffer_is_mors_filtered(clean_run):
    out, result = clean_run
    stats = RewardStats.load(out / "relabel" / "reward_stats.json")
    buffer = read_jsonl(out / "online" / "buffer.jsonl")
    for it in (0, 1):
        pool = [r for f in sorted((out / "online" / f"iter{it}").glob("shard*.jsonl")) for r in read_jsonl(f)]
        assert len(pool) == 10
        kept = {pool[i]["id"] for i in mors(stats.normalize(np.array([r["raw"] for r in pool]))).kept}
        assert {r["id"] for r in buffer if r["iteration"] == it} == kept
    assert all(os.path.exists(r["output"]) for r in buffer)  # the buffer points at images on disk
    metrics = read_jsonl(out / "online" / "metrics.jsonl")
    assert [m["iteration"] for m in metrics] == [0, 1]
    for key in ("mors_acceptance", "mean_obtained_raw", "hypervolume_z", "target_obtained_corr"):
        assert key in metrics[0]
    assert result.last_checkpoint.name == "checkpoint-12"  # 4 offline + 2 x 4 online steps
    compute = json.loads((result.last_checkpoint / "compute.json").read_text())
    assert compute["optimizer_steps"] == 12 and compute["generated_samples"] == 20
    # the online fits ran at online.learning_rate, but the saved config still says what the user asked
    saved = json.loads((result.last_checkpoint / "ric_config.json").read_text())
    assert saved["train"]["learning_rate"] == 1e-3 and saved["online"]["learning_rate"] == 2e-3
    pipe = RiCDiffusionPipeline.from_checkpoint(out)
    assert len(pipe("a square", preference=[0.5, 0.5], seed=0).images) == 1


@pytest.mark.e2e
def test_sigkill_during_generation_fit_and_between_phases(clean_run, tmp_path, tiny_sd_dir, image_folder):
    out = tmp_path / "killed"
    args = tiny_train_args(tiny_sd_dir, image_folder, out, *ONLINE)
    code = f"from ric_diffusion.train import main; main({args!r})"
    state = out / "online" / "state.json"
    for point, expect in [
        ("generate:0:1", None),  # mid-generation: two shard files on disk, no phase finished yet
        ("fit:0", ("fit", 0)),
        ("after_generate:1", ("select", 1)),
    ]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "RIC_ONLINE_KILL_AT": point}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
        if expect is None:
            assert not state.exists() and len(list((out / "online" / "iter0").glob("shard*.jsonl"))) == 2
            continue
        s = json.loads(state.read_text())
        assert (s["phase"], s["iteration"]) == expect
    env = {k: v for k, v in os.environ.items() if k != "RIC_ONLINE_KILL_AT"}
    subprocess.run([sys.executable, "-c", code], env={**env, "HF_HUB_OFFLINE": "1"}, check=True, timeout=300)
    got, want = read_jsonl(out / "online" / "buffer.jsonl"), read_jsonl(clean_run[0] / "online" / "buffer.jsonl")
    assert [(r["id"], r["targets"]) for r in got] == [(r["id"], r["targets"]) for r in want]
    np.testing.assert_allclose([r["raw"] for r in got], [r["raw"] for r in want], rtol=1e-6)
    shards = sorted((out / "online" / "iter0").glob("shard*.jsonl"))
    assert len(shards) == 3 and sum(len(read_jsonl(f)) for f in shards) == 10  # nothing generated twice


def test_stats_must_match_the_rewards(tmp_path, tiny_sd_dir, image_folder, clean_run):
    out = tmp_path / "changed"
    main(
        tiny_train_args(
            tiny_sd_dir,
            image_folder,
            out,
            "online.iterations=1",
            "online.num_samples=4",
            "online.steps=2",
            "online.num_origin_samples=4",
        )
    )
    with pytest.raises(ValueError, match="trained on rewards .* this config has"):
        main(
            tiny_train_args(
                tiny_sd_dir,
                image_folder,
                out,
                "online.iterations=2",
                "online.num_samples=4",
                "online.steps=2",
                "online.num_origin_samples=4",
                "rewards=[jpeg_compressibility, toy_brightness]",
            )
        )


TWO = ["online.iterations=1", "online.num_samples=8", "online.shard_size=2", "online.steps=2"]
TWO += ["online.num_origin_samples=4", "train.checkpoint_every=100"]


@pytest.mark.e2e
def test_two_processes_give_the_one_process_buffer_and_adapter(tmp_path, tiny_sd_dir, image_folder):
    """1 process x batch 4 and 2 processes x batch 2 see the same global batches and noise: the same offline
    adapter, the same generated samples (shard s on rank s mod 2), the same MORS survivors and fits. Then a
    SIGKILL of the run mid-generation and the same command again: the same buffer still."""
    one = tmp_path / "one"
    main(tiny_train_args(tiny_sd_dir, image_folder, one, "train.batch_size=4", *TWO))
    two = tmp_path / "two"
    r = launch_two(tiny_train_args(tiny_sd_dir, image_folder, two, "train.batch_size=2", *TWO))
    assert r.returncode == 0, r.stderr[-3000:]
    want, got = read_jsonl(one / "online" / "buffer.jsonl"), read_jsonl(two / "online" / "buffer.jsonl")
    assert [(b["id"], b["prompt"], b["targets"]) for b in got] == [(b["id"], b["prompt"], b["targets"]) for b in want]
    np.testing.assert_allclose([b["raw"] for b in got], [b["raw"] for b in want], rtol=1e-4, atol=1e-4)
    assert_same_weights(one / "checkpoint-6", two / "checkpoint-6", rtol=1e-4, atol=1e-5)
    killed = tmp_path / "killed"
    args = tiny_train_args(tiny_sd_dir, image_folder, killed, "train.batch_size=2", *TWO)
    r = launch_two(args, {"RIC_ONLINE_KILL_AT": "generate:0:1"})  # rank 1, after its first shard
    assert r.returncode != 0
    assert 1 <= len(list((killed / "online" / "iter0").glob("shard*.jsonl"))) < 4  # stopped mid-generation
    assert launch_two(args).returncode == 0
    again = read_jsonl(killed / "online" / "buffer.jsonl")
    assert [b["id"] for b in again] == [b["id"] for b in want]
    assert sum(len(read_jsonl(f)) for f in (killed / "online" / "iter0").glob("shard*.jsonl")) == 8
