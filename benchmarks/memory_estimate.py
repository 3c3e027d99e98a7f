"""Expected GPU memory of LoRA training with the SD 1.5, SDXL and SD 3.5 Medium presets, computed (not measured)
from the real architectures on the meta device, until the GPU suite measures it:

    python benchmarks/memory_estimate.py --out docs/memory-estimate.md

Method (stated in the table it writes):
- weights: every parameter of the frozen UNet (SD3: transformer), text encoders (SD3: T5-XXL too) and VAE in
  the preset's dtype (bf16; the SDXL and SD3 VAEs fp32), as ``DiffusionTrainer`` stores them; the LoRA (the
  preset's rank and target modules) and the reward conditioner in fp32, with fp32 gradients and two AdamW
  moments: 16 bytes per trained parameter;
- activations: the UNet's forward at the preset's batch size and latent size, run on the meta device in bf16,
  with autograd's saved-tensor hooks adding up every tensor kept for the backward pass (each tensor once).
  Attention probabilities (B x heads x L x L) are left out: PyTorch's fused SDPA kernels on a GPU do not keep
  them. With gradient checkpointing the kept tensors are what the checkpoints keep, plus the largest single
  block (a ResNet block or one transformer layer; SD3: one joint block; diffusers checkpoints each) recomputed
  during the
  backward pass: twice its tensors (them and their gradients);
- not counted: the CUDA context and allocator slack (typically 0.5-1.5 GiB), cached latents (on the CPU).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ric_diffusion.architectures import on_meta, sd15_components, sd35_medium_components, sdxl_components  # noqa: E402
from ric_diffusion.conditioning import RewardConditioner  # noqa: E402
from ric_diffusion.config import DiffusionConfig  # noqa: E402
from ric_diffusion.models import add_lora  # noqa: E402
from ric_runtime.config import load_config  # noqa: E402

GIB = 2**30
PRESETS = {
    "SD 1.5, 512 px": ("configs/diffusion/sd15_aesthetic_jpeg.yaml", sd15_components),
    "SDXL, 1024 px": ("configs/diffusion/sdxl_aesthetic_jpeg.yaml", sdxl_components),
    "SD 3.5 Medium, 1024 px": ("configs/diffusion/sd35_medium_pickscore_aesthetic.yaml", sd35_medium_components),
}


class SavedBytes:
    """Adds up the bytes of tensors autograd keeps for backward (parameters and attention matrices excluded)."""

    def __init__(self, params: set[int]):
        self.params, self.seen, self.total, self.attention = params, set(), 0, 0

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        if id(t) not in self.params and id(t) not in self.seen:
            self.seen.add(id(t))
            size = t.numel() * t.element_size()
            square = t.dim() >= 3 and t.shape[-1] == t.shape[-2] and t.shape[-1] >= 256
            self.attention += size if square else 0
            self.total += 0 if square else size
        return t


def unet_activations(unet: Any, batch: int, latent: int, text_dim: int, sdxl: bool, checkpointing: bool) -> dict:
    """Bytes kept for backward by one forward of ``unet`` (meta device, bf16), and the largest block's."""
    from diffusers.models.attention import BasicTransformerBlock, JointTransformerBlock
    from diffusers.models.resnet import ResnetBlock2D

    sd3 = type(unet).__name__ == "SD3Transformer2DModel"

    unet.train()
    if checkpointing:
        unet.enable_gradient_checkpointing()
    else:
        unet.disable_gradient_checkpointing()
    counter = SavedBytes({id(p) for p in unet.parameters()})
    largest, starts = [0], {}
    blocks = [m for m in unet.modules() if isinstance(m, (ResnetBlock2D, BasicTransformerBlock, JointTransformerBlock))]
    hooks = [b.register_forward_pre_hook(lambda m, a: starts.__setitem__(id(m), counter.total)) for b in blocks]
    hooks += [
        b.register_forward_hook(lambda m, a, o: largest.__setitem__(0, max(largest[0], counter.total - starts[id(m)])))
        for b in blocks
    ]
    kw = dict(device="meta", dtype=torch.bfloat16)
    x = torch.randn(batch, unet.config.in_channels, latent, latent, requires_grad=True, **kw)
    tokens = 77 + (256 if sd3 else 0) + 2  # CLIP (+ SD3's T5) tokens + 2 reward tokens
    states = torch.randn(batch, tokens, text_dim, **kw)
    added = {"text_embeds": torch.randn(batch, 1280, **kw), "time_ids": torch.randn(batch, 6, **kw)} if sdxl else None
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t):
        if sd3:
            pooled = torch.randn(batch, unet.config.pooled_projection_dim, **kw)
            unet(
                hidden_states=x,
                encoder_hidden_states=states,
                pooled_projections=pooled,
                timestep=torch.ones(batch, **kw),
            )
        else:
            unet(x, torch.ones(batch, **kw), encoder_hidden_states=states, added_cond_kwargs=added)
    for h in hooks:
        h.remove()
    return {"kept": counter.total, "largest_block": largest[0], "attention_left_out": counter.attention}


def estimate(name: str, preset: str, build: Any, checkpointing: bool | None = None) -> dict[str, Any]:
    cfg = load_config(DiffusionConfig, preset)
    comps = on_meta(build)
    frozen_bytes = 0
    for m in comps.frozen:
        fp32 = comps.pooled and m is comps.vae
        frozen_bytes += sum(p.numel() for p in m.parameters()) * (4 if fp32 else 2)
    with torch.device("meta"):
        comps.unet.to(torch.bfloat16)
        lora = sum(p.numel() for p in add_lora(comps.unet, cfg.lora))
        cond = sum(p.numel() for p in RewardConditioner(2, comps.text_dim, cfg.conditioning).parameters())
    ckpt = cfg.train.gradient_checkpointing if checkpointing is None else checkpointing
    b, latent = cfg.train.batch_size, cfg.data.resolution // 8
    plain = unet_activations(comps.unet, b, latent, comps.text_dim, comps.is_sdxl, False)
    act = unet_activations(comps.unet, b, latent, comps.text_dim, comps.is_sdxl, True) if ckpt else plain
    # checkpointing: one block at a time is recomputed in the backward pass, its activations and their gradients
    block = 2 * plain["largest_block"] if ckpt else 0
    trained = 16 * (lora + cond)  # fp32 weights, gradients and two AdamW moments
    total = frozen_bytes + trained + act["kept"] + block
    return {
        "setting": f"{name}, batch {b}, LoRA rank {cfg.lora.rank}, "
        + ("checkpointing" if ckpt else "no checkpointing"),
        "frozen weights": frozen_bytes / GIB,
        "LoRA + conditioner + AdamW": trained / GIB,
        "activations kept": act["kept"] / GIB,
        "recomputed block": block / GIB,
        "total": total / GIB,
        "attention matrices (not kept by fused SDPA)": plain["attention_left_out"] / GIB,
    }


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(r[k] if isinstance(r[k], str) else f"{r[k]:.2f} GiB" for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the table (markdown) here as well")
    args = ap.parse_args(argv)
    rows = []
    for name, (preset, build) in PRESETS.items():
        rows += [estimate(name, preset, build, True), estimate(name, preset, build, False)]
    text = table(rows)
    print(text)
    if args.out:
        method = __doc__.split("Method (stated in the table it writes):")[1].strip()
        when = datetime.date.today().isoformat()
        body = f"# Expected training memory (computed, {when})\n\nWritten by `python benchmarks/memory_estimate.py"
        body += f" --out {args.out}`.\n\n{text}\n\nMethod:\n{method}\n"
        Path(args.out).write_text(body)


if __name__ == "__main__":
    main()
