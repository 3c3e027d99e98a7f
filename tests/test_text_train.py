"""ric_text end to end on a tiny Llama: offline SFT, one online iteration, reload, generate."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import tiny_text_args

from ric_core.mapping import map_preference
from ric_core.stats import RewardStats
from ric_text.train import train as main


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, tiny_text_world):
    policy, data, rms = tiny_text_world
    out = tmp_path_factory.mktemp("textrun") / "run"
    online = [
        "online.iterations=1",
        "online.num_samples=8",
        "online.shard_size=4",
        "online.steps=2",
        "online.num_origin_samples=8",
    ]
    return out, main(tiny_text_args(policy, data, rms, out, *online))


def test_trl_builds_labels_from_our_mask(text_run):
    _, result = text_run
    ds = result.trainer.train_dataset
    assert "labels" in ds.column_names
    tok = result.tokenizer
    for row in ds.select(range(5)):
        ids, labels = row["input_ids"], row["labels"]
        first = next(i for i, lab in enumerate(labels) if lab != -100)
        assert all(lab == -100 for lab in labels[:first])
        assert labels[first:] == ids[first:] and ids[-1] == tok.eos_token_id
        assert tok.decode(ids[:first]).endswith("\n\nAssistant:")


def test_checkpoints_and_online_outputs(text_run):
    out, result = text_run
    final = out / "final"
    assert {"adapter_model.safetensors", "adapter_config.json", "reward_stats.json", "ric_config.json"} <= set(
        os.listdir(final)
    )
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in os.listdir(final))
    ckpts = sorted(out.glob("checkpoint-*"))
    assert ckpts and all((c / "reward_stats.json").exists() for c in ckpts)
    stats = RewardStats.load(final)
    assert stats.names == ("harmless", "helpful") and stats.count == 40  # chosen + rejected
    metrics = [json.loads(line) for line in (out / "online" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["generated"] == 8 and 0 < metrics[0]["mors_acceptance"] <= 1
    buffer = [json.loads(line) for line in (out / "online" / "buffer.jsonl").read_text().splitlines()]
    assert buffer and all(isinstance(r["output"], str) and "\n\nHuman:" not in r["output"] for r in buffer)


def test_reload_in_fresh_process_and_generate(text_run, tmp_path):
    out, _ = text_run
    script = textwrap.dedent(f"""
        import json
        from ric_text.generate import TextGenerator
        gen = TextGenerator.from_checkpoint({str(out)!r})
        res = {{}}
        for name, w in (("a", [0.9, 0.1]), ("b", [0.1, 0.9])):
            r = gen(["how do I bake bread?", "tell me a joke."], preference=w, seed=0)
            res[name] = [dict(text=x.text, raw=x.raw, targets=x.targets, prompt=x.prompt) for x in r]
        json.dump(res, open({str(tmp_path / "gen.json")!r}, "w"))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    res = json.loads((tmp_path / "gen.json").read_text())
    stats = RewardStats.load(out / "final")
    for name, w in (("a", [0.9, 0.1]), ("b", [0.1, 0.9])):
        for r in res[name]:
            np.testing.assert_allclose(r["targets"], map_preference(w, stats=stats))
            assert r["prompt"].endswith("\n\nAssistant:")
            assert (
                r["text"]
                == r["raw"]
                .split("\n\nHuman:")[0]
                .split("\nHuman:")[0]
                .split("\n\nAssistant:")[0]
                .split("\nAssistant:")[0]
                .strip()
            )
    assert res["a"][0]["targets"] != res["b"][0]["targets"]


def test_generator_writes_the_mapped_tags(text_run):
    from ric_text.formats import prompt_ids
    from ric_text.generate import TextGenerator

    gen = TextGenerator.from_checkpoint(text_run[0])
    t = gen.targets(1, preference=[0.7, 0.3])[0]
    ids = prompt_ids(gen.tok, "\n\nHuman: hi \n\nAssistant:", t, "assistant")
    text = gen.tok.decode(ids)
    assert f"<rm1_score> {t[0]:.1f} <rm2_score> {t[1]:.1f} \n\nAssistant:" in text
    with pytest.raises(ValueError, match="this model has 2 rewards"):
        gen(["hi"], preference=[1, 0, 0])
    with pytest.raises(ValueError, match="exactly one of"):
        gen(["hi"])


def test_empty_dataset_is_a_clear_error(tmp_path, tiny_text_world):
    policy, _, rms = tiny_text_world
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"chosen": "no marker", "rejected": "none"}) + "\n")
    with pytest.raises(ValueError, match="no usable samples"):
        main(tiny_text_args(policy, bad, rms, tmp_path / "run"))


def test_tiny_preset_with_toy_rewards_and_cli(tmp_path, tiny_text_world, capsys):
    from pathlib import Path

    from ric_text.generate import generate

    policy, data, _ = tiny_text_world
    preset = Path(__file__).parents[1] / "configs" / "text" / "tiny.yaml"
    out = tmp_path / "preset"
    main(["--config", str(preset), f"model.pretrained={policy}", f"data.source={data}", f"train.output_dir={out}"])
    results = generate(["--checkpoint", str(out), "--prompt", "how do I bake bread?", "--preference", "0.3", "0.7"])
    assert len(results) == 1
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(line["targets"]) == {"toy_length", "toy_sentiment"}


@pytest.mark.parametrize(
    "name", ["hh_harmless_helpful", "hh_harmless_helpful_humor", "summary_faithful", "tiny", "../demo/text"]
)
def test_text_presets_load_as_written(name):
    from pathlib import Path

    from helpers import assert_preset_loads_as_written

    from ric_text.config import TextConfig

    cfg = assert_preset_loads_as_written(TextConfig, Path(__file__).parents[1] / "configs" / "text" / f"{name}.yaml")
    assert len(cfg.rewards) >= 2


def test_a_diverging_text_run_stops_before_a_nan_update(tmp_path, tiny_text_world):
    import torch
    from safetensors.torch import load_file

    policy, data, rms = tiny_text_world
    out = tmp_path / "nan"
    args = tiny_text_args(policy, data, rms, out, "train.learning_rate=1e12", "train.max_steps=8", "train.save_steps=1")
    with pytest.raises(ValueError, match=r"training stopped at step \d+: a gradient is not finite"):
        main(args)
    assert sorted(out.glob("checkpoint-*"))  # the steps before the divergence were saved, all finite
    for ckpt in sorted(out.glob("checkpoint-*")):
        assert all(torch.isfinite(t).all() for t in load_file(ckpt / "adapter_model.safetensors").values())


def test_resume_skips_a_checkpoint_cut_short_and_a_finished_run_trains_no_extra_step(tmp_path, tiny_text_world, caplog):
    import torch
    from safetensors.torch import load_file

    policy, data, rms = tiny_text_world
    out = tmp_path / "run"
    main(tiny_text_args(policy, data, rms, out, "train.max_steps=4", "train.save_steps=2"))
    (out / "checkpoint-4" / "trainer_state.json").unlink()  # a kill while the Trainer was writing checkpoint-4
    record = json.loads((out / "checkpoint-2" / "compute.json").read_text())
    (out / "checkpoint-2" / "compute.json").write_text(json.dumps(record | {"wall_time_s": 1000.0}))
    result = main(
        tiny_text_args(policy, data, rms, out, "train.max_steps=4", "train.save_steps=2", "train.resume=latest")
    )
    assert (out / ".incomplete-checkpoint-4").is_dir()  # moved aside, never picked again
    assert result.trainer.state.global_step == 4 and (out / "checkpoint-4" / "trainer_state.json").is_file()
    again = main(
        tiny_text_args(policy, data, rms, out, "train.max_steps=4", "train.save_steps=2", "train.resume=latest")
    )
    assert not (out / "checkpoint-5").exists() and again.trainer.state.global_step == 0  # nothing trained again
    final, last = (
        load_file(out / "final" / "adapter_model.safetensors"),
        load_file(out / "checkpoint-4" / "adapter_model.safetensors"),
    )
    assert final.keys() == last.keys() and all(torch.equal(final[k], last[k]) for k in final)
    compute = json.loads((out / "final" / "compute.json").read_text())
    assert compute["optimizer_steps"] == 4 and 1000 < compute["wall_time_s"] < 2000  # wall time adds up on resume
    # an explicit checkpoint is honoured even when the (new) output folder holds none
    import logging

    with caplog.at_level(logging.INFO, logger="ric_text.checkpoints"):
        moved = main(
            tiny_text_args(
                policy, data, rms, tmp_path / "new", "train.max_steps=4", f"train.resume={out / 'checkpoint-2'}"
            )
        )
    assert f"resuming from {out / 'checkpoint-2'} (step 2 of 4)" in caplog.text
    assert moved.trainer.state.global_step == 4 and not (tmp_path / "new" / "checkpoint-2").exists()
    with pytest.raises(ValueError, match="not a complete ric_text checkpoint"):
        main(tiny_text_args(policy, data, rms, tmp_path / "other", f"train.resume={tmp_path / 'nowhere'}"))


def test_a_checkpoint_cannot_make_the_loader_run_its_code(text_run, tmp_path, tiny_text_world):
    """A crafted checkpoint sets trust_remote_code in its config and points at a base model with custom code:
    loading it runs nothing unless the *caller* asks for remote code."""
    import contextlib
    import shutil

    from ric_text.generate import TextGenerator

    policy = tiny_text_world[0]
    out, _ = text_run
    marker = tmp_path / "ran.txt"
    base = tmp_path / "base"
    shutil.copytree(policy, base)
    (base / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import LlamaForCausalLM\n\nclass EvilLlama(LlamaForCausalLM):\n    pass\n"
    )
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModelForCausalLM": "evil.EvilLlama"}}))
    ckpt = tmp_path / "crafted"
    shutil.copytree(out / "final", ckpt)
    ric = json.loads((ckpt / "ric_config.json").read_text())
    ric["model"] |= {"pretrained": str(base), "trust_remote_code": True}
    (ckpt / "ric_config.json").write_text(json.dumps(ric))
    with contextlib.suppress(ValueError):  # refusing to load is fine too; running the file is not
        TextGenerator.from_checkpoint(ckpt)
    assert not marker.exists()
    TextGenerator.from_checkpoint(ckpt, trust_remote_code=True)  # the user's own flag does run it
    assert marker.read_text() == "ran"


def test_text_statistics_that_do_not_match_are_refused(text_run, tmp_path):
    import shutil

    from ric_text.generate import TextGenerator

    out, _ = text_run
    ckpt = tmp_path / "renamed"
    shutil.copytree(out / "final", ckpt)
    stats = json.loads((ckpt / "reward_stats.json").read_text())
    stats["names"] = [stats["names"][0], "something_else"]
    (ckpt / "reward_stats.json").write_text(json.dumps(stats))
    with pytest.raises(ValueError, match="reward_stats.json does not match the checkpoint's config"):
        TextGenerator.from_checkpoint(ckpt)


def test_samples_longer_than_the_model_are_dropped_and_counted(tmp_path, tiny_text_world):
    policy, data, rms = tiny_text_world
    long_data = tmp_path / "hh_long.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    human = "\n\nHuman: tell me everything about bread."
    rows.append({"chosen": f"{human}\n\nAssistant: " + "bread " * 2000, "rejected": f"{human}\n\nAssistant: no."})
    long_data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    main(tiny_text_args(policy, long_data, rms, out, "data.max_tokens=100000", "train.max_steps=2"))
    report = json.loads((out / "relabel" / "report.json").read_text())
    assert report["skipped"] == {"longer than the model's context": 1}  # the 2,000-word answer (512 positions)
    assert report["samples"] == 2 * len(rows) - 1  # its short sibling still trains
