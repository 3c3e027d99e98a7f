"""SD3 (flow-matching MMDiT) end to end on a tiny SD3 folder: the stock text conditioning, the rectified-flow
objective, train, resume, reload in a fresh process, generate at two preferences (and with reward guidance),
the LoRA in a stock StableDiffusion3Pipeline, the text strategy and the online stage."""

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
def sd3_run(tmp_path_factory, tiny_sd3_dir, image_folder):
    out = tmp_path_factory.mktemp("sd3") / "run"
    return out, train(tiny_train_args(tiny_sd3_dir, image_folder, out, "train.checkpoint_every=2"))


def test_our_states_are_the_stock_pipelines(sd3_run, tiny_sd3_dir):
    """Cached text states and pooled embeddings equal StableDiffusion3Pipeline.encode_prompt's (embed strategy)."""
    from diffusers import StableDiffusion3Pipeline

    from ric_diffusion.text_states import T5_TOKENS, encode_texts

    _, result = sd3_run
    captions = ["a red square on a white background", "a cat"]
    states, pooled = encode_texts(result.comps, result.conditioner, captions)
    pipe = StableDiffusion3Pipeline.from_pretrained(tiny_sd3_dir)
    want, _, want_pooled, _ = pipe.encode_prompt(captions, None, None, do_classifier_free_guidance=False)
    assert states.shape == (2, 77 + T5_TOKENS, 64) and pooled.shape == (2, 64)
    torch.testing.assert_close(states.float().cpu(), want.float(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(pooled.float().cpu(), want_pooled.float(), rtol=1e-4, atol=1e-5)


def test_flow_matching_input_and_target():
    """x_t = (1 - sigma) x_0 + sigma e at the scheduler's sigma for the drawn timestep; target e - x_0."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from ric_diffusion.objective import noisy_input

    sched = FlowMatchEulerDiscreteScheduler(shift=3.0)
    x0, e = torch.randn(64, 4, 2, 2), torch.randn(64, 4, 2, 2)
    noisy, t, target = noisy_input(sched, x0, e, torch.Generator().manual_seed(0), 64, slice(0, 64))
    sigma = (t / sched.config.num_train_timesteps).view(-1, 1, 1, 1)  # sigmas are timesteps / 1000
    torch.testing.assert_close(noisy, (1 - sigma) * x0 + sigma * e)
    torch.testing.assert_close(target, e - x0)
    assert 0.2 < float(sigma.mean()) < 0.95 and len(set(t.tolist())) > 32  # logit-normal, shifted up by 3


def test_the_cache_holds_the_joint_sequence_and_pooled_projections(sd3_run):
    from ric_diffusion.latent_cache import load_cache

    out, result = sd3_run
    assert result.comps.is_sd3 and not result.comps.is_sdxl and np.isfinite(result.losses).all()
    cache = load_cache(next((out / "cache").glob("train-*/part-*.safetensors")))
    u = cache.caption_states.shape[0]
    assert cache.caption_states.shape == (u, 77 + 256, 64) and cache.caption_pooled.shape == (u, 64)
    assert cache.time_ids is None and cache.latent_mean.shape[1:] == (4, 16, 16)


@pytest.mark.e2e
def test_reload_in_a_fresh_process_two_preferences_and_reward_guidance(sd3_run):
    out, _ = sd3_run
    code = textwrap.dedent(
        f"""
        import json
        import numpy as np
        from ric_diffusion.pipeline import RiCDiffusionPipeline
        pipe = RiCDiffusionPipeline.from_checkpoint({str(out)!r})
        a = pipe("a square", preference=[1.0, 0.0], seed=0, num_inference_steps=4, height=32, width=32)
        b = pipe("a square", preference=[0.0, 1.0], seed=0, num_inference_steps=4, height=32, width=32)
        c = pipe("a square", preference=[1.0, 0.0], seed=0, num_inference_steps=4, height=32, width=32,
                 guidance_scale=3.0, reward_guidance_scale=6.0)
        x, y, z = (np.asarray(o.images[0], dtype=float) for o in (a, b, c))
        print(json.dumps([x.shape, float(np.abs(x - y).mean()), float(np.abs(x - z).mean()), a.targets.tolist()]))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    shape, ab, ac, targets = json.loads(r.stdout.strip().split("\n")[-1])
    assert shape == [32, 32, 3] and ab > 0 and ac > 0 and len(targets) == 2


def test_the_lora_loads_into_a_stock_sd3_pipeline(sd3_run, tiny_sd3_dir):
    from diffusers import StableDiffusion3Pipeline

    out, _ = sd3_run
    pipe = StableDiffusion3Pipeline.from_pretrained(tiny_sd3_dir)
    kw = dict(num_inference_steps=2, output_type="np", height=32, width=32)
    before = pipe("a square", generator=torch.Generator().manual_seed(0), **kw)
    pipe.load_lora_weights(str(out / "checkpoint-4"))
    assert pipe.transformer.peft_config  # the adapter is in
    after = pipe("a square", generator=torch.Generator().manual_seed(0), **kw)
    assert not np.allclose(before.images, after.images)


def test_resume_matches_uninterrupted(sd3_run, tmp_path, tiny_sd3_dir, image_folder):
    out, _ = sd3_run
    part = tmp_path / "part"
    train(tiny_train_args(tiny_sd3_dir, image_folder, part, "train.max_steps=2"))
    train(tiny_train_args(tiny_sd3_dir, image_folder, part, "train.resume=latest", "train.checkpoint_every=2"))
    assert_same_weights(out / "checkpoint-4", part / "checkpoint-4")


@pytest.mark.e2e
def test_text_strategy_and_one_online_iteration(tmp_path, tiny_sd3_dir, image_folder):
    from ric_diffusion.pipeline import RiCDiffusionPipeline

    out = tmp_path / "online"
    online = ["online.iterations=1", "online.num_samples=4", "online.steps=2", "online.num_origin_samples=4"]
    result = train(tiny_train_args(tiny_sd3_dir, image_folder, out, "conditioning.strategy=text", *online))
    assert json.loads((out / "online" / "metrics.jsonl").read_text().splitlines()[0])["generated"] == 4
    pipe = RiCDiffusionPipeline.from_checkpoint(result.last_checkpoint)
    a = pipe("a square", preference=[1.0, 0.0], seed=0, output_type="np").images[0]
    b = pipe("a square", preference=[0.0, 1.0], seed=0, output_type="np").images[0]
    assert not np.allclose(a, b)  # the tags reach the T5 and CLIP states
    import app

    images, table, _, _ = app.ImageModel(result.last_checkpoint).generate("a square", "linf", 2, 3.0, 5.0, 0, 1, 1, 0)
    assert len(images) == 1 and [row[0] for row in table] == ["toy_brightness", "jpeg_compressibility"]
    cmd = [sys.executable, "-m", "ric_diffusion.generate", "--checkpoint", str(result.last_checkpoint)]
    cmd += ["--prompt", "a square", "--preference", "0.7", "0.3", "--steps", "2", "--out", str(tmp_path / "gen")]
    r = subprocess.run([*cmd, "--guidance-scale", "3", "--reward-guidance-scale", "5"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list((tmp_path / "gen").glob("*.png"))) == 1


@pytest.mark.parametrize("family", ["PixArtSigmaPipeline", "StableDiffusion3ControlNetPipeline"])
def test_other_transformer_families_are_refused_by_name(tmp_path, family):
    from ric_diffusion.models import check_family

    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": family}))
    with pytest.raises(ValueError, match=f"is a {family}.*StableDiffusion3Pipeline, FluxPipeline"):
        check_family(str(tmp_path))
