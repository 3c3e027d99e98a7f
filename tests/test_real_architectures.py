"""The real SD 1.5 and SDXL base architectures (random weights, saved as real diffusers folders) through the
command lines: one training step and one generation at a small resolution. Slow (minutes, GBs of disk):
``pytest -m slow tests/test_real_architectures.py``."""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import tiny_train_args

pytestmark = pytest.mark.slow


def script(name):
    return str(Path(sys.executable).parent / name)


@pytest.mark.parametrize(("family", "resolution"), [("sd15", 64), ("sdxl", 128)])
def test_real_architecture_trains_a_step_and_generates_from_the_command_line(
    family, resolution, tmp_path, image_folder
):
    from PIL import Image

    from ric_diffusion.architectures import sd15_components, sdxl_components
    from ric_diffusion.models import build_pipeline

    comps = sd15_components() if family == "sd15" else sdxl_components()
    pipe = build_pipeline(comps)
    pipe.to(dtype=comps.unet.dtype).save_pretrained(tmp_path / "model")  # model_index.json and every part
    del comps, pipe
    out = tmp_path / "run"
    args = tiny_train_args(tmp_path / "model", image_folder, out, "train.max_steps=1", "train.batch_size=1")
    args = [a for a in args if not a.startswith("data.resolution")] + [f"data.resolution={resolution}"]
    r = subprocess.run([script("ric-diffusion-train"), *args], capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-3000:]
    gen = [script("ric-diffusion-generate"), "--checkpoint", str(out), "--prompt", "a square", "--preference"]
    gen += ["0.5", "0.5", "--steps", "2", "--height", str(resolution), "--width", str(resolution)]
    r = subprocess.run([*gen, "--out", str(tmp_path / "samples")], capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-3000:]
    image = Image.open(next((tmp_path / "samples").glob("*.png")))
    assert image.size == (resolution, resolution)
