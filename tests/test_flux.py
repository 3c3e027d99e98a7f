"""FLUX.1 (guidance-distilled flow transformer) end to end on a tiny FLUX folder: the stock text conditioning,
train, resume, reload in a fresh process, two preferences, the LoRA in a stock FluxPipeline, reward guidance
refused by name, the text strategy and the online stage."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from helpers import assert_same_weights, tiny_train_args

from ric_diffusion.train import train


@pytest.fixture(scope="module")
def flux_run(tmp_path_factory, tiny_flux_dir, image_folder):
    out = tmp_path_factory.mktemp("flux") / "run"
    return out, train(tiny_train_args(tiny_flux_dir, image_folder, out, "train.checkpoint_every=2"))


def test_our_states_are_the_stock_pipelines(flux_run, tiny_flux_dir):
    """T5 states and CLIP-L's pooled output equal FluxPipeline.encode_prompt's (embed strategy)."""
    from diffusers import FluxPipeline

    from ric_diffusion.text_states import FLUX_T5_TOKENS, encode_texts

    _, result = flux_run
    captions = ["a red square on a white background", "a cat"]
    states, pooled = encode_texts(result.comps, result.conditioner, captions)
    want, want_pooled, _ = FluxPipeline.from_pretrained(tiny_flux_dir).encode_prompt(captions, None)
    assert states.shape == (2, FLUX_T5_TOKENS, 64) and pooled.shape == (2, 32)
    torch.testing.assert_close(states.float().cpu(), want.float(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(pooled.float().cpu(), want_pooled.float(), rtol=1e-4, atol=1e-5)


def test_packing_round_trip_and_finite_training(flux_run):
    from ric_diffusion.models import flux_forward

    out, result = flux_run
    assert result.comps.is_flux and not result.comps.is_sd3 and np.isfinite(result.losses).all()
    x = torch.randn(2, 4, 16, 16)
    states, pooled = torch.randn(2, 7, 64), torch.randn(2, 32)
    y = flux_forward(result.comps.unet.float(), x, torch.tensor([500.0, 10.0]), states, pooled)
    assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.e2e
def test_reload_in_a_fresh_process_and_two_preferences_differ(flux_run):
    out, _ = flux_run
    code = textwrap.dedent(
        f"""
        import json
        import numpy as np
        from ric_diffusion.pipeline import RiCDiffusionPipeline
        pipe = RiCDiffusionPipeline.from_checkpoint({str(out)!r})
        a = pipe("a square", preference=[1.0, 0.0], seed=0, num_inference_steps=4)
        b = pipe("a square", preference=[0.0, 1.0], seed=0, num_inference_steps=4)
        x, y = (np.asarray(o.images[0], dtype=float) for o in (a, b))
        try:
            pipe("a square", preference=[1.0, 0.0], guidance_scale=3.0, reward_guidance_scale=6.0)
            refused = ""
        except ValueError as e:
            refused = str(e)
        print(json.dumps([x.shape, float(np.abs(x - y).mean()), refused]))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    shape, ab, refused = json.loads(r.stdout.strip().split("\n")[-1])
    assert shape == [32, 32, 3] and ab > 0  # the trained resolution by default
    assert "guidance-distilled" in refused and "reward_guidance_scale" in refused


def test_the_lora_loads_into_a_stock_flux_pipeline(flux_run, tiny_flux_dir):
    from diffusers import FluxPipeline

    out, _ = flux_run
    pipe = FluxPipeline.from_pretrained(tiny_flux_dir)
    kw = dict(num_inference_steps=2, output_type="np", height=32, width=32)
    before = pipe("a square", generator=torch.Generator().manual_seed(0), **kw)
    pipe.load_lora_weights(str(out / "checkpoint-4"))
    assert pipe.transformer.peft_config
    after = pipe("a square", generator=torch.Generator().manual_seed(0), **kw)
    assert not np.allclose(before.images, after.images)


def test_resume_matches_uninterrupted(flux_run, tmp_path, tiny_flux_dir, image_folder):
    out, _ = flux_run
    part = tmp_path / "part"
    train(tiny_train_args(tiny_flux_dir, image_folder, part, "train.max_steps=2"))
    train(tiny_train_args(tiny_flux_dir, image_folder, part, "train.resume=latest", "train.checkpoint_every=2"))
    assert_same_weights(out / "checkpoint-4", part / "checkpoint-4")


@pytest.mark.e2e
def test_text_strategy_and_one_online_iteration(tmp_path, tiny_flux_dir, image_folder):
    out = tmp_path / "online"
    online = ["online.iterations=1", "online.num_samples=4", "online.steps=2", "online.num_origin_samples=4"]
    result = train(tiny_train_args(tiny_flux_dir, image_folder, out, "conditioning.strategy=text", *online))
    metrics = json.loads((out / "online" / "metrics.jsonl").read_text().splitlines()[0])
    assert metrics["generated"] == 4
    import app

    images, table, _, _ = app.ImageModel(result.last_checkpoint).generate("a square", "linf", 2, 3.5, 3.5, 0, 1, 1, 0)
    assert len(images) == 1 and [row[0] for row in table] == ["toy_brightness", "jpeg_compressibility"]
    from ric_diffusion.benchmark import run as benchmark

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a square\n")
    args = ["--model", f"ric={result.last_checkpoint}", "--rewards", "toy_brightness", "jpeg_compressibility"]
    summary = benchmark([*args, "--prompts", str(prompts), "--out", str(tmp_path / "bench")])
    assert len(summary["models"]["ric"]["preferences"]) == 11
    cmd = [sys.executable, "-m", "ric_diffusion.generate", "--checkpoint", str(result.last_checkpoint)]
    cmd += ["--prompt", "a square", "--preference", "0.7", "0.3", "--steps", "2", "--out", str(tmp_path / "gen")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list((tmp_path / "gen").glob("*.png"))) == 1
