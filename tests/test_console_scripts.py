"""Every console script of pyproject.toml, run as users and schedulers run it (a subprocess): --help and
a tiny successful run exit 0; bad input exits non-zero with one line and no traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from helpers import tiny_text_args, tiny_train_args

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def run(*args, timeout=600, env=None):
    exe = Path(sys.executable).parent / args[0]  # the installed script next to this Python
    cmd = [str(exe), *map(str, args[1:])]
    return subprocess.run(cmd, capture_output=True, text=True, env={**ENV, **(env or {})}, timeout=timeout)


def assert_one_line_error(r, *words):
    assert r.returncode != 0, r.stdout[-500:]
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert all(w in last for w in words), last


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_exits_zero(script):
    r = run(script, "--help", timeout=120)
    assert r.returncode == 0 and "usage" in r.stdout.lower(), r.stderr[-1000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_sd_dir, image_folder, tiny_text_world):
    root = tmp_path_factory.mktemp("scripts")
    r = run("ric-diffusion-train", *tiny_train_args(tiny_sd_dir, image_folder, root / "image"))
    assert r.returncode == 0 and "TrainResult(" not in r.stdout + r.stderr, r.stderr[-2000:]  # no result repr
    policy, data, rms = tiny_text_world
    r = run("ric-text-train", *tiny_text_args(policy, data, rms, root / "text"))
    assert r.returncode == 0 and "TextTrainResult(" not in r.stdout + r.stderr, r.stderr[-2000:]
    return root, rms


def test_generate_scripts_succeed(runs, tmp_path):
    from PIL import Image

    root, _ = runs
    image = ["--checkpoint", root / "image", "--prompt", "a square", "--preference", "0.6", "0.4"]
    r = run("ric-diffusion-generate", *image, "--out", tmp_path / "imgs")
    assert r.returncode == 0 and len(list((tmp_path / "imgs").glob("*.png"))) == 1, r.stderr[-2000:]
    sized = ["--height", "64", "--width", "32", "--dtype", "float32", "--out", tmp_path / "tall"]
    r = run("ric-diffusion-generate", *image, *sized)
    assert r.returncode == 0 and Image.open(next((tmp_path / "tall").glob("*.png"))).size == (32, 64)
    r = run("ric-text-generate", "--checkpoint", root / "text", "--prompt", "how?", "--preference", "0.5", "0.5")
    assert r.returncode == 0 and "targets" in json.loads(r.stdout.strip().splitlines()[-1]), r.stderr[-2000:]


def test_benchmark_scripts_succeed(runs, tmp_path):
    root, rms = runs
    prompts = tmp_path / "p.txt"
    prompts.write_text("a square\n")
    rewards = ["toy_brightness", "jpeg_compressibility"]
    r = run(
        "ric-diffusion-benchmark",
        "--model",
        f"ric={root / 'image'}",
        "--rewards",
        *rewards,
        "--prompts",
        prompts,
        "--steps",
        "2",
        "--out",
        tmp_path / "b1",
    )
    assert r.returncode == 0 and (tmp_path / "b1" / "summary.json").exists(), r.stderr[-2000:]
    rewards = [json.dumps({"name": n, "path": str(d)}) for n, d in zip(["harmless", "helpful"], rms, strict=True)]
    r = run(
        "ric-text-benchmark",
        "--model",
        f"ric={root / 'text'}",
        "--rewards",
        *rewards,
        "--prompts",
        prompts,
        "--out",
        tmp_path / "b2",
    )
    assert r.returncode == 0 and (tmp_path / "b2" / "summary.json").exists(), r.stderr[-2000:]


def test_bad_input_is_one_line(runs, tmp_path, tiny_sd_dir, image_folder):
    root, _ = runs
    assert_one_line_error(run("ric", "bogus"), "unknown command 'bogus'")
    assert_one_line_error(run("ric", "demo", "--seed", "x"), "invalid int")
    r = run("ric-diffusion-train", *tiny_train_args(tiny_sd_dir, image_folder, tmp_path / "x", "online.mors_rule=most"))
    assert_one_line_error(r, "online.mors_rule")
    r = run("ric-text-train", "model.pretrained=x", "inference.mapping=bogus")
    assert_one_line_error(r, "inference.mapping")
    assert_one_line_error(run("ric-diffusion-train", "train.max_stepz=3"), "unknown config key")
    missing = tmp_path / "nowhere"
    r = run("ric-diffusion-generate", "--checkpoint", missing, "--prompt", "a", "--preference", "0.5", "0.5")
    assert_one_line_error(r, "no RiC diffusion checkpoint")
    r = run("ric-text-generate", "--checkpoint", missing, "--prompt", "a", "--preference", "0.5", "0.5")
    assert_one_line_error(r, "no RiC text checkpoint")
    r = run("ric-diffusion-generate", "--checkpoint", root / "image", "--prompt", "a", "--preference", "1", "1", "1")
    assert_one_line_error(r, "has 3 weight(s) but this model has 2 rewards")
    r = run(
        "ric-diffusion-generate",
        "--checkpoint",
        root / "image",
        "--prompt",
        "a",
        "--preference",
        "1",
        "0",
        "--steps",
        "-5",
    )
    assert_one_line_error(r, "--steps must be >= 1")
    r = run("ric-diffusion-train", *tiny_train_args(tiny_sd_dir, image_folder, tmp_path / "w"), env={"WORLD_SIZE": "2"})
    assert_one_line_error(r, "launched as 2 processes")
    for script in ("ric-diffusion-benchmark", "ric-text-benchmark"):
        assert_one_line_error(run(script, "--model", "no-equals-sign", "--rewards", "toy_length"), "NAME=SPEC")
