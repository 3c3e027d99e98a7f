"""The shared online loop on a numpy toy policy: MORS buffer, resume after crashes, bad input."""

import json

import numpy as np
import pytest

from ric_core.mors import mors
from ric_core.online import OfflineData, OnlineConfig, OnlineLoop
from ric_core.stats import RewardStats
from ric_runtime.io import read_prompts


class Crash(Exception):
    pass


class ToyPolicy:
    """Outputs a number per prompt that follows the targets through a 'skill' weight the fit improves."""

    def __init__(self, crash_at: str | None = None):
        self.skill, self.crash_at, self.fits = 0.0, crash_at, 0

    def _maybe_crash(self, where: str) -> None:
        if self.crash_at == where:
            self.crash_at = None
            raise Crash(where)

    def generate(self, prompts, targets, sample_ids, seed):
        rng = np.random.default_rng(seed)
        self._maybe_crash(f"generate:{sample_ids[0]}")
        return [json.dumps((self.skill * t + rng.normal(0, 1, t.shape)).tolist()) for t in targets]

    def score(self, prompts, outputs):
        return np.array([json.loads(o) for o in outputs]) * [2.0, 0.5] + [1.0, -3.0]  # raw units

    def fit(self, samples, steps, learning_rate, iteration, on_step):
        start = self.skill
        for s in range(1, steps + 1):
            self.skill = start + 0.1 * s / steps * (1 + len(samples) / 100)
            on_step(s)
            if s == steps // 2:
                self._maybe_crash(f"fit:{iteration}")
        self.fits += 1

    def save(self, path):
        path.mkdir(parents=True, exist_ok=True)
        (path / "skill.json").write_text(json.dumps(self.skill))

    def load(self, path):
        self.skill = json.loads((path / "skill.json").read_text())


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(200, 2)) * [2.0, 0.5] + [1.0, -3.0]
    stats = RewardStats.from_scores(raw, ["r1", "r2"])
    offline = OfflineData(
        [f"prompt {i % 7}" for i in range(200)], [f"out{i}" for i in range(200)], stats.normalize(raw)
    )
    init = tmp_path / "offline_policy"
    ToyPolicy().save(init)
    cfg = OnlineConfig(iterations=2, num_samples=50, shard_size=8, steps=10, num_origin_samples=30, seed=3)
    return cfg, stats, offline, init


def run_loop(tmp, setup, policy, **kw):
    cfg, stats, offline, init = setup
    return OnlineLoop(cfg, policy, stats, offline, tmp, initial_policy=init, **kw)


def test_buffer_holds_exactly_the_mors_survivors(tmp_path, setup):
    loop = run_loop(tmp_path / "a", setup, ToyPolicy())
    metrics = loop.run()
    assert [m["iteration"] for m in metrics] == [0, 1]
    buffer = loop.buffer()
    for it in (0, 1):
        pool = [
            json.loads(line)
            for f in sorted((loop.dir / f"iter{it}").glob("shard*.jsonl"))
            for line in f.read_text().splitlines()
        ]
        assert len(pool) == 50 and [r["id"] for r in pool] == [f"it{it}-{i:06d}" for i in range(50)]
        z = setup[1].normalize(np.array([r["raw"] for r in pool]))
        kept = {pool[i]["id"] for i in mors(z, 0.7).kept}
        assert {r["id"] for r in buffer if r["iteration"] == it} == kept
        assert metrics[it]["mors_acceptance"] == pytest.approx(len(kept) / 50)
    assert metrics[1]["buffer_size"] == len(buffer)
    samples = loop.training_samples(1)
    assert sum(s["origin"] == "offline" for s in samples) == 30 and sum(
        s["origin"] != "offline" for s in samples
    ) == len(buffer)


@pytest.mark.parametrize("crash", ["generate:it0-000016", "fit:0", "generate:it1-000000", "fit:1"])
def test_crash_and_resume_gives_the_same_buffer(tmp_path, setup, crash):
    clean = run_loop(tmp_path / "clean", setup, ToyPolicy())
    clean.run()
    loop = run_loop(tmp_path / "crashed", setup, ToyPolicy(crash_at=crash))
    with pytest.raises(Crash):
        loop.run()
    # A new process: a fresh policy object, the same folder.
    resumed = run_loop(tmp_path / "crashed", setup, ToyPolicy())
    resumed.run()
    assert resumed.buffer() == clean.buffer()
    assert json.loads((resumed.dir / "iter1" / "policy" / "skill.json").read_text()) == pytest.approx(
        json.loads((clean.dir / "iter1" / "policy" / "skill.json").read_text())
    )


def test_rerun_after_completion_is_a_no_op(tmp_path, setup):
    loop = run_loop(tmp_path, setup, ToyPolicy())
    loop.run()
    again = ToyPolicy()
    run_loop(tmp_path, setup, again).run()
    assert again.fits == 0


def test_prompt_files(tmp_path, setup):
    good = tmp_path / "prompts.txt"
    good.write_text("# one comment\na cat\n\n   \na dog\n")
    assert read_prompts(good) == ["a cat", "a dog"]  # the one reader the sweeps use too
    cfg, stats, offline, init = setup
    cfg.prompt_file = str(good)
    loop = OnlineLoop(cfg, ToyPolicy(), stats, offline, tmp_path / "run", initial_policy=init)
    assert set(loop.plan(0)[0]) == {"a cat", "a dog"}
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    cfg.prompt_file = str(empty)
    with pytest.raises(ValueError, match="no prompts"):
        OnlineLoop(cfg, ToyPolicy(), stats, offline, tmp_path / "run2", initial_policy=init)


def test_mismatched_reward_names_fail_before_generation(tmp_path, setup):
    policy = ToyPolicy(crash_at="never")
    with pytest.raises(ValueError, match=r"do not match the statistics' \['r1', 'r2'\]"):
        run_loop(tmp_path, setup, policy, reward_names=["r2", "r1"])
    assert not (tmp_path / "online" / "iter0").exists()


def test_launches_that_cannot_work_are_refused_at_start_up():
    from ric_runtime.config import check_launch

    check_launch(2, env={"WORLD_SIZE": "2"})  # a real 2-process run (online stage included)
    check_launch(1, env={})
    with pytest.raises(ValueError, match="launched as 4 processes but accelerate set up 1"):
        check_launch(1, env={"WORLD_SIZE": "4"})
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(ValueError, match=r"DeepSpeed, which is not installed: pip install -e '\.\[deepspeed\]'"):
            check_launch(1, env={"ACCELERATE_USE_DEEPSPEED": "true"})


class ThreadGroup:
    """Ranks as threads, with accelerate's three members: a stand-in process group for the shared loop."""

    def __init__(self, barrier, rank: int, world: int):
        self.barrier, self.process_index, self.num_processes = barrier, rank, world

    def wait_for_everyone(self) -> None:
        self.barrier.wait(timeout=60)


def run_ranks(tmp, setup, world, crash=None):
    """Run the loop on ``world`` ranks (threads) in one folder; each rank has its own policy copy."""
    import threading

    barrier, errors = threading.Barrier(world), []
    policies = [ToyPolicy(crash_at=crash if r == world - 1 else None) for r in range(world)]

    def rank(r):
        try:
            run_loop(tmp, setup, policies[r], processes=ThreadGroup(barrier, r, world)).run()
        except Exception as e:  # noqa: BLE001  (a crashed rank takes the others down, as torchrun does)
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return policies, errors


def test_two_ranks_generate_the_samples_one_rank_generates(tmp_path, setup):
    one = run_loop(tmp_path / "one", setup, ToyPolicy())
    one.run()
    policies, errors = run_ranks(tmp_path / "two", setup, 2)
    assert not errors
    two = run_loop(tmp_path / "two", setup, ToyPolicy())
    assert two.buffer() == one.buffer()  # the same samples, rewards and MORS survivors
    shards = sorted(p.name for p in (tmp_path / "two" / "online" / "iter0").glob("shard*.jsonl"))
    assert len(shards) == 7  # 50 samples in shards of 8, each written once (ranks 0 and 1 alternate)
    assert (
        policies[0].skill
        == policies[1].skill
        == pytest.approx(json.loads((tmp_path / "one" / "online" / "iter1" / "policy" / "skill.json").read_text()))
    )


def test_a_rank_that_dies_mid_generation_is_resumed_without_losing_or_repeating_samples(tmp_path, setup):
    one = run_loop(tmp_path / "one", setup, ToyPolicy())
    one.run()
    _, errors = run_ranks(tmp_path / "two", setup, 2, crash="generate:it1-000024")  # rank 1, shard 3 of it. 1
    assert errors  # the run stopped
    _, errors = run_ranks(tmp_path / "two", setup, 2)
    assert not errors
    assert run_loop(tmp_path / "two", setup, ToyPolicy()).buffer() == one.buffer()
