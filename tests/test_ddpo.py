"""The DDPO-style RL baseline on the tiny model: log-probabilities from diffusers' DDIM step, runs per preference
in the RiC checkpoint format, compute records, and a resumed run."""

import json
import math

import numpy as np
import pytest
import torch
from helpers import tiny_train_args

from ric_diffusion.ddpo import run, step_log_prob


def test_step_log_prob_is_the_gaussian_density_of_the_drawn_noise():
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", clip_sample=False)
    sched.set_timesteps(10)
    g = torch.Generator().manual_seed(0)
    x, eps, noise = (torch.randn(3, 4, 8, 8, generator=g) for _ in range(3))
    t = sched.timesteps[3]
    prev = sched.step(eps, t, x, eta=1.0, variance_noise=noise).prev_sample
    mean = sched.step(eps, t, x, eta=1.0, variance_noise=torch.zeros_like(x)).prev_sample
    std = float((prev - mean).flatten()[0] / noise.flatten()[0])  # one std for the whole step
    want = (-(noise**2) / 2 - math.log(std) - 0.5 * math.log(2 * math.pi)).mean(dim=(1, 2, 3))
    torch.testing.assert_close(step_log_prob(sched, eps, t, x, prev, 1.0), want, rtol=1e-4, atol=1e-4)
    # a sample nearer the mean is more probable; another model output moves the mean
    assert (step_log_prob(sched, eps, t, x, mean, 1.0) > want).all()
    assert (step_log_prob(sched, eps + 0.5, t, x, prev, 1.0) < want).all()


def test_ddpo_runs_per_preference_in_the_ric_format_and_resumes(tmp_path, tiny_sd_dir, image_folder):
    from safetensors.torch import load_file

    from ric_diffusion.benchmark import per_preference_model

    out = tmp_path / "ddpo"
    trainer_args = tiny_train_args(tiny_sd_dir, image_folder, tmp_path / "unused", "inference.guidance_scale=3.0")
    cli = ["--samples-per-epoch", "4", "--sample-steps", "3", "--train-batch-size", "2", "--learning-rate", "1e-3"]
    ckpts = run(["--preferences", "1,0", "0,1", "--epochs", "1", "--out", str(out), *cli, "--", *trainer_args])
    assert set(ckpts) == {"1,0", "0,1"}
    (out / "w_1_0" / "done.json").unlink()  # as if killed before its last epochs: run it further
    ckpts = run(["--preferences", "1,0", "--epochs", "2", "--out", str(out), *cli, "--", *trainer_args])
    run_dir = out / "w_1_0"
    log = [json.loads(line) for line in (run_dir / "ddpo_log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [0, 1] and all(np.isfinite(e["reward"]) for e in log)
    ckpt = ckpts["1,0"]
    assert ckpt.name == "checkpoint-4"  # 2 epochs x 2 optimizer steps
    compute = json.loads((ckpt / "compute.json").read_text())
    assert compute["optimizer_steps"] == 4 and compute["generated_samples"] == 8
    assert compute["policy_forward_backward"] == 8 * 3 * 2 and compute["unet_forward_generation"] == 8 * 3 * 2
    lora = load_file(ckpt / "pytorch_lora_weights.safetensors")
    assert sum(float(v.abs().sum()) for k, v in lora.items() if "lora_B" in k or "lora.up" in k) > 0  # it moved
    meta = json.loads((run_dir / "preference.json").read_text())
    assert meta["preference"] == [1.0, 0.0] and "RL" in meta["method"]
    config = json.loads((ckpt / "ric_config.json").read_text())
    assert config["conditioning"]["strategy"] == "none"
    model = per_preference_model(out, steps=3)
    assert model.covers([1.0, 0.0]) and model.covers([0.0, 1.0])
    images, _ = model.generate(["a square number 3"], [1.0, 0.0], [0])
    assert len(images) == 1
    # a finished run is reused by the same command, refused (not silently reused) by a changed one
    same = ["--preferences", "1,0", "--epochs", "2", "--out", str(out), *cli, "--", *trainer_args]
    assert run(same)["1,0"] == ckpt
    changed = ["--preferences", "1,0", "--epochs", "2", "--out", str(out), *cli, "--learning-rate", "5e-3", "--"]
    changed += trainer_args
    with pytest.raises(ValueError, match="other settings"):
        run(changed)


def test_timesteps_batched_into_one_pass_give_the_same_update(tmp_path, tiny_sd_dir, image_folder):
    """--timestep-batch only changes how many transitions share a UNet pass, not the gradient."""
    from safetensors.torch import load_file

    trainer_args = tiny_train_args(tiny_sd_dir, image_folder, tmp_path / "unused", "inference.guidance_scale=3.0")
    cli = ["--samples-per-epoch", "4", "--sample-steps", "3", "--train-batch-size", "2", "--learning-rate", "1e-2"]
    lora = {}
    for batch in ("1", "3"):
        out = tmp_path / f"ddpo{batch}"
        torch.manual_seed(0)  # the LoRA's initial weights
        ckpt = run(
            [
                "--preferences",
                "1,0",
                "--epochs",
                "1",
                "--timestep-batch",
                batch,
                "--out",
                str(out),
                *cli,
                "--",
                *trainer_args,
            ]
        )["1,0"]
        lora[batch] = load_file(ckpt / "pytorch_lora_weights.safetensors")
    moved = [k for k, v in lora["1"].items() if "lora_B" in k or "lora.up" in k]
    assert moved and sum(float(lora["1"][k].abs().sum()) for k in moved) > 0
    for k, v in lora["1"].items():
        torch.testing.assert_close(lora["3"][k], v, rtol=1e-3, atol=1e-4)  # float sums in another order
