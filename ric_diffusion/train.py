"""Offline RiC training of a Stable Diffusion LoRA under accelerate.

    accelerate launch -m ric_diffusion.train --config configs/diffusion/sd15_aesthetic_jpeg.yaml train.max_steps=2000

Stages: read records -> relabel with the rewards (cached) -> reward statistics -> cache latents and
text states -> train LoRA + reward conditioner on the cached tensors -> checkpoints. Every stage is
resumable: rerunning the command skips what is done, and ``train.resume=latest`` continues training.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers.training_utils import cast_training_params
from torch import nn
from tqdm.auto import tqdm

from ric_core.stats import RewardStats
from ric_diffusion.checkpoint import (
    checkpoint_dirs,
    load_state_dict,
    load_training_state,
    resolve_checkpoint,
    save_state_dict,
    save_training_state,
    write_checkpoint,
)
from ric_diffusion.conditioning import RewardConditioner
from ric_diffusion.config import DiffusionConfig
from ric_diffusion.hardware import check_accelerators, frozen_dtype, precision
from ric_diffusion.latent_cache import TrainCache, cached_tensors
from ric_diffusion.models import (
    Components,
    add_lora,
    flux_forward,
    load_components,
    load_lora_into,
    save_lora,
)
from ric_diffusion.objective import conditioning_rows, noisy_input
from ric_diffusion.prompt_pool import is_prompt_list, prompt_pool
from ric_diffusion.relabel import prepare_offline_data
from ric_eval.compute import compute_record
from ric_runtime.checkpoints import CONFIG_FILE
from ric_runtime.config import check_launch, console, parse_cli, to_dict
from ric_runtime.io import atomic_write_json

logger = logging.getLogger("ric_diffusion.train")


@dataclass
class TrainResult:
    accelerator: Accelerator
    comps: Components
    conditioner: RewardConditioner
    output_dir: Path
    last_checkpoint: Path | None
    losses: list[float] = field(default_factory=list)


class ConditionedUNet(nn.Module):
    """UNet + reward conditioner as one module, so DDP/DeepSpeed/FSDP wrap a single model."""

    def __init__(self, unet: nn.Module, conditioner: RewardConditioner):
        super().__init__()
        self.unet, self.conditioner = unet, conditioner

    def forward(self, noisy, timesteps, states, rewards, drop_rewards, added=None) -> torch.Tensor:
        cond = self.conditioner(states, rewards, drop_rewards)  # (B, L(+K), D)
        if type(self.unet).__name__ == "FluxTransformer2DModel":  # packed latents, position ids, distilled guidance
            return flux_forward(self.unet, noisy, timesteps, cond, added["pooled_projections"])
        if added is not None and "pooled_projections" in added:  # SD3's transformer: (B, P) pooled projection
            return self.unet(
                hidden_states=noisy, timestep=timesteps, encoder_hidden_states=cond, **added, return_dict=False
            )[0]
        # added: SDXL's {"text_embeds": (B, P), "time_ids": (B, 6)}; None for SD 1.x/2.x
        return self.unet(noisy, timesteps, encoder_hidden_states=cond, added_cond_kwargs=added).sample


class DiffusionTrainer:
    """Holds the models, optimizer and accelerator; ``fit`` trains on a ``TrainCache`` for some steps."""

    def __init__(self, cfg: DiffusionConfig, accelerator: Accelerator, comps: Components, stats: RewardStats):
        self.cfg, self.acc, self.comps, self.stats = cfg, accelerator, comps, stats
        tc = cfg.train
        self.out = Path(tc.output_dir)
        self.conditioner = RewardConditioner(stats.num_rewards, comps.text_dim, cfg.conditioning)
        if tc.gradient_checkpointing:
            comps.unet.enable_gradient_checkpointing()
        if tc.enable_xformers and torch.cuda.is_available():
            comps.unet.enable_xformers_memory_efficient_attention()
        # diffusers' LoRA recipe: frozen weights in the training dtype (half the memory of fp32 under autocast),
        # the trained LoRA and conditioner in fp32 (their updates are too small for half precision)
        self.weight_dtype = frozen_dtype(accelerator)
        for frozen in comps.frozen:
            # SDXL's VAE overflows in fp16 (diffusers keeps it, and SD3's, in fp32); it only runs to cache and sample
            keep = comps.pooled and frozen is comps.vae  # SDXL's and SD3's VAEs stay fp32
            frozen.to(accelerator.device)
            if not keep and self.weight_dtype != torch.float32:
                frozen.to(dtype=self.weight_dtype)
        lora_params = add_lora(comps.unet, cfg.lora)
        cast_training_params(comps.unet, dtype=torch.float32)
        self.params = lora_params + list(self.conditioner.parameters())
        self.optimizer = self._make_optimizer()
        from diffusers.optimization import get_scheduler

        self.lr_scheduler = get_scheduler(
            tc.lr_scheduler, self.optimizer, num_warmup_steps=tc.lr_warmup_steps, num_training_steps=tc.max_steps
        )
        self.model, self.optimizer, self.lr_scheduler = accelerator.prepare(
            ConditionedUNet(comps.unet, self.conditioner), self.optimizer, self.lr_scheduler
        )
        self.ema = None
        if tc.ema:
            from diffusers.training_utils import EMAModel

            self.ema = EMAModel(self.params, decay=tc.ema_decay)
        self.step = 0
        self.seed = tc.seed  # data order and noise; the online stage offsets it per iteration
        self.total_steps = 0  # optimizer steps over all stages, for the compute record
        self.generated = 0  # online generations, for the compute record
        self.start_time = time.time()

    def reset_optimizer(self, learning_rate: float) -> None:
        """A fresh AdamW at a constant rate (the online stage), keeping the same adapter."""
        from diffusers.optimization import get_scheduler

        opt = self._make_optimizer(learning_rate)  # the saved config keeps what the user asked for
        self.optimizer = self.acc.prepare(opt)
        self.lr_scheduler = self.acc.prepare(get_scheduler("constant", self.optimizer))

    def _make_optimizer(self, learning_rate: float | None = None) -> torch.optim.Optimizer:
        tc = self.cfg.train
        opt_cls = torch.optim.AdamW
        if tc.use_8bit_adam:
            if not torch.cuda.is_available():
                raise ValueError("train.use_8bit_adam needs CUDA (bitsandbytes); set it to false on CPU")
            import bitsandbytes as bnb

            opt_cls = bnb.optim.AdamW8bit
        return opt_cls(
            self.params,
            lr=tc.learning_rate if learning_rate is None else learning_rate,
            betas=(tc.adam_beta1, tc.adam_beta2),
            weight_decay=tc.adam_weight_decay,
            eps=tc.adam_epsilon,
        )

    # ---- data order: a seeded permutation per epoch, so a resumed run sees the same batches -----
    def batch_indices(self, micro_step: int, n: int) -> np.ndarray:
        b, world, rank = self.cfg.train.batch_size, self.acc.num_processes, self.acc.process_index
        pos = micro_step * b * world + rank * b + np.arange(b)
        epochs, offsets = pos // n, pos % n
        perms = {e: np.random.default_rng([self.seed, int(e)]).permutation(n) for e in np.unique(epochs)}
        return np.array([perms[e][o] for e, o in zip(epochs, offsets, strict=True)])

    def _generator(self, micro_step: int) -> torch.Generator:
        # one stream per micro-step for the whole global batch (every rank draws it and keeps its rows), so a
        # sample's noise, timestep and dropout do not depend on the number of processes
        seq = np.random.SeedSequence([self.seed, micro_step, 0])
        return torch.Generator().manual_seed(int(seq.generate_state(1)[0]))

    def loss_on(self, cache: TrainCache, idx: np.ndarray, gen: torch.Generator) -> torch.Tensor:
        """Denoising loss of one micro-batch; condition dropout as configured."""
        dev, cc, sched = self.acc.device, self.cfg.conditioning, self.comps.noise_scheduler
        ii = torch.as_tensor(idx)
        mean, std = cache.latent_mean[ii], cache.latent_std[ii]
        b, rank = len(idx), self.acc.process_index
        g, mine = b * self.acc.num_processes, slice(rank * b, (rank + 1) * b)  # global batch, this rank's rows
        latents = mean + std * torch.randn((g, *mean.shape[1:]), generator=gen)[mine]
        noise = torch.randn((g, *mean.shape[1:]), generator=gen)[mine]
        noisy, t, target = noisy_input(sched, latents, noise, gen, g, mine)
        drop_all = (torch.rand(g, generator=gen) < cc.drop_prob)[mine]
        drop_rew = (torch.rand(g, generator=gen) < cc.reward_drop_prob)[mine]
        states, added = conditioning_rows(cache, ii, drop_all, drop_rew, self.conditioner.strategy == "text")
        added = None if added is None else {k: v.to(dev) for k, v in added.items()}
        pred = self.model(
            noisy.to(dev), t.to(dev), states.to(dev), cache.rewards[ii].to(dev), (drop_all | drop_rew).to(dev), added
        )
        return F.mse_loss(pred.float(), target.to(dev).float())

    def fit(
        self, cache: TrainCache, until_step: int, desc: str = "train", checkpoints: bool = True, on_step: Any = None
    ) -> list[float]:
        """Optimizer steps from ``self.step`` to ``until_step`` on ``cache``, with periodic checkpoints."""
        tc, losses = self.cfg.train, []
        accum = tc.gradient_accumulation_steps
        bar = tqdm(total=until_step, initial=self.step, desc=desc, disable=not self.acc.is_main_process)
        while self.step < until_step:
            for micro in range(accum):
                micro_step = self.step * accum + micro
                with self.acc.accumulate(self.model):
                    loss = self.loss_on(cache, self.batch_indices(micro_step, len(cache)), self._generator(micro_step))
                    self.stop_if_not_finite("loss", loss)
                    self.acc.backward(loss)
                    if self.acc.sync_gradients:
                        self.stop_if_not_finite(
                            "gradient norm", self.acc.clip_grad_norm_(self.params, tc.max_grad_norm)
                        )
                    self.optimizer.step()
                    self.lr_scheduler.step()
                    self.optimizer.zero_grad()
            self.step += 1
            self.total_steps += 1
            if on_step is not None:
                on_step(self.step)
            if self.ema is not None:
                self.ema.step(self.params)
            losses.append(float(loss.detach()))
            bar.update(1)
            if self.step % tc.log_every == 0 or self.step == until_step:
                self.acc.log({"loss": losses[-1], "lr": self.lr_scheduler.get_last_lr()[0]}, step=self.step)
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
            if tc.sample_every and self.step % tc.sample_every == 0:
                self.log_samples()
            if checkpoints and self.step % tc.checkpoint_every == 0 and self.step != until_step:
                self.save()
        bar.close()
        return losses

    # ---- checkpoints ----------------------------------------------------------------------------
    def compute_record(self) -> dict[str, Any]:
        tc, inf = self.cfg.train, self.cfg.inference
        record = compute_record(
            self.total_steps,
            tc.batch_size,
            tc.gradient_accumulation_steps,
            self.acc.num_processes,
            self.generated,
            self.start_time,
        )
        branches = 2 if inf.guidance_scale > 1 else 1  # the online stage samples with CFG, no reward guidance
        return record | {"unet_forward_generation": self.generated * inf.num_inference_steps * branches}

    def write_weights(self, d: Path) -> None:
        """LoRA + conditioner into folder ``d``."""
        save_lora(self.acc.unwrap_model(self.model).unet, d)
        self.conditioner.save(d)

    def write_meta(self, d: Path) -> None:
        """Statistics, resolved config and compute record into folder ``d``."""
        self.stats.save(d / "reward_stats.json")
        atomic_write_json(d / CONFIG_FILE, to_dict(self.cfg))
        atomic_write_json(d / "compute.json", self.compute_record())

    def load_weights(self, d: Path) -> None:
        from safetensors.torch import load_file

        load_lora_into(self.acc.unwrap_model(self.model).unet, d)
        self.conditioner.load_state_dict(load_file(d / "conditioner.safetensors"))

    def stop_if_not_finite(self, what: str, value: torch.Tensor | None) -> None:
        """Stop before a non-finite loss or gradient reaches the weights: the newest checkpoint stays the last
        finite one, and nothing non-finite is ever saved."""
        if value is not None and not torch.isfinite(value).all():
            raise ValueError(
                f"training stopped at step {self.step + 1}: the {what} is {float(value)}; no update of that step was "
                f"applied or saved, and the newest checkpoint in {self.out} is the last finite one. Lower "
                f"train.learning_rate (now {self.optimizer.param_groups[0]['lr']:g}) or check the data"
            )

    def save(self) -> Path:
        """Write checkpoint-<step> (main process), wait for every process; returns its folder on every rank."""
        for p in self.params:  # never write non-finite weights (a finite loss can follow an overflowed update)
            self.stop_if_not_finite("adapter weight", p.detach().abs().max())
        self.acc.wait_for_everyone()
        path = None
        if self.acc.is_main_process:
            weights, meta = self.write_weights, self.write_meta

            def state(d: Path) -> None:
                save_training_state(d, self.step, self.optimizer, self.lr_scheduler, {})
                if self.ema is not None:
                    save_state_dict(self.ema.state_dict(), d / "training_state", "ema")
                    (d / "ema").mkdir()
                    self.ema.store(self.params)
                    self.ema.copy_to(self.params)
                    weights(d / "ema")
                    self.ema.restore(self.params)

            path = write_checkpoint(self.out, self.step, [weights, meta, state], self.cfg.train.checkpoints_total_limit)
        self.acc.wait_for_everyone()
        return path or self.out / f"checkpoint-{self.step}"  # every rank gets the folder the main one wrote

    def resume(self, where: str) -> bool:
        """Restore from ``where`` ("latest" or a folder); False when "latest" finds nothing."""
        if where == "latest" and not checkpoint_dirs(self.out):
            logger.info("train.resume=latest: no checkpoint in %s yet, starting fresh", self.out)
            return False
        ckpt = resolve_checkpoint(self.out if where == "latest" else where)
        saved = RewardStats.load(ckpt / "reward_stats.json")
        if saved.names != self.stats.names:
            raise ValueError(
                f"{ckpt} was trained on rewards {list(saved.names)}, this config has {list(self.stats.names)}; "
                "resume with the same rewards in the same order, or use a new train.output_dir"
            )
        self.load_weights(ckpt)
        info = load_training_state(ckpt, self.optimizer, self.lr_scheduler)
        if self.ema is not None:
            self.ema.load_state_dict(load_state_dict(ckpt / "training_state", "ema"))
        self.step = int(info["step"])
        compute = json.loads((ckpt / "compute.json").read_text())
        self.total_steps, self.generated = compute["optimizer_steps"], compute.get("generated_samples", 0)
        self.start_time = time.time() - compute.get("wall_time_s", 0.0)  # wall time adds up over resumed runs
        logger.info("resumed from %s at step %d", ckpt, self.step)
        return True

    def log_samples(self) -> None:
        """Sample images for a few preferences into the trackers, captioned by their targets."""
        if not self.acc.is_main_process or self.cfg.train.report_to != "tensorboard":
            return
        from ric_diffusion.pipeline import RiCDiffusionPipeline

        pipe = RiCDiffusionPipeline(self.comps, self.conditioner, self.stats, self.cfg)
        writer = self.acc.get_tracker("tensorboard", unwrap=True)
        k = self.stats.num_rewards
        for w in np.eye(k).tolist() + [[1.0 / k] * k]:
            out = pipe(
                self.cfg.train.sample_prompts,
                preference=w,
                num_inference_steps=self.cfg.train.sample_steps,
                seed=0,
                output_type="np",
            )
            tag = "samples/targets_" + "_".join(f"{t:+.1f}" for t in out.targets)
            writer.add_images(tag, np.stack(out.images), self.step, dataformats="NHWC")


def run(cfg: DiffusionConfig) -> TrainResult:
    tc = cfg.train
    out = Path(tc.output_dir)
    acc = Accelerator(
        gradient_accumulation_steps=tc.gradient_accumulation_steps,
        mixed_precision=precision(tc.mixed_precision),
        log_with=None if tc.report_to == "none" else tc.report_to,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )
    check_launch(acc.num_processes)  # before hours of relabelling and caching
    if acc.mixed_precision == "fp16" and acc.device.type == "cpu":
        logger.warning("mixed precision fp16 does nothing on a CPU: this run trains in fp32 (bf16 works on CPUs)")
    check_accelerators(tc)
    comps = load_components(cfg.model)
    data_cfg = prompt_pool(cfg, comps, acc) if is_prompt_list(cfg.data.source) else cfg  # reads the pool
    source, records, raw, stats = prepare_offline_data(data_cfg, acc)
    set_seed(tc.seed)  # LoRA and conditioner initialisation (whether or not a pool was generated first)
    trainer = DiffusionTrainer(cfg, acc, comps, stats)
    cache = cached_tensors(data_cfg, acc, comps, trainer.conditioner, source, records, stats.normalize(raw))
    if tc.report_to != "none":
        acc.init_trackers("ric_diffusion", config={k: str(v) for k, v in to_dict(cfg).items()})
    resume = tc.resume or ("latest" if cfg.online.iterations else None)  # online runs always continue
    if resume:
        trainer.resume(resume)
    losses = trainer.fit(cache, tc.max_steps) if trainer.step < tc.max_steps else []
    last = trainer.save() if trainer.step == tc.max_steps else resolve_checkpoint(out)
    if cfg.online.iterations:
        from ric_diffusion.online import run_online

        last = run_online(cfg, trainer, records, raw, cache, last)
    acc.end_training()
    return TrainResult(acc, comps, trainer.conditioner, out, last, losses)


def parse_args(argv: list[str] | None) -> DiffusionConfig:
    return parse_cli(
        DiffusionConfig,
        argv,
        "Offline RiC training of a Stable Diffusion LoRA.",
        "configs/diffusion/sd15_aesthetic_jpeg.yaml",
    )


def train(argv: list[str] | None = None) -> TrainResult:
    """Train from the command line's arguments (in-process callers get the result)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return run(parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """The ``ric-diffusion-train`` console script: 0 on success, 2 and one line on bad input."""
    return console(train, argv, "ric-diffusion-train")


if __name__ == "__main__":
    raise SystemExit(main())
