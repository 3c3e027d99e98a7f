"""SDXL end to end on a tiny SDXL folder: train (embed and text strategies), resume, reload in a fresh process,
generate at two preferences, the LoRA in a stock StableDiffusionXLPipeline, the online stage, the benchmark
and the app."""

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
def sdxl_run(tmp_path_factory, tiny_sdxl_dir, image_folder):
    out = tmp_path_factory.mktemp("sdxl") / "run"
    return out, train(tiny_train_args(tiny_sdxl_dir, image_folder, out, "train.checkpoint_every=2"))


def test_the_cache_holds_pooled_embeddings_and_size_ids(sdxl_run, image_folder):
    from ric_diffusion.latent_cache import load_cache

    out, result = sdxl_run
    assert result.comps.is_sdxl and result.comps.text_dim == 64 and np.isfinite(result.losses).all()
    cache = load_cache(next((out / "cache").glob("train-*/part-*.safetensors")))
    n, u = len(cache), cache.caption_states.shape[0]
    assert cache.caption_states.shape == (u, 77, 64) and cache.caption_pooled.shape == (u, 32)
    assert cache.empty_pooled.shape == (1, 32) and cache.time_ids.shape == (n, 6)
    assert cache.time_ids[0].tolist() == [32, 32, 0, 0, 32, 32]  # the 32 px images: no crop


def test_reload_in_a_fresh_process_and_two_preferences_differ(sdxl_run, tmp_path):
    out, _ = sdxl_run
    code = textwrap.dedent(
        f"""
        import numpy as np
        from ric_diffusion.pipeline import RiCDiffusionPipeline
        pipe = RiCDiffusionPipeline.from_checkpoint({str(out)!r})
        a = pipe("a square", preference=[1.0, 0.0], seed=0, num_inference_steps=4).images[0]
        b = pipe("a square", preference=[0.0, 1.0], seed=0, num_inference_steps=4).images[0]
        c = pipe("a square", preference=[1.0, 0.0], seed=0, guidance_scale=3.0, reward_guidance_scale=6.0).images[0]
        a, b, c = (np.asarray(x, dtype=float) for x in (a, b, c))
        print(a.shape, float(np.abs(a - b).mean()), float(np.abs(a - c).mean()))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    shape, ab, ac = r.stdout.strip().rsplit(" ", 2)
    assert shape.startswith("(32, 32, 3") and float(ab) > 0 and float(ac) > 0


def test_the_lora_loads_into_a_stock_sdxl_pipeline(sdxl_run, tiny_sdxl_dir):
    from diffusers import StableDiffusionXLPipeline

    out, _ = sdxl_run
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_sdxl_dir)
    before = pipe("a square", num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0))
    pipe.load_lora_weights(str(out / "checkpoint-4"))
    assert pipe.unet.peft_config  # the adapter is in
    after = pipe("a square", num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0))
    assert not np.allclose(before.images, after.images)


def test_resume_matches_uninterrupted(sdxl_run, tmp_path, tiny_sdxl_dir, image_folder):
    out, _ = sdxl_run
    part = tmp_path / "part"
    train(tiny_train_args(tiny_sdxl_dir, image_folder, part, "train.max_steps=2"))
    train(tiny_train_args(tiny_sdxl_dir, image_folder, part, "train.resume=latest", "train.checkpoint_every=2"))
    assert_same_weights(out / "checkpoint-4", part / "checkpoint-4")


def test_text_strategy_writes_the_tags_in_both_tokenizers(tmp_path, tiny_sdxl_dir, image_folder):
    from ric_diffusion.pipeline import RiCDiffusionPipeline

    result = train(tiny_train_args(tiny_sdxl_dir, image_folder, tmp_path / "text", "conditioning.strategy=text"))
    comps, cond = result.comps, result.conditioner
    long_caption = "a very long caption " * 30
    for tok in (comps.tokenizer, comps.tokenizer_2):
        ids = cond.token_ids(tok, [long_caption], np.array([[1.5, -0.3]]))[0].tolist()
        text = "".join(tok.decode(ids, skip_special_tokens=True).split()).rstrip("!")  # tokenizer_2 pads with "!"
        assert len(ids) == 77 and text.startswith("averylong") and text.endswith("<rm1>1.5<rm2>-0.3")  # cut, kept
    pipe = RiCDiffusionPipeline.from_checkpoint(tmp_path / "text")
    assert len(pipe("a square", preference=[0.5, 0.5], seed=0).images) == 1


def test_online_stage_benchmark_and_app(tmp_path, tiny_sdxl_dir, image_folder):
    import app
    from ric_diffusion.benchmark import run as benchmark

    out = tmp_path / "online"
    online = ["online.iterations=1", "online.num_samples=4", "online.steps=2", "online.num_origin_samples=4"]
    result = train(tiny_train_args(tiny_sdxl_dir, image_folder, out, *online))
    assert json.loads((out / "online" / "metrics.jsonl").read_text().splitlines()[0])["generated"] == 4
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a square\na circle\n")
    args = ["--model", f"ric={result.last_checkpoint}", "--rewards", "toy_brightness", "jpeg_compressibility"]
    summary = benchmark([*args, "--prompts", str(prompts), "--out", str(tmp_path / "bench")])
    assert len(summary["models"]["ric"]["preferences"]) == 11
    model = app.ImageModel(result.last_checkpoint)
    images, table, _, _ = model.generate("a square", "linf", 2, 2.0, 2.0, 0, 1, 0.5, 0.5)
    assert len(images) == 1 and [row[0] for row in table] == ["toy_brightness", "jpeg_compressibility"]
