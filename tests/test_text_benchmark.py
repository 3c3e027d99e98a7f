"""ric_text.morlhf (GRPO) and ric_text.benchmark on a tiny Llama: soups, per-preference runs, resume."""

import json

import numpy as np
import pytest
import torch
from helpers import tiny_text_args

from ric_eval.table import ResultsTable
from ric_text.benchmark import RiCTextModel, TextSoupModel, run
from ric_text.morlhf import run as morlhf
from ric_text.train import train


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory, tiny_text_world):
    policy, data, rms = tiny_text_world
    root = tmp_path_factory.mktemp("text_bench")
    train(tiny_text_args(policy, data, rms, root / "ric"))
    args = tiny_text_args(policy, data, rms, root / "unused", "train.learning_rate=5e-2", "generation.max_new_tokens=6")
    finals = morlhf(grpo_command(root, args, steps=2))
    return root, finals, args


def grpo_command(root, args, steps):
    out = str(root / "morlhf")
    return ["--preferences", "1,0", "0,1", "--steps", str(steps), "--num-generations", "4", "--out", out, "--", *args]


def test_a_finished_grpo_run_is_reused_by_the_same_command_and_refused_by_another(text_runs):
    root, finals, args = text_runs
    stamps = {k: (f / "compute.json").stat().st_mtime_ns for k, f in finals.items()}
    again = morlhf(grpo_command(root, args, steps=2))  # would take seconds and rewrite compute.json if retrained
    assert again == finals and {k: (f / "compute.json").stat().st_mtime_ns for k, f in again.items()} == stamps
    with pytest.raises(ValueError, match="other settings"):
        morlhf(grpo_command(root, args, steps=3))
    for final in finals.values():  # runs finished before done.json existed: adopted, not trained again
        (final.parent / "done.json").unlink()
    assert morlhf(grpo_command(root, args, steps=2)) == finals
    assert all((f.parent / "done.json").is_file() for f in finals.values())
    assert {k: (f / "compute.json").stat().st_mtime_ns for k, f in finals.items()} == stamps


@pytest.mark.e2e
def test_grpo_runs_record_preference_and_compute(text_runs):
    root, finals, _ = text_runs
    assert set(finals) == {"1,0", "0,1"}
    for key, final in finals.items():
        meta = json.loads((final.parent / "preference.json").read_text())
        assert meta["preference"] == [float(x) for x in key.split(",")] and "GRPO" in meta["method"]
        compute = json.loads((final / "compute.json").read_text())
        assert compute["optimizer_steps"] == 2 and compute["samples"] == 8 and compute["wall_time_s"] > 0
    ric_compute = json.loads((root / "ric" / "final" / "compute.json").read_text())
    assert ric_compute["optimizer_steps"] == 4 and ric_compute["samples"] == 16


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_text_soup_at_a_vertex_is_that_lora(text_runs):
    _, finals, _ = text_runs
    soup = TextSoupModel([str(finals["1,0"]), str(finals["0,1"])])
    first, second = RiCTextModel(str(finals["1,0"])), RiCTextModel(str(finals["0,1"]))
    ids = torch.tensor([[1, 5, 9, 13, 17, 21]])
    soup.set_weights([1.0, 0.0])
    at_vertex = _logits(soup.model, ids)
    assert torch.allclose(at_vertex, _logits(first.gen.model, ids), atol=1e-5)
    assert not torch.allclose(_logits(second.gen.model, ids), _logits(first.gen.model, ids), atol=1e-4)
    soup.set_weights([0.5, 0.5])
    assert not torch.allclose(_logits(soup.model, ids), at_vertex, atol=1e-5)


def test_text_benchmark_end_to_end_and_resume(text_runs, tiny_text_world, tmp_path):
    root, finals, _ = text_runs
    policy, _, rms = tiny_text_world
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": q}) + "\n" for q in ["how do I bake bread?", "tell me a joke."]))
    out = tmp_path / "bench"
    rewards = [json.dumps({"name": n, "path": str(d)}) for n, d in zip(["harmless", "helpful"], rms, strict=True)]
    args = [
        "--model",
        f"ric={root / 'ric'}",
        "--model",
        f"soup=soup:{finals['1,0']},{finals['0,1']}",
        "--model",
        f"morlhf=per-preference:{root / 'morlhf'}",
        "--model",
        f"base={policy}",
        "--rewards",
        *rewards,
        "--prompts",
        str(prompts),
        "--out",
        str(out),
        "--batch-size",
        "8",
    ]
    summary = run(args)
    s = summary["models"]
    assert len(s["ric"]["preferences"]) == 11 and set(s["morlhf"]["preferences"]) == {"1,0", "0,1"}
    assert s["soup"]["compute"]["runs"] == 2 and s["morlhf"]["compute"]["samples"] == 16
    assert s["base"]["compute"] is None
    table = ResultsTable(out / "results.csv", summary["reward_names"])
    rows = table.rows()  # outputs may hold newlines: count CSV records, not lines
    assert len(rows) == (11 + 11 + 2 + 11) * 2
    assert (out / "pareto.png").exists() and "| ric |" in (out / "samples.md").read_text()
    means = np.array([[p["mean"][n] for n in summary["reward_names"]] for p in s["ric"]["preferences"].values()])
    from ric_core.pareto import hypervolume

    assert s["ric"]["hypervolume"] == pytest.approx(hypervolume(means, summary["reference_point"]), abs=1e-5)
    table.path.unlink()
    table.append([{k: v for k, v in r.items()} for r in rows[:-3]])
    run(args)
    again = table.rows()
    assert len(again) == len(rows) and again[:-3] == rows[:-3]
