"""Every shipped preset runs: loaded through the trainers' own command line with only its model, data and
reward weights pointed at tiny local stand-ins (and CUDA-only settings turned off), one optimizer step
(the LLM presets also run their online stage, shrunk). A preset that cannot run fails here, not on a
user's first day."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import make_classifier

from rewards.presets import PRESETS

pytestmark = pytest.mark.e2e
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
WEIGHTED_IMAGE_REWARDS = ("aesthetic", "clip_score", "pickscore")


def preset_rewards(path: Path) -> list:
    return yaml.safe_load(path.read_text())["rewards"]


@pytest.fixture(scope="module")
def aesthetic_head(tmp_path_factory):
    from rewards.aesthetic import AestheticMLP

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("aes") / "sac+logos+ava1-l14-linearMSE.pth"
    torch.save(AestheticMLP(32).state_dict(), path)
    return path


DIFFUSION = sorted(f"diffusion/{p.stem}" for p in (CONFIGS / "diffusion").glob("*.yaml"))


@pytest.fixture(scope="module")
def pickscore_dir(tmp_path_factory):
    from helpers import make_tiny_pickscore

    return make_tiny_pickscore(tmp_path_factory.mktemp("pickscore"))


def stand_in(name: str, sd: Path, sdxl: Path, sd3: Path, flux: Path) -> Path:
    """The tiny model of the preset's family (its file name says which)."""
    return sdxl if "sdxl" in name else sd3 if "sd3" in name else flux if "flux" in name else sd


@pytest.mark.parametrize("name", [*DIFFUSION, "demo/image"])
def test_diffusion_preset_runs_one_step(
    name,
    tmp_path,
    tiny_sd_dir,
    tiny_sdxl_dir,
    tiny_sd3_dir,
    tiny_flux_dir,
    image_folder,
    tiny_clip_name,
    tiny_clip_checkpoint,
    aesthetic_head,
    pickscore_dir,
):
    from ric_diffusion.train import train

    path = CONFIGS / f"{name}.yaml"
    clip = {"clip_model": tiny_clip_name, "clip_pretrained": tiny_clip_checkpoint}
    rewards = []
    for spec in preset_rewards(path):  # the preset's rewards, in its order, with its options
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        if spec["name"] == "pickscore":
            spec |= {"model": str(pickscore_dir), "processor": str(pickscore_dir)}
        elif spec["name"] in WEIGHTED_IMAGE_REWARDS:
            spec |= clip | ({"weights": str(aesthetic_head)} if spec["name"] == "aesthetic" else {})
        rewards.append(spec)
    result = train(
        [
            "--config",
            str(path),
            f"model.pretrained={stand_in(name, tiny_sd_dir, tiny_sdxl_dir, tiny_sd3_dir, tiny_flux_dir)}",
            "model.pixel_space=false",
            f"data.source={image_folder}",
            "data.resolution=32",
            f"rewards={json.dumps(rewards)}",
            f"train.output_dir={tmp_path / 'run'}",
            "train.max_steps=1",
            "train.batch_size=2",
            "train.checkpoint_every=1",
            "train.report_to=none",
            "train.mixed_precision=null",
            "online.iterations=0",
            "inference.num_inference_steps=2",
        ]
    )
    assert result.last_checkpoint.name == "checkpoint-1" and np.isfinite(result.losses).all()
    saved = json.loads((result.last_checkpoint / "ric_config.json").read_text())
    preset = yaml.safe_load(path.read_text())
    for section in ("conditioning", "lora", "inference"):  # the preset's own choices reached the run
        for key, value in preset.get(section, {}).items():
            if not (section == "inference" and key == "num_inference_steps"):
                assert saved[section][key] == value, f"{section}.{key}"


def tiny_gpt2(path: Path, tokenizer_dir: str) -> Path:
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def summary_rows(n: int = 6) -> list[dict]:
    """summarize_from_feedback-style comparisons with posts of 100-1,200 characters."""
    post = "I moved to a new city for work and I do not know anyone here yet. " * 3
    return [
        {
            "info": {"post": post + f"Day {i}."},
            "summaries": [{"text": f"New in town, day {i}."}, {"text": "A post."}],
            "choice": 0,
        }
        for i in range(n)
    ]


@pytest.mark.parametrize(
    "name",
    ["text/hh_harmless_helpful", "text/hh_harmless_helpful_humor", "text/summary_faithful", "text/tiny", "demo/text"],
)
def test_text_preset_runs_one_step(name, tmp_path, tiny_text_world, byte_bpe_tokenizer_dir):
    from ric_text.train import train

    policy, hh, _ = tiny_text_world
    path = CONFIGS / f"{name}.yaml"
    preset = yaml.safe_load(path.read_text())
    if "c_attn" in preset["lora"].get("target_modules", []):  # a GPT-2 preset: a GPT-2 stand-in
        policy = tiny_gpt2(tmp_path / "gpt2", byte_bpe_tokenizer_dir)
    rewards = []
    for i, spec in enumerate(preset_rewards(path)):  # a stand-in with the right number of logits per RM
        rname = spec if isinstance(spec, str) else spec["name"]
        if rname in PRESETS:
            labels = PRESETS[rname].logit_index + 1
            rm = make_classifier(tmp_path / f"rm_{rname}", byte_bpe_tokenizer_dir, max(1, labels), seed=i)
            rewards.append({"name": rname, "path": str(rm)})
        else:
            rewards.append(spec)
    kind = preset.get("data", {}).get("kind", "hh")
    data = hh
    if kind == "summary":
        data = tmp_path / "summaries.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in summary_rows()))
    elif kind == "jsonl":
        data = tmp_path / "pairs.jsonl"
        praise = ["I love this kettle.", "The build is superb.", "It feels sturdy."]
        replies = [" ".join(["It arrived on Tuesday.", *praise[: i % 4]]) for i in range(8)]  # rewards must vary
        rows = [{"prompt": "\n\nHuman: a review? \n\nAssistant:", "response": r} for r in replies]
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = train(
        [
            "--config",
            str(path),
            f"model.pretrained={policy}",
            "model.load_in_8bit=false",
            "model.dtype=float32",
            f"data.source={data}",
            "data.min_tokens=1",
            f"rewards={json.dumps(rewards)}",
            f"train.output_dir={tmp_path / 'run'}",
            "train.max_steps=1",
            "train.batch_size=2",
            "train.save_steps=1",
            "train.report_to=none",
            "generation.max_new_tokens=6",
            "online.num_samples=4",
            "online.shard_size=4",
            "online.steps=1",
            "online.num_origin_samples=4",
        ]
    )
    compute = json.loads((result.final / "compute.json").read_text())
    iterations = preset.get("online", {}).get("iterations", 0)
    assert compute["optimizer_steps"] == 1 + iterations  # one offline step, one per online iteration
    assert compute["generated_samples"] == 4 * iterations
    saved = json.loads((result.final / "ric_config.json").read_text())
    assert saved["prompt"]["format"] == preset.get("prompt", {}).get("format", "assistant")
    assert saved["lora"]["rank"] == preset["lora"]["rank"] and saved["inference"] == {
        **saved["inference"],
        **preset.get("inference", {}),
    }
