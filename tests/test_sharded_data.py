"""Relabelling and caching at dataset scale: shards over processes, streams and WebDataset tars, prompt-only start."""

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers import launch_two, tiny_train_args, write_image_folder
from PIL import Image

from rewards import reward_set_from_config
from rewards.score_shards import ScoreShards
from ric_diffusion.config import DataConfig
from ric_diffusion.data import RecordStream, load_records
from ric_diffusion.latent_cache import load_cache
from ric_diffusion.relabel import relabel
from ric_diffusion.train import train as main

REWARDS = ["toy_brightness", "jpeg_compressibility"]
TESTS = Path(__file__).parent


class Rank:
    """One process of an N-process group, for the parts of a stage that need no collective."""

    def __init__(self, index: int, count: int):
        self.process_index, self.num_processes, self.is_main_process = index, count, index == 0

    def wait_for_everyone(self) -> None:
        pass


@pytest.fixture(scope="module")
def images200(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("two_hundred"), n=200)


class Counted:
    """The toy reward set, counting the images of every call."""

    def __init__(self, calls: list):
        self.rewards, self.calls = reward_set_from_config(REWARDS), calls
        self.names = self.rewards.names

    def __call__(self, **kw):
        self.calls.append(len(kw["images"]))
        return self.rewards(**kw)


def counting_rewards(calls: list):
    return lambda: Counted(calls)


def test_two_processes_score_what_one_process_scores(tmp_path, images200):
    """200 images, shards of 16 (13 shards): ranks 0 and 1 of 2 together give the 1-process scores exactly,
    each image scored once, and every shard is finished by the rank that owns it."""
    source = load_records(DataConfig(source=str(images200)))
    one, calls_one = ScoreShards(tmp_path / "one", REWARDS), []
    relabel(source, counting_rewards(calls_one), one, shard_size=16)
    two, calls_two = ScoreShards(tmp_path / "two", REWARDS), []
    for rank in (0, 1):
        relabel(source, counting_rewards(calls_two), two, shard_size=16, processes=Rank(rank, 2))
    keys1, caps1, raw1, idx1 = one.load()
    keys2, caps2, raw2, idx2 = two.load()
    assert keys1 == keys2 and caps1 == caps2 and idx1 == idx2 == list(range(200))
    assert np.array_equal(raw1, raw2)  # same chunks, same batches: bit for bit
    assert sum(calls_one) == sum(calls_two) == 200
    assert [r["shard"] for r in two.reports()] == list(range(13))
    assert len(list((tmp_path / "two").glob("part-*.parquet"))) == 13  # one part per shard, not one file


def test_a_rerun_skips_finished_shards_and_scored_images(tmp_path, images200):
    source = load_records(DataConfig(source=str(images200)))
    store, calls = ScoreShards(tmp_path / "s", REWARDS), []
    relabel(source, counting_rewards(calls), store, shard_size=64, chunk_size=16)
    # as after a kill: shard 1 lost its marker and half its rows, shard 2 everything
    rows = store.read_part(1)
    store.write_part(1, rows[:32])
    store.marker(1).unlink()
    store.part(2).unlink()
    store.marker(2).unlink()
    calls.clear()
    counts = relabel(source, counting_rewards(calls), store, shard_size=64, chunk_size=16)
    assert sum(calls) == 32 + 64 and counts["scored"] == 96 and counts["from_part"] == 64 + 32 + 8
    assert store.load()[3] == list(range(200))


def test_a_grown_or_reordered_list_scores_only_its_new_images(tmp_path, images200):
    """Relabel the first 100 records, then all 200 (the last shard of the 100 grows): only the 100 new ones are
    scored, and the scores come back in the list's order even when the list is reordered."""
    from ric_diffusion.data import RecordSet
    from ric_diffusion.relabel import scored

    first = load_records(DataConfig(source=str(images200), max_samples=100))
    store, calls = ScoreShards(tmp_path / "s", REWARDS), []
    relabel(first, counting_rewards(calls), store, shard_size=64)
    whole = load_records(DataConfig(source=str(images200)))
    calls.clear()
    relabel(whole, counting_rewards(calls), store, shard_size=64)
    assert sum(calls) == 100
    keys, _, raw, index = scored(whole, store)
    assert keys == [r.key for r in whole.records] and index == list(range(200))
    reordered = RecordSet(whole.records[::-1])
    calls.clear()
    relabel(reordered, counting_rewards(calls), store, shard_size=64)
    keys_r, _, raw_r, _ = scored(reordered, store)
    assert calls == [] and keys_r == keys[::-1] and np.array_equal(raw_r, raw[::-1])


def test_sigkill_mid_relabel_then_rerun_scores_no_image_twice(tmp_path, images200, tiny_sd_dir):
    """The trainer killed after its 2nd relabelling chunk (SIGKILL), then the same command: 200 images scored
    in all, counted at the reward itself across both runs."""
    out, count = tmp_path / "run", tmp_path / "calls.txt"
    args = tiny_train_args(tiny_sd_dir, images200, out, "data.shard_size=100", "train.max_steps=1")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RIC_COUNT_FILE": str(count)}
    cmd = [sys.executable, str(TESTS / "count_reward_calls.py"), *args]
    killed = subprocess.run(cmd, env={**env, "RIC_ONLINE_KILL_AT": "relabel:0:2"}, capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert sum(map(int, count.read_text().split())) == 100  # chunks of 64 and 36 (shard 0), then the kill
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    assert sum(map(int, count.read_text().split())) == 200
    report = json.loads((out / "relabel" / "report.json").read_text())
    assert report["total"] == 200 and report["scored_now"] == 100 and report["from_cache"] == 100


def write_tars(folder: Path, n: int, per_tar: int) -> Path:
    """WebDataset shards: <key>.png + <key>.txt per sample; sample 3 holds bytes that are no image."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for t in range(0, n, per_tar):
        with tarfile.open(folder / f"shard-{t // per_tar:03d}.tar", "w") as tar:
            for i in range(t, min(n, t + per_tar)):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(buf, format="PNG")
                png = b"broken" if i == 3 else buf.getvalue()
                for name, data in ((f"{i:05d}.png", png), (f"{i:05d}.txt", f"a square number {i}".encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return folder


def test_webdataset_tars_stream_and_train(tmp_path, tiny_sd_dir):
    """Tar shards stream through `datasets` (columns png/txt found by themselves); a broken image is skipped and
    reported; shards of 4 give one score part and one latent-cache part per shard; training runs."""
    tars = write_tars(tmp_path / "tars", n=10, per_tar=4)
    stream = load_records(DataConfig(source=str(tars)))
    assert isinstance(stream, RecordStream) and (stream.image_column, stream.caption_column) == ("png", "txt")
    got = list(stream.chunks(lambda s: s != 1, 4, 3))  # shard 1 (samples 4-7) belongs to another process
    assert [(s, [x.index for x in c]) for s, c in got] == [(0, [0, 1, 2]), (0, [3]), (2, [8, 9])]
    out = tmp_path / "run"
    result = main(tiny_train_args(tiny_sd_dir, tars, out, "data.shard_size=4", "train.max_steps=2"))
    report = json.loads((out / "relabel" / "report.json").read_text())
    assert report["total"] == 10 and len(report["skipped"]) == 1 and report["skipped"][0]["key"].endswith(":3")
    assert len(list((out / "relabel").glob("scores-*/part-*.parquet"))) == 3
    parts = sorted((out / "cache").glob("train-*/part-*.safetensors"))
    assert len(parts) == 3 and sum(len(load_cache(p)) for p in parts) == 9
    assert result.last_checkpoint.name == "checkpoint-2"


def test_saved_dataset_streams_with_the_same_keys(tmp_path, images200):
    """A saved `datasets` folder read as a stream gives the keys and captions of the random-access read."""
    import datasets

    rows = [json.loads(line) for line in (images200 / "metadata.jsonl").read_text().splitlines()][:12]
    ds = datasets.Dataset.from_dict(
        {"image": [str(images200 / r["file_name"]) for r in rows], "text": [r["text"] for r in rows]}
    ).cast_column("image", datasets.Image())
    ds.save_to_disk(tmp_path / "saved")
    cfg = DataConfig(source=str(tmp_path / "saved"), image_column="image")
    flat = load_records(cfg)
    stream = load_records(DataConfig(**{**cfg.__dict__, "streaming": True}))
    streamed = [x for _, chunk in stream.chunks(lambda s: True, 5, 2) for x in chunk]
    assert [(x.key, x.caption) for x in streamed] == [(r.key, r.caption) for r in flat.records]
    assert np.array_equal(np.asarray(streamed[7].load()), np.asarray(flat.open_image(flat.records[7])))


def test_latent_cache_does_not_depend_on_the_shard_size(tmp_path, tiny_sd_dir, image_folder):
    caches = []
    for size in (5, 1024):
        out = tmp_path / f"s{size}"
        main(tiny_train_args(tiny_sd_dir, image_folder, out, f"data.shard_size={size}", "train.max_steps=1"))
        parts = sorted((out / "cache").glob("train-*/part-*.safetensors"))
        assert len(parts) == -(-12 // size)
        caches.append([load_cache(p) for p in parts])
    from ric_diffusion.latent_cache import concat_caches

    a, b = (concat_caches(*c) for c in caches)
    for name in ("latent_mean", "latent_std", "rewards"):
        np.testing.assert_allclose(getattr(a, name).numpy(), getattr(b, name).numpy(), rtol=1e-5, atol=1e-6)
    assert len(a) == 12


def test_prompt_only_start_generates_scores_and_trains(tmp_path, tiny_sd_dir):
    """data.source = prompts.txt: the base model draws 2 images per prompt (shards of 4), they are scored and
    trained on; the same command again generates nothing."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red square\na blue circle\n# a comment line\na green star\n")
    out = tmp_path / "run"
    args = tiny_train_args(tiny_sd_dir, prompts, out, "data.images_per_prompt=2", "data.shard_size=4")
    result = main([*args, "train.max_steps=2"])
    (pool,) = (out / "pool").iterdir()
    rows = [json.loads(line) for line in (pool / "metadata.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["a red square"] * 2 + ["a blue circle"] * 2 + ["a green star"] * 2
    assert len(list(pool.glob("part-*.jsonl"))) == 2
    first = [np.asarray(Image.open(pool / r["file_name"])) for r in rows]
    assert not np.array_equal(first[0], first[1])  # each sample its own seed
    report = json.loads((out / "relabel" / "report.json").read_text())
    assert report["total"] == 6 and result.last_checkpoint.name == "checkpoint-2"
    stamps = {p.name: p.stat().st_mtime_ns for p in pool.glob("*.png")}
    main([*args, "train.max_steps=3"])
    assert {p.name: p.stat().st_mtime_ns for p in pool.glob("*.png")} == stamps


@pytest.mark.e2e
def test_relabel_on_two_processes_equals_one_and_survives_a_kill(tmp_path, images200, tiny_sd_dir):
    """`accelerate launch` on 2 processes: 200 images relabelled (shards of 32: 7 shards, 4 on rank 0, 3 on rank
    1) give the 1-process scores score for score and the same latent cache; rank 1 killed after its first
    chunk, then the same command: counted at the reward, what was written is never scored again. The launcher
    then kills rank 0 wherever it is, so rank 0 may score its one unwritten chunk again (here one shard, 32
    images scored in calls of 16, or the last shard's 8)."""
    extra = ["data.shard_size=32", "train.max_steps=1", "train.batch_size=2"]
    one = tmp_path / "one"
    main(tiny_train_args(tiny_sd_dir, images200, one, *extra))
    two, count = tmp_path / "two", tmp_path / "calls.txt"
    args = tiny_train_args(tiny_sd_dir, images200, two, *extra)
    env = {"RIC_COUNT_FILE": str(count), "RIC_ONLINE_KILL_AT": "relabel:1:1"}
    r = launch_two(args, env, script=TESTS / "count_reward_calls.py")
    assert r.returncode != 0
    r = launch_two(args, {"RIC_COUNT_FILE": str(count)}, script=TESTS / "count_reward_calls.py")
    assert r.returncode == 0, r.stderr[-3000:]
    calls = list(map(int, count.read_text().split()))
    # rank 1 died after a write; rank 0 may lose its chunk in flight: a full shard (32) or the last one (8)
    assert sum(calls) in (200, 200 + 32, 200 + 8), calls
    (s1,), (s2,) = (list((d / "relabel").glob("scores-*")) for d in (one, two))
    a, b = ScoreShards(s1, REWARDS).load(), ScoreShards(s2, REWARDS).load()
    assert a[0] == b[0] and np.array_equal(a[2], b[2])
    (c1,), (c2,) = (list((d / "cache").glob("train-*")) for d in (one, two))
    for p in sorted(c1.glob("part-*.safetensors")):
        np.testing.assert_allclose(load_cache(p).latent_mean, load_cache(c2 / p.name).latent_mean, atol=1e-6)


def test_a_part_read_while_another_rank_replaces_it_is_one_version_or_the_other(tmp_path):
    """Ranks read every part (to skip what is scored) while the owner rewrites its own: each read must see
    a whole old part or a whole new one, never the footer of one and the pages of the other."""
    import threading

    store = ScoreShards(tmp_path, ("a", "b"))
    rows = [(i, f"k{i}", "c", np.array([i, -i], float)) for i in range(64)]
    store.write_part(0, rows[:1])
    stop, errors = threading.Event(), []

    def rewrite():
        n = 1
        while not stop.is_set():
            n = n % 63 + 1
            store.write_part(0, rows[:n])  # parts of changing length, as a shard grows chunk by chunk

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        for _ in range(300):
            try:
                got = store.read_part(0)
                assert [r[0] for r in got] == list(range(len(got)))  # a prefix: one whole version
            except Exception as e:  # noqa: BLE001 - any failure of a read is the defect
                errors.append(repr(e))
    finally:
        stop.set()
        writer.join()
    assert not errors, errors[:3]
