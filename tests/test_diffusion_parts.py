"""Diffusion building blocks: conditioning, data sources, config handling, checkpoint state."""

import csv
import json

import numpy as np
import pytest
import torch

from ric_diffusion.checkpoint import load_state_dict, restore_optimizer, save_state_dict
from ric_diffusion.conditioning import RewardConditioner
from ric_diffusion.config import ConditioningConfig, DataConfig, DiffusionConfig
from ric_diffusion.data import load_records
from ric_runtime.config import load_config


@pytest.fixture(scope="module")
def clip_tokenizer():
    from ric_diffusion.tiny import build_clip_tokenizer

    return build_clip_tokenizer()


def test_text_tags_survive_a_long_caption(clip_tokenizer):
    c = RewardConditioner(3, 32, ConditioningConfig(strategy="text"))
    long_caption = "a very detailed painting of a castle " * 30
    z = np.array([[1.23, -0.5, 3.0]])
    ids = c.token_ids(clip_tokenizer, [long_caption], z)[0].tolist()
    assert len(ids) == 77 and ids[0] == clip_tokenizer.bos_token_id and ids[-1] == clip_tokenizer.eos_token_id
    tag_ids = clip_tokenizer("<rm1> 1.2 <rm2> -0.5 <rm3> 3.0", add_special_tokens=False).input_ids
    assert ids[-1 - len(tag_ids) : -1] == tag_ids  # every tag token kept, just before EOS
    cap_ids = clip_tokenizer(long_caption, add_special_tokens=False).input_ids
    assert ids[1 : -1 - len(tag_ids)] == cap_ids[: 75 - len(tag_ids)]  # the caption was cut instead
    short = c.token_ids(clip_tokenizer, ["a cat"], z)[0].tolist()
    assert short[: 3 + len(tag_ids) + 1] == [
        ids[0],
        *clip_tokenizer("a cat", add_special_tokens=False).input_ids,
        *tag_ids,
        ids[-1],
    ]


def test_embed_tokens_and_null_dropout(tmp_path):
    torch.manual_seed(0)
    c = RewardConditioner(2, 32, ConditioningConfig(strategy="embed", fourier_features=4, hidden_dim=16))
    states = torch.randn(3, 77, 32)
    z = torch.tensor([[0.0, 1.0], [0.5, -1.0], [2.0, 2.0]])
    out = c(states, z, torch.tensor([False, True, False]))
    assert out.shape == (3, 79, 32)
    torch.testing.assert_close(out[:, :77], states)
    torch.testing.assert_close(out[1, 77:], c.null_tokens)  # dropped row -> null tokens
    assert not torch.allclose(out[0, 77:], out[2, 77:])  # different rewards -> different tokens
    torch.testing.assert_close(c(states, None)[:, 77:], c.null_tokens.expand(3, -1, -1))
    c.save(tmp_path)
    again = RewardConditioner.load(tmp_path)
    torch.testing.assert_close(again(states, z), c(states, z))


def test_jsonl_csv_and_datasets_sources(tmp_path, image_folder):
    rows = [json.loads(line) for line in (image_folder / "metadata.jsonl").read_text().splitlines()]
    jl = tmp_path / "list.jsonl"
    jl.write_text(
        "".join(json.dumps({"path": str(image_folder / r["file_name"]), "caption": r["text"]}) + "\n" for r in rows)
    )
    recs = load_records(DataConfig(source=str(jl), image_column="path", caption_column="caption"))
    assert len(recs) == 12 and recs.open_image(recs.records[0]).size == (32, 32)
    cs = tmp_path / "list.csv"
    with cs.open("w", newline="") as f:
        w = csv.DictWriter(f, ["file_name", "text"])
        w.writeheader()
        w.writerows(rows[:5])
    (tmp_path / "0.png").write_bytes((image_folder / "0.png").read_bytes())
    recs = load_records(DataConfig(source=str(cs)))
    assert len(recs) == 5 and recs.records[0].key.endswith("0.png")

    import datasets
    from PIL import Image

    ds = datasets.Dataset.from_dict(
        {"image": [Image.open(image_folder / r["file_name"]) for r in rows[:4]], "text": [r["text"] for r in rows[:4]]}
    )
    ds.save_to_disk(tmp_path / "ds")
    recs = load_records(DataConfig(source=str(tmp_path / "ds")))
    assert [r.caption for r in recs.records] == [r["text"] for r in rows[:4]]
    assert recs.open_image(recs.records[2]).mode == "RGB"


def test_data_errors_before_any_work(tmp_path, image_folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "metadata.jsonl").write_text("")
    with pytest.raises(ValueError, match="holds no samples"):
        load_records(DataConfig(source=str(empty)))
    with pytest.raises(ValueError, match="no caption column 'caption'.*data.caption_column"):
        load_records(DataConfig(source=str(image_folder), caption_column="caption"))
    with pytest.raises(ValueError, match="data.source is empty"):
        load_records(DataConfig())


def test_config_overrides_validation_and_coercion(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("train:\n  learning_rate: 1e-4\n  max_steps: 10\nconditioning:\n  strategy: text\n")
    cfg = load_config(DiffusionConfig, y, ["train.max_steps=3", "lora.rank=4"])
    assert cfg.train.learning_rate == 1e-4 and isinstance(cfg.train.learning_rate, float)
    assert cfg.train.max_steps == 3 and cfg.lora.rank == 4 and cfg.conditioning.strategy == "text"
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['max_step'\] in section 'train'"):
        load_config(DiffusionConfig, None, ["train.max_step=3"])
    with pytest.raises(ValueError, match="strategy must be 'embed', 'text' or 'none'"):
        load_config(DiffusionConfig, None, ["conditioning.strategy=tokens"])
    with pytest.raises(ValueError, match="must be a number"):
        load_config(DiffusionConfig, None, ["train.learning_rate=fast"])


def test_optimizer_state_round_trip_without_pickle(tmp_path):
    p = torch.nn.Parameter(torch.randn(4))
    opt = torch.optim.AdamW([p], lr=0.1)
    for _ in range(3):
        p.grad = torch.randn(4)
        opt.step()
    save_state_dict(opt.state_dict(), tmp_path, "optimizer")
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = torch.optim.AdamW([q], lr=0.5)
    restore_optimizer(opt2, load_state_dict(tmp_path, "optimizer"))
    assert opt2.param_groups[0]["lr"] == 0.1
    g = torch.randn(4)
    p.grad, q.grad = g.clone(), g.clone()
    opt.step()
    opt2.step()
    torch.testing.assert_close(p, q)


def test_mixed_precision_has_one_source_of_truth():
    from ric_diffusion.hardware import precision

    assert precision(None, {}) is None  # accelerate decides (launch config, else "no")
    assert precision("bf16", {"ACCELERATE_MIXED_PRECISION": "bf16"}) == "bf16"
    assert precision(None, {"ACCELERATE_MIXED_PRECISION": "fp16"}) is None  # the launch config's fp16 is used
    with pytest.raises(ValueError, match="launch config says fp16"):
        precision("no", {"ACCELERATE_MIXED_PRECISION": "fp16"})
    with pytest.raises(ValueError, match="must be no, fp16 or bf16"):
        precision("fp8", {})


def test_unsupported_base_families_are_named_before_anything_loads(tmp_path, tiny_sd_dir):
    import json

    from ric_diffusion.models import check_family

    assert check_family(str(tiny_sd_dir)) == "StableDiffusionPipeline"
    for family in ("PixArtSigmaPipeline", "StableDiffusionUpscalePipeline"):
        folder = tmp_path / family
        folder.mkdir()
        (folder / "model_index.json").write_text(json.dumps({"_class_name": family, "_diffusers_version": "0.31.0"}))
        with pytest.raises(ValueError, match=f"is a {family}; ric_diffusion trains StableDiffusionPipeline, "):
            check_family(str(folder))


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.ema=abc", "train.ema' must be true or false; got 'abc'"),
        ("train.max_steps=2.5", "train.max_steps' must be an integer; got 2.5"),
        ("train.batch_size=true", "train.batch_size' must be an integer"),
        ("lora.target_modules=to_q", "lora.target_modules' must be a list"),
        ("inference.mapping=bogus", "inference.mapping must be one of"),
    ],
)
def test_config_values_of_the_wrong_type_fail_at_load(override, message):
    from ric_diffusion.config import DiffusionConfig
    from ric_runtime.config import load_config

    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(DiffusionConfig, None, [override])
    cfg = load_config(
        DiffusionConfig, None, ["train.learning_rate='1e-3'", "train.max_steps=3", "train.mixed_precision=null"]
    )
    assert cfg.train.learning_rate == 1e-3 and cfg.train.max_steps == 3  # YAML-1.1 number strings still work
