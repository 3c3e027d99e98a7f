"""Offline diffusion RiC on a tiny Stable Diffusion: train, save, reload, generate, resume, DDP."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_same_weights, tiny_train_args, write_image_folder
from safetensors.torch import load_file

from ric_core.mapping import map_preference
from ric_core.stats import RewardStats
from ric_diffusion.pipeline import RiCDiffusionPipeline
from ric_diffusion.train import train as main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_sd_dir, image_folder):
    out = tmp_path_factory.mktemp("runs") / "embed"
    result = main(tiny_train_args(tiny_sd_dir, image_folder, out, "train.checkpoint_every=2"))
    return out, result


def test_checkpoint_contents(trained_run):
    out, result = trained_run
    ckpt = result.last_checkpoint
    assert ckpt.name == "checkpoint-4"
    names = set(os.listdir(ckpt))
    assert {
        "pytorch_lora_weights.safetensors",
        "conditioner.safetensors",
        "conditioner.json",
        "reward_stats.json",
        "ric_config.json",
        "compute.json",
        "training_state",
    } <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)  # nothing needs pickle
    stats = RewardStats.load(ckpt)
    assert stats.names == ("toy_brightness", "jpeg_compressibility") and stats.count == 12
    assert json.loads((ckpt / "ric_config.json").read_text())["train"]["max_steps"] == 4
    assert len(result.losses) == 4 and all(np.isfinite(result.losses))
    assert (out / "checkpoint-2").is_dir()  # periodic checkpoint too
    assert json.loads((ckpt / "compute.json").read_text())["samples"] == 16


def test_relabel_cache_is_reused(trained_run, tiny_sd_dir, image_folder, monkeypatch):
    out, _ = trained_run
    calls = []
    import rewards.toy

    original = rewards.toy.ToyBrightness.score
    monkeypatch.setattr(rewards.toy.ToyBrightness, "score", lambda self, **kw: calls.append(1) or original(self, **kw))
    main(tiny_train_args(tiny_sd_dir, image_folder, out, "train.resume=latest"))
    assert calls == []  # every image was already scored
    report = json.loads((out / "relabel" / "report.json").read_text())
    assert report["from_cache"] == 12 and report["scored_now"] == 0


def test_reload_in_fresh_process_and_generate(trained_run, tmp_path):
    out, _ = trained_run
    script = textwrap.dedent(f"""
        import json, numpy as np
        from ric_diffusion.pipeline import RiCDiffusionPipeline
        pipe = RiCDiffusionPipeline.from_checkpoint({str(out)!r})
        a = pipe("a square number 3", preference=[0.9, 0.1], seed=0, output_type="np")
        b = pipe("a square number 3", preference=[0.1, 0.9], seed=0, output_type="np")
        np.save({str(tmp_path / "a.npy")!r}, a.images[0]); np.save({str(tmp_path / "b.npy")!r}, b.images[0])
        json.dump({{"a": a.targets.tolist(), "b": b.targets.tolist()}}, open({str(tmp_path / "t.json")!r}, "w"))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (32, 32, 3) and not np.allclose(a, b)
    targets = json.loads((tmp_path / "t.json").read_text())
    stats = RewardStats.load(out / "checkpoint-4")
    np.testing.assert_allclose(targets["a"], map_preference([0.9, 0.1], stats=stats))
    np.testing.assert_allclose(targets["b"], map_preference([0.1, 0.9], stats=stats))


def test_lora_loads_into_a_plain_diffusers_pipeline(trained_run, tiny_sd_dir):
    from diffusers import StableDiffusionPipeline

    out, _ = trained_run
    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd_dir, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)

    def sample():
        return pipe("a square", num_inference_steps=3, generator=torch.manual_seed(0), output_type="np").images[0]

    before = sample()
    pipe.load_lora_weights(str(out / "checkpoint-4"))
    assert not np.allclose(before, sample())


def test_reward_guidance_and_explicit_rewards(trained_run):
    out, _ = trained_run
    pipe = RiCDiffusionPipeline.from_checkpoint(out)
    base = pipe("a square", rewards=[1.0, -1.0], seed=0, output_type="np")
    np.testing.assert_array_equal(base.targets, [1.0, -1.0])
    guided = pipe("a square", rewards=[1.0, -1.0], seed=0, output_type="np", reward_guidance_scale=4.0)
    assert not np.allclose(base.images[0], guided.images[0])
    same = pipe("a square", rewards=[1.0, -1.0], seed=0, output_type="np", reward_guidance_scale=7.5)
    np.testing.assert_allclose(base.images[0], same.images[0], atol=1e-6)  # g_r = g is plain CFG
    two = pipe(["a square", "a circle"], preference=[0.5, 0.5], num_images_per_prompt=2, seed=1)
    assert len(two.images) == 4


def test_wrong_preference_length_names_the_count(trained_run):
    pipe = RiCDiffusionPipeline.from_checkpoint(trained_run[0])
    with pytest.raises(ValueError, match="this model has 2 rewards"):
        pipe("a square", preference=[0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="2 finite normalised values"):
        pipe("a square", rewards=[1.0])
    with pytest.raises(ValueError, match="exactly one of"):
        pipe("a square")


def test_resume_matches_uninterrupted_run(tmp_path, tiny_sd_dir, image_folder):
    full = tmp_path / "full"
    main(tiny_train_args(tiny_sd_dir, image_folder, full, "train.max_steps=6", "train.checkpoint_every=3"))
    part = tmp_path / "part"
    main(tiny_train_args(tiny_sd_dir, image_folder, part, "train.max_steps=3"))
    record = json.loads((part / "checkpoint-3" / "compute.json").read_text())
    (part / "checkpoint-3" / "compute.json").write_text(json.dumps(record | {"wall_time_s": 1000.0}))
    main(tiny_train_args(tiny_sd_dir, image_folder, part, "train.max_steps=6", "train.resume=latest"))
    assert 1000 < json.loads((part / "checkpoint-6" / "compute.json").read_text())["wall_time_s"] < 2000  # adds up
    assert_same_weights(full / "checkpoint-6", part / "checkpoint-6")
    mid = load_file(part / "checkpoint-3" / "pytorch_lora_weights.safetensors")
    end = load_file(full / "checkpoint-6" / "pytorch_lora_weights.safetensors")
    assert any(not torch.allclose(mid[k], end[k]) for k in end)  # the resumed steps did move the weights


def test_text_strategy_trains_and_samples(tmp_path, tiny_sd_dir, image_folder):
    out = tmp_path / "text"
    result = main(tiny_train_args(tiny_sd_dir, image_folder, out, "conditioning.strategy=text"))
    meta = json.loads((result.last_checkpoint / "conditioner.json").read_text())
    assert meta["strategy"] == "text"
    pipe = RiCDiffusionPipeline.from_checkpoint(out)
    a = pipe("a square", preference=[1, 0], seed=0, output_type="np").images[0]
    b = pipe("a square", preference=[0, 1], seed=0, output_type="np").images[0]
    assert not np.allclose(a, b)


def test_corrupt_and_missing_images_are_skipped_and_reported(tmp_path, tiny_sd_dir):
    data = write_image_folder(tmp_path / "imgs", n=8)
    (data / "3.png").write_bytes(b"not a png")
    (data / "5.png").unlink()
    out = tmp_path / "run"
    result = main(tiny_train_args(tiny_sd_dir, data, out, "train.max_steps=2"))
    report = json.loads((out / "relabel" / "report.json").read_text())
    skipped = {os.path.basename(s["key"]): s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"3.png", "5.png"}
    assert "FileNotFoundError" in skipped["5.png"]
    assert RewardStats.load(result.last_checkpoint).count == 6


@pytest.mark.e2e
def test_two_process_data_parallel_training(tmp_path, tiny_sd_dir, image_folder):
    script = tmp_path / "ddp.py"
    script.write_text(
        textwrap.dedent(f"""
        import json, sys
        from safetensors.torch import save_file
        from ric_diffusion.models import lora_state_dict
        from ric_diffusion.train import train as main
        res = main(sys.argv[1:])
        acc = res.accelerator
        state = {{k: v.detach().contiguous() for k, v in lora_state_dict(acc.unwrap_model(res.comps.unet)).items()}}
        state.update({{"cond." + k: v.detach().contiguous() for k, v in res.conditioner.state_dict().items()}})
        save_file(state, {str(tmp_path)!r} + f"/rank{{acc.process_index}}.safetensors")
        json.dump({{"world": acc.num_processes}}, open({str(tmp_path)!r} + f"/rank{{acc.process_index}}.json", "w"))
    """)
    )
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(script),
        *tiny_train_args(tiny_sd_dir, image_folder, tmp_path / "run", "train.batch_size=2"),
    ]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env, timeout=300)
    for r in (0, 1):
        assert json.loads((tmp_path / f"rank{r}.json").read_text())["world"] == 2
    a, b = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("cond.") for k in a)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    saved = load_file(tmp_path / "run" / "checkpoint-4" / "pytorch_lora_weights.safetensors")
    assert len(saved) == sum(not k.startswith("cond.") for k in a)


def test_tiny_preset_and_generate_cli(tmp_path, tiny_sd_dir, image_folder):
    from ric_diffusion.generate import generate

    out = tmp_path / "preset"
    main(
        [
            "--config",
            str(Path(__file__).parents[1] / "configs/diffusion/tiny.yaml"),
            f"model.pretrained={tiny_sd_dir}",
            f"data.source={image_folder}",
            f"train.output_dir={out}",
        ]
    )
    paths = generate(
        [
            "--checkpoint",
            str(out),
            "--prompt",
            "a square",
            "--prompt",
            "a circle",
            "--preference",
            "0.8",
            "0.2",
            "--num-images",
            "2",
            "--out",
            str(tmp_path / "imgs"),
        ]
    )
    assert len(paths) == 4 and all(p.exists() for p in paths)
    meta = json.loads((tmp_path / "imgs" / "generation.json").read_text())
    assert meta["reward_names"] == ["toy_brightness", "jpeg_compressibility"] and len(meta["targets"]) == 2


DIFFUSION_PRESETS = sorted(p.stem for p in (Path(__file__).parents[1] / "configs" / "diffusion").glob("*.yaml"))


@pytest.mark.parametrize("name", [*DIFFUSION_PRESETS, "../demo/image"])
def test_presets_load_as_written(name):
    from helpers import assert_preset_loads_as_written

    from ric_diffusion.config import DiffusionConfig

    cfg = assert_preset_loads_as_written(
        DiffusionConfig, Path(__file__).parents[1] / "configs" / "diffusion" / f"{name}.yaml"
    )
    assert len(cfg.rewards) >= 2 and cfg.train.max_steps >= 1


def test_a_diverging_run_stops_with_a_message_and_keeps_only_finite_checkpoints(tmp_path, tiny_sd_dir, image_folder):
    from safetensors.torch import load_file

    from ric_diffusion.checkpoint import checkpoint_dirs

    out = tmp_path / "nan"
    args = tiny_train_args(
        tiny_sd_dir,
        image_folder,
        out,
        "train.learning_rate=1e10",
        "train.max_steps=8",
        "train.checkpoint_every=1",
        "train.checkpoints_total_limit=null",
    )
    with pytest.raises(ValueError, match=r"training stopped at step \d+: the .* is (nan|inf)"):
        main(args)
    assert checkpoint_dirs(out)  # the steps before the divergence were saved ...
    for ckpt in checkpoint_dirs(out):  # ... and whatever was saved is finite
        assert all(torch.isfinite(t).all() for t in load_file(ckpt / "pytorch_lora_weights.safetensors").values())


def test_statistics_that_do_not_match_the_checkpoint_are_refused(trained_run, tmp_path):
    """A swapped or edited reward_stats.json would mislabel every slider: the loaders refuse it by name."""
    import shutil

    from ric_diffusion.pipeline import RiCDiffusionPipeline

    _, result = trained_run
    ckpt = tmp_path / "swapped"
    shutil.copytree(result.last_checkpoint, ckpt)
    stats = json.loads((ckpt / "reward_stats.json").read_text())
    stats["names"] = stats["names"][::-1]
    (ckpt / "reward_stats.json").write_text(json.dumps(stats))
    with pytest.raises(ValueError, match="reward_stats.json does not match the checkpoint's config"):
        RiCDiffusionPipeline.from_checkpoint(ckpt)


def test_bf16_keeps_frozen_weights_in_bf16_and_trains_lora_and_conditioner_in_fp32(tmp_path, tiny_sd_dir, image_folder):
    """diffusers' LoRA memory recipe: what is frozen is stored in the training dtype, what is trained in fp32."""
    import numpy as np
    import torch

    from ric_diffusion.pipeline import RiCDiffusionPipeline

    online = ["online.iterations=1", "online.num_samples=4", "online.steps=2", "online.num_origin_samples=4"]
    args = tiny_train_args(tiny_sd_dir, image_folder, tmp_path / "bf16", "train.mixed_precision=bf16", *online)
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # one process, two precisions: as two launches
    try:
        result = main(args)  # the online stage generates with the bf16 weights and fits the fp32 adapter
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    unet = result.comps.unet
    trained = {n for n, p in unet.named_parameters() if p.requires_grad}
    assert trained and all("lora" in n for n in trained)
    assert {p.dtype for n, p in unet.named_parameters() if n in trained} == {torch.float32}
    assert {p.dtype for n, p in unet.named_parameters() if n not in trained} == {torch.bfloat16}
    assert {p.dtype for p in result.comps.text_encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in result.comps.vae.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in result.conditioner.parameters()} == {torch.float32}
    assert result.losses and np.isfinite(result.losses).all()
    pipe = RiCDiffusionPipeline.from_checkpoint(tmp_path / "bf16")  # the saved LoRA loads and samples in fp32
    image = np.asarray(pipe("a square", preference=[0.5, 0.5], seed=0).images[0])
    assert image.std() > 0


@pytest.mark.parametrize("name", ["1gpu", "multi_gpu", "deepspeed_zero2"])
def test_shipped_accelerate_configs_load_with_accelerate(name):
    """accelerate's own loader reads each shipped launch config; all train in bf16, which the trainer follows."""
    from accelerate.commands.config.config_args import load_config_from_file

    from ric_diffusion.hardware import precision

    cfg = load_config_from_file(str(Path(__file__).parents[1] / "configs" / "accelerate" / f"{name}.yaml"))
    assert cfg.mixed_precision == "bf16" and cfg.compute_environment.value == "LOCAL_MACHINE"
    assert precision(None, env={"ACCELERATE_MIXED_PRECISION": cfg.mixed_precision}) is None  # follows the launch
    if name == "deepspeed_zero2":
        assert cfg.deepspeed_config["zero_stage"] == 2
