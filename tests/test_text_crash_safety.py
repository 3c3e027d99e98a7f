"""kill -9 on the text side, as a user's machine would do it: during training, during checkpoint writes and in
the online stage. After the same command is run again, the final adapter and the online buffer must equal an
uninterrupted run's, and no folder a kill cut short may ever be resumed from."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from fault_injection import checkpoint_folders_cut_short, file_names, kill_and_restart, timed_run
from helpers import tiny_text_args

from ric_text.checkpoints import is_resumable

# Every step is checkpointed, so most of the run is spent writing checkpoints: random kills land in writes.
SETTINGS = (
    "train.max_steps=24",
    "train.save_steps=1",
    "train.save_total_limit=2",
    "online.iterations=2",
    "online.num_samples=16",
    "online.shard_size=4",
    "online.steps=6",
    "online.num_origin_samples=8",
)


def command(tiny_text_world, out):
    policy, data, rms = tiny_text_world
    args = tiny_text_args(policy, data, rms, out, *SETTINGS, "train.resume=latest")
    return [sys.executable, "-m", "ric_text.train", *args]


def clean_env():
    env = {k: v for k, v in os.environ.items() if k != "RIC_ONLINE_KILL_AT"}
    return {**env, "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"}


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def adapter(folder):
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")


def assert_same_outcome(got, want):
    """Same final adapter (bit for bit) and the same online buffer as the uninterrupted run."""
    import torch

    a, b = adapter(got / "final"), adapter(want / "final")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a), f"final adapters differ by up to {worst}"
    rows, ref = read_jsonl(got / "online" / "buffer.jsonl"), read_jsonl(want / "online" / "buffer.jsonl")
    assert [(r["id"], r["output"]) for r in rows] == [(r["id"], r["output"]) for r in ref]
    np.testing.assert_array_equal([r["raw"] for r in rows], [r["raw"] for r in ref])
    for it in (0, 1):  # nothing generated twice, nothing lost
        n = sum(len(read_jsonl(f)) for f in (got / "online" / f"iter{it}").glob("shard*.jsonl"))
        assert n == 16


def progress(out):
    """How far a run had got: the offline checkpoint step, or the online iteration and phase."""
    state = out / "online" / "state.json"
    if state.exists():
        s = json.loads(state.read_text())
        shards = len(list((out / "online" / f"iter{s['iteration']}").glob("shard*.jsonl")))
        return f"online it{s['iteration']} {s['phase']} shards {shards}"
    steps = [int(p.name.split("-")[1]) for p in out.glob("checkpoint-*")]
    return f"offline step {max(steps, default=0)}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_text_world):
    """The uninterrupted run, timed: (folder, seconds until the first checkpoint, total seconds)."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    first, total = timed_run(
        command(tiny_text_world, out), clean_env(), lambda: (out / "checkpoint-1").exists(), timeout=600
    )
    return out, first, total


def test_a_kill_in_the_middle_of_an_online_fit_resumes_from_its_checkpoint(reference, tmp_path, tiny_text_world):
    """Fast version: one kill half-way through the first online fit (after step 3, checkpoint-2 saved)."""
    want, _, _ = reference
    out = tmp_path / "run"
    cmd = command(tiny_text_world, out)
    proc = subprocess.run(cmd, env={**clean_env(), "RIC_ONLINE_KILL_AT": "fit:0"}, capture_output=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    fit_ckpts = sorted((out / "online" / "iter0" / "trainer").glob("checkpoint-*"))
    assert [p.name for p in fit_ckpts] == ["checkpoint-1", "checkpoint-2"]  # the fit's progress survived
    rerun = subprocess.run(cmd, env=clean_env(), check=True, capture_output=True, timeout=600)
    assert f"resuming from {fit_ckpts[-1]} (step 2 of 6)" in rerun.stderr.decode()
    assert_same_outcome(out, want)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "points",
    [["generate:0:1", "after_generate:0", "fit_done:0"], ["generate:1:0", "fit:1", "fit_done:1"]],
    ids=["iteration0", "iteration1"],
)
def test_kills_at_every_phase_of_the_online_stage(reference, tmp_path, tiny_text_world, points):
    want, _, _ = reference
    out = tmp_path / "run"
    cmd = command(tiny_text_world, out)
    for point in points:
        proc = subprocess.run(cmd, env={**clean_env(), "RIC_ONLINE_KILL_AT": point}, capture_output=True, timeout=600)
        assert proc.returncode == -signal.SIGKILL, f"{point}: {proc.stderr.decode()[-2000:]}"
    subprocess.run(cmd, env=clean_env(), check=True, capture_output=True, timeout=600)
    assert_same_outcome(out, want)


KILL_IN_SAVE = """
import os, signal, sys
from transformers import Trainer
from ric_text.train import main
saves, at = [0], int(os.environ["KILL_IN_SAVE"])
real = Trainer._save_optimizer_and_scheduler
def save(self, output_dir):  # the adapter is written, the optimizer, RNG and trainer_state.json are not yet
    saves[0] += 1
    if saves[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, output_dir)
Trainer._save_optimizer_and_scheduler = save
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.e2e
def test_kills_in_the_middle_of_checkpoint_writes(reference, tmp_path, tiny_text_world):
    """SIGKILL inside the Trainer's checkpoint write (adapter saved, trainer_state.json not): offline at
    checkpoint-3, then in the first online fit at its checkpoint-2: each folder is set aside, never resumed
    from, and the run ends as the uninterrupted one (24 offline steps, a checkpoint each)."""
    want, _, _ = reference
    out = tmp_path / "run"
    args = command(tiny_text_world, out)[3:]
    for at, folder in [(3, out / "checkpoint-3"), (2, out / "online" / "iter0" / "trainer" / "checkpoint-2")]:
        env = {**clean_env(), "KILL_IN_SAVE": str(at)}
        if folder.parent.name == "trainer":  # this run resumes offline at checkpoint-2: saves 3..24, then the fit's
            env["KILL_IN_SAVE"] = str(22 + at)
        proc = subprocess.run([sys.executable, "-c", KILL_IN_SAVE, *args], env=env, capture_output=True, timeout=600)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
        assert (folder / "adapter_model.safetensors").exists() and not is_resumable(folder)
    subprocess.run(command(tiny_text_world, out), env=clean_env(), check=True, capture_output=True, timeout=600)
    assert (out / ".incomplete-checkpoint-3").is_dir()
    assert (out / "online" / "iter0" / "trainer" / ".incomplete-checkpoint-2").is_dir()
    assert_same_outcome(out, want)


@pytest.mark.e2e
def test_random_kills_through_training_checkpoint_writes_and_the_online_stage(reference, tmp_path, tiny_text_world):
    """SIGKILLs at random moments, each followed by the same command; then the run finishes and must equal
    the uninterrupted one. Each restart repeats the start-up, so a kill comes a short random delay after the
    restart first writes something: the kills walk through offline training, its checkpoint writes and both
    online iterations."""
    want, first, total = reference
    out = tmp_path / "run"
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.15 * (total - first), 24).tolist()
    report = kill_and_restart(
        command(tiny_text_world, out),
        clean_env(),
        delays,
        incomplete=lambda: checkpoint_folders_cut_short(out, is_resumable),
        where=lambda: progress(out),
        changed=lambda: file_names(out),
    )
    print(
        f"\nkills {report.kills}, of which {report.kills_during_writes} cut a checkpoint short "
        f"({sum(report.cut_short, [])}); start-up {first:.1f} s, uninterrupted run {total:.1f} s; "
        f"kills landed at {report.landed}"
    )
    assert not checkpoint_folders_cut_short(out, is_resumable)  # every one was set aside, none resumed from
    assert_same_outcome(out, want)
    assert report.kills >= 8, report  # the delays are drawn inside the run, so most of them must land
    assert any(w.startswith("offline") for w in report.landed), report.landed
    assert any(w.startswith("online") for w in report.landed), report.landed


@pytest.mark.e2e
def test_two_processes_give_the_one_process_buffer_and_adapter(tmp_path, tiny_text_world):
    """1 process x batch 4 and 2 processes x batch 2 (no dropout): the same offline adapter (tokens averaged
    across processes), the same online samples (shard s on rank s mod 2), the same buffer and final adapter."""
    import torch

    policy, data, rms = tiny_text_world
    common = [*SETTINGS, "lora.dropout=0", "train.save_steps=100"]
    one, two = tmp_path / "one", tmp_path / "two"
    args = tiny_text_args(policy, data, rms, one, *common, "train.batch_size=4")
    subprocess.run([sys.executable, "-m", "ric_text.train", *args], env=clean_env(), check=True, timeout=600)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "ric_text.train"]
    env = {**clean_env(), "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    args = tiny_text_args(policy, data, rms, two, *common, "train.batch_size=2")
    r = subprocess.run([*launch, *args], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    rows, ref = read_jsonl(two / "online" / "buffer.jsonl"), read_jsonl(one / "online" / "buffer.jsonl")
    assert [(b["id"], b["output"]) for b in rows] == [(b["id"], b["output"]) for b in ref]
    a, b = adapter(one / "final"), adapter(two / "final")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
