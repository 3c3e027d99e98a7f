"""Test-wide settings (never touch the network, stay quiet) and tiny models shared by the tests."""

import json
import os

import pytest

# Any accidental hub id must fail fast instead of retrying for tens of seconds.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="session")
def tiny_clip_name(tmp_path_factory) -> str:
    """Register a tiny open_clip architecture (32-d embeddings, 32 px images) and return its name."""
    import open_clip

    path = tmp_path_factory.mktemp("clip_cfg") / "ric-tiny-clip.json"
    path.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(path)
    return "ric-tiny-clip"


@pytest.fixture(scope="session")
def tiny_clip_checkpoint(tiny_clip_name, tmp_path_factory) -> str:
    """A tiny CLIP's weights saved as a local checkpoint file, as open_clip loads `pretrained=PATH`."""
    import open_clip
    import torch

    torch.manual_seed(0)
    model = open_clip.create_model(tiny_clip_name, pretrained=None)
    path = tmp_path_factory.mktemp("clip_ckpt") / "tiny_clip.pt"
    torch.save(model.state_dict(), path)
    return str(path)


@pytest.fixture(scope="session")
def byte_bpe_tokenizer_dir(tmp_path_factory) -> str:
    """A byte-level BPE tokenizer trained on the fly, saved with bos/eos/pad like a GPT-2 folder."""
    from helpers import make_byte_bpe_tokenizer

    return make_byte_bpe_tokenizer(tmp_path_factory.mktemp("bpe_tok"))


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory):
    """A tiny Stable Diffusion folder (model_index.json, unet/vae/text_encoder/tokenizer/scheduler)."""
    from ric_diffusion.tiny import make_tiny_sd

    return make_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_sdxl_dir(tmp_path_factory):
    """A tiny SDXL folder (StableDiffusionXLPipeline layout: two text encoders, text_time UNet)."""
    from ric_diffusion.tiny import make_tiny_sdxl

    return make_tiny_sdxl(tmp_path_factory.mktemp("models") / "tiny-sdxl")


@pytest.fixture(scope="session")
def tiny_sd3_dir(tmp_path_factory):
    """A tiny SD3 folder (StableDiffusion3Pipeline layout: MMDiT, two CLIP encoders + T5, flow scheduler)."""
    from ric_diffusion.tiny import make_tiny_sd3

    return make_tiny_sd3(tmp_path_factory.mktemp("models") / "tiny-sd3")


@pytest.fixture(scope="session")
def tiny_flux_dir(tmp_path_factory):
    """A tiny FLUX.1 folder (FluxPipeline layout: guidance-embedding transformer, CLIP-L + T5, flow scheduler)."""
    from ric_diffusion.tiny import make_tiny_flux

    return make_tiny_flux(tmp_path_factory.mktemp("models") / "tiny-flux")


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    from helpers import write_image_folder

    return write_image_folder(tmp_path_factory.mktemp("data") / "images")


@pytest.fixture(scope="session")
def tiny_text_world(tmp_path_factory, byte_bpe_tokenizer_dir):
    """(policy dir, HH-style JSONL, two reward-model dirs) for ric_text tests."""
    from helpers import make_classifier, make_tiny_llama, write_hh_jsonl

    root = tmp_path_factory.mktemp("text")
    policy = make_tiny_llama(root / "llama", byte_bpe_tokenizer_dir)
    data = write_hh_jsonl(root / "hh.jsonl")
    rms = [make_classifier(root / f"rm{i}", byte_bpe_tokenizer_dir, 1, seed=i) for i in (1, 2)]
    return policy, data, rms
