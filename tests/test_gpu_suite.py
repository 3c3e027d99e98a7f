"""benchmarks/gpu_suite.py in its CPU mode: every section runs at toy sizes and reports its figures and goals,
so the script is ready the day a GPU is lent (the real run is `--device cuda`, see benchmarks/README.md)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_suite_tiny_runs_every_section(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "gpu_suite.py"),
        "--tiny",
        "--device",
        "cpu",
        "--reps",
        "1",
        "--profile",
        "--out",
        str(tmp_path),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    sections = results["sections"]
    assert set(sections) == {"sd15_training", "sdxl_training", "sd35m_training", "generation", "scoring", "llm"}
    assert not [name for name, s in sections.items() if "error" in s], sections
    assert sections["sdxl_training"]["checkpointing_cached_samples_per_s"] > 0  # the real trainer on (tiny) SDXL
    sd3 = sections["sd35m_training"]  # the real trainer on (tiny) SD3, cached vs encoding T5 every step
    assert sd3["t5_cache_speedup"] == round(sd3["plain_cached_samples_per_s"] / sd3["recipe_samples_per_s"], 3)
    s = sections["sd15_training"]
    assert s["plain_gflops_per_step"] > 0 and s["train_speedup"] > 0  # FLOPs counted from a real step
    assert s["train_speedup"] == round(s["plain_cached_samples_per_s"] / s["recipe_samples_per_s"], 3)
    assert {g["figure"] for g in results["goals"]} == {
        "train_speedup",
        "train_mfu",
        "generation_overhead",
        "reward_guidance_cost",
        "scoring_speedup",
        "llm_batched_speedup",
    }
    for name in (
        "profile_sd15_train_step.txt",
        "profile_sd35m_train_step.txt",
        "profile_generation.txt",
    ):  # what dominates, op by op
        assert "Self CPU" in (tmp_path / name).read_text()
    md = (tmp_path / "results.md").read_text()
    assert "| goal | value | target | met |" in md and "llm_batched_speedup" in md
