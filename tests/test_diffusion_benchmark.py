"""ric_diffusion.benchmark on the tiny SD: soups, a RiC checkpoint, the base model, resume and the summary."""

import json

import numpy as np
import pytest
from helpers import tiny_train_args

from ric_core.pareto import hypervolume
from ric_diffusion.benchmark import RiCModel, SoupModel, run
from ric_diffusion.train import train


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_sd_dir, image_folder):
    root = tmp_path_factory.mktemp("bench_runs")
    out = {}
    for name, extra in (
        ("ric", []),
        ("a", ["conditioning.strategy=none", "train.seed=1"]),
        ("b", ["conditioning.strategy=none", "train.seed=2"]),
    ):
        train(tiny_train_args(tiny_sd_dir, image_folder, root / name, "train.learning_rate=5e-2", *extra))
        out[name] = root / name
    return out


def test_soup_at_a_vertex_is_that_lora_exactly(runs):
    prompts, seeds = ["a red square", "a blue circle"], [3, 4]
    soup = SoupModel([runs["a"], runs["b"]])
    alone, _ = RiCModel(runs["a"]).generate(prompts, [1.0, 0.0], seeds)
    mixed, targets = soup.generate(prompts, [1.0, 0.0], seeds)
    assert targets is None
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(alone, mixed, strict=True))
    other, _ = RiCModel(runs["b"]).generate(prompts, [0.0, 1.0], seeds)
    assert any(not np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(alone, other, strict=True))
    half, _ = soup.generate(prompts, [0.5, 0.5], seeds)
    assert any(not np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(alone, half, strict=True))
    assert soup.compute()["runs"] == 2 and soup.compute()["samples"] > 0


def test_benchmark_end_to_end_and_resume(runs, tiny_sd_dir, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red square\n\na blue circle\n")
    out = tmp_path / "bench"
    args = [
        "--model",
        f"ric={runs['ric']}",
        "--model",
        f"soup=soup:{runs['a']},{runs['b']}",
        "--model",
        f"base={tiny_sd_dir}",
        "--rewards",
        "toy_brightness",
        "jpeg_compressibility",
        "--prompts",
        str(prompts),
        "--steps",
        "2",
        "--seeds",
        "0",
        "--out",
        str(out),
    ]
    summary = run(args)
    assert set(summary["models"]) == {"ric", "soup", "base"}
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 11 * 2
    for _name, m in summary["models"].items():
        means = np.array([[p["mean"][k] for k in summary["reward_names"]] for p in m["preferences"].values()])
        assert m["hypervolume"] == pytest.approx(hypervolume(means, summary["reference_point"]), abs=1e-5)
    assert summary["models"]["base"].get("compute") is None and summary["models"]["ric"]["compute"]["samples"] > 0
    assert (out / "pareto.png").stat().st_size > 0 and len(list((out / "grids").glob("*.png"))) == 11
    ric_row = next(r for r in rows[1:] if r.startswith("ric,"))
    assert "toy_brightness" in ric_row  # RiC rows carry their raw targets
    # resume: drop the last 10 rows, rerun, and only those cells are regenerated
    (out / "results.csv").write_text("\n".join(rows[:-10]) + "\n")
    again = run(args)
    assert (out / "results.csv").read_text().splitlines()[:-10] == rows[:-10]
    assert json.dumps(again["models"]["ric"]["hypervolume"]) == json.dumps(summary["models"]["ric"]["hypervolume"])


def test_bad_model_spec_is_named(tmp_path):
    with pytest.raises(ValueError, match="NAME=SPEC"):
        run(["--model", "runs/x", "--rewards", "toy_brightness", "--out", str(tmp_path)])


def test_reward_filtered_sft_runs_per_preference(tiny_sd_dir, image_folder, tmp_path):
    from ric_diffusion.benchmark import per_preference_model
    from ric_diffusion.reward_filtered_sft import run as morlhf

    out = tmp_path / "morlhf"
    args = tiny_train_args(tiny_sd_dir, image_folder, tmp_path / "unused", "train.max_steps=2")
    ckpts = morlhf(
        ["--preferences", "1,0", "0,1", "--pool-size", "8", "--quantile", "0.5", "--out", str(out), "--", *args]
    )
    assert set(ckpts) == {"1,0", "0,1"}
    scores = json.loads((out / "pool" / "scores.json").read_text())
    raw = np.array(scores["raw"])
    for key, ckpt in ckpts.items():
        meta = json.loads((ckpt.parent / "preference.json").read_text())
        assert meta["kept"] == 4 and meta["pool"] == 8 and "not RL" in meta["method"]
        kept = [json.loads(line)["file_name"] for line in (ckpt.parent / "data" / "metadata.jsonl").open()]
        k = 0 if key == "1,0" else 1  # the kept half holds the pool's best on the weighted reward
        best = sorted(range(8), key=lambda i: -raw[i, k])[:4]
        assert sorted(kept) == sorted(f"{i:06d}.png" for i in best)
        compute = json.loads((ckpt / "compute.json").read_text())
        assert compute["generated_samples"] >= 8 and compute["unet_forward_generation"] == 8 * 4 * 2
        assert json.loads((ckpt / "ric_config.json").read_text())["conditioning"]["strategy"] == "none"
        report = json.loads((ckpt.parent / "relabel" / "report.json").read_text())
        assert report["scored_now"] == 0 and report["from_cache"] == 4  # the pool's scores are reused
    model = per_preference_model(out)
    assert model.covers([1.0, 0.0]) and not model.covers([0.5, 0.5])
    images, targets = model.generate(["a red square"], [0.0, 1.0], [0])
    assert len(images) == 1 and targets is None
    again = ["--preferences", "1,0", "--pool-size", "8", "--out", str(out)]  # finished: reused as it is
    assert morlhf([*again, "--quantile", "0.5", "--", *args])["1,0"] == ckpts["1,0"]
    with pytest.raises(ValueError, match="other settings"):  # a changed setting: refused, not reused stale
        morlhf([*again, "--quantile", "0.25", "--", *args])


def test_a_spec_sweeps_one_checkpoint_under_other_inference_settings(runs):
    """``CKPT?mapping=l2&target_range=reference``: the same weights, other targets (the mapping study's specs)."""
    import warnings

    from ric_diffusion.benchmark import load_model

    plain = load_model(str(runs["ric"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference range leaves the data's: warned, and expected here
        ref = load_model(f"{runs['ric']}?mapping=l2&target_range=reference")
        assert ref.pipe.config.inference.mapping == "l2" and ref.pipe.config.inference.target_range == "reference"
        _, t_plain = plain.generate(["a red square"], [1.0, 0.0], [0])
        _, t_ref = ref.generate(["a red square"], [1.0, 0.0], [0])
    assert t_plain != t_ref
    projected = load_model(f"{runs['ric']}?mapping=linf&project=true")
    stats = projected.pipe.stats
    _, t_proj = projected.generate(["a red square"], [0.5, 0.5], [0])
    seen = {tuple(row) for row in stats.support_z.round(1).tolist()}  # reward vectors of the training data
    z = stats.normalize(np.array([[t_proj[n] for n in stats.names]]))[0].round(1) + 0.0
    assert tuple(z.tolist()) in seen
    with pytest.raises(ValueError, match="unknown inference setting"):
        load_model(f"{runs['ric']}?mappin=l2")
    with pytest.raises(ValueError, match="inference.mapping"):
        load_model(f"{runs['ric']}?mapping=bogus")
