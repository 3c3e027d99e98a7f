"""benchmarks/memory_estimate.py on the real SD 1.5, SDXL and SD 3.5 Medium architectures (meta device: seconds,
no memory)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_the_memory_table_is_computed_from_the_architectures(tmp_path):
    import memory_estimate

    from ric_diffusion.architectures import on_meta, parameter_counts, sd15_components

    memory_estimate.main(["--out", str(tmp_path / "memory.md")])
    text = (tmp_path / "memory.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| SD")]
    assert len(rows) == 6 and "Method:" in text
    sd15 = sum(parameter_counts(on_meta(sd15_components)).values())
    assert sd15 / 1e9 > 1.0  # UNet 860M + VAE 84M + text encoder 123M
    cells = {r.split(" | ")[0].removeprefix("| "): [float(c.split()[0]) for c in r.split(" | ")[1:]] for r in rows}
    ckpt, plain = (
        cells["SD 1.5, 512 px, batch 8, LoRA rank 32, checkpointing"],
        cells["SD 1.5, 512 px, batch 8, LoRA rank 32, no checkpointing"],
    )
    assert abs(ckpt[0] - 2 * sd15 / 2**30) < 0.01  # frozen weights in bf16
    assert ckpt[4] < plain[4]  # checkpointing saves memory
    sdxl = cells["SDXL, 1024 px, batch 4, LoRA rank 32, checkpointing"]
    assert sdxl[0] > 3 * ckpt[0]  # SDXL's UNet and second text encoder
    sd35 = cells["SD 3.5 Medium, 1024 px, batch 4, LoRA rank 32, checkpointing"]
    assert sd35[0] > 2 * sdxl[0] * 0.9  # T5-XXL (4.8B parameters) dominates the frozen weights
