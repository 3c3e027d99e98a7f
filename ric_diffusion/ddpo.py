"""DDPO-style policy gradient (Black et al., 2023): the image MORLHF baseline trained by RL, one run per preference.

For a preference w the reward of an image is w . z, z its rewards normalised with the training data's
statistics (the units RiC's targets use). Each epoch samples ``samples_per_epoch`` images with the stock
pipeline's DDIM sampler at ``eta`` > 0 (a stochastic policy) while a thin scheduler wrapper records every
transition (x_t, t, x_{t-1}); the images are scored; advantages are the batch-standardised rewards, clipped;
then PPO's clipped objective on the ratio of each transition's probability under the current LoRA to the
one it was sampled with. The step's Gaussian (mean, std) comes from diffusers' ``DDIMScheduler.step`` itself
(noise 0 gives the mean, noise 1 the mean + std): no sampler math is written here.

The LoRA lives in the toolkit's trainer with ``conditioning.strategy=none``, so every checkpoint is a
reward-unconditioned RiC checkpoint: the benchmark evaluates the runs as it does reward-filtered SFT's
(``--model ddpo=per-preference:runs/ddpo``) and Rewarded Soups mixes the one-hot runs. A checkpoint is
written after every epoch and the rollouts are seeded by (seed, epoch): a killed run continues where it was.

    python -m ric_diffusion.ddpo --preferences 1,0 0,1 --epochs 20 --out runs/ddpo \\
        -- model.pretrained=stable-diffusion-v1-5/stable-diffusion-v1-5 data.source=my_images
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ric_runtime.config import console, require_at_least_one
from ric_runtime.io import atomic_write_json, finished_run, mark_finished


@dataclass
class DDPOSettings:
    epochs: int = 20  # rollout + update rounds
    samples_per_epoch: int = 16  # images sampled (and scored) per epoch
    sample_steps: int = 20  # DDIM steps per image
    eta: float = 1.0  # DDIM stochasticity: 0 would make the policy deterministic (no log-probability)
    train_batch_size: int = 4  # rollouts per optimizer step (all their timesteps accumulated)
    timestep_batch: int = 1  # timesteps per UNet pass in the update: more is faster, holds more activations
    clip_range: float = 1e-4  # PPO ratio clip (DDPO's default)
    adv_clip: float = 5.0  # advantages clipped to +-this
    learning_rate: float = 3e-4

    def validate(self) -> None:
        require_at_least_one(self, "epochs", "samples_per_epoch", "sample_steps", "train_batch_size", "timestep_batch")
        if self.samples_per_epoch % self.train_batch_size:
            raise ValueError(
                f"--samples-per-epoch ({self.samples_per_epoch}) must be a multiple of --train-batch-size "
                f"({self.train_batch_size})"
            )
        if not (self.eta > 0 and self.clip_range > 0 and self.adv_clip > 0 and self.learning_rate > 0):
            raise ValueError("--eta, --clip-range, --adv-clip and --learning-rate must be > 0")


class RecordingScheduler:
    """Wraps a DDIM scheduler: the pipeline samples as usual; every step's (t, x_t, x_{t-1}, log-prob) is kept."""

    def __init__(self, scheduler: Any):
        self.scheduler, self.records = scheduler, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.scheduler, name)

    def step(self, model_output, timestep, sample, eta: float = 0.0, generator=None, return_dict: bool = True, **kw):
        out = self.scheduler.step(model_output, timestep, sample, eta=eta, generator=generator, **kw)
        prev = out.prev_sample
        logp = step_log_prob(self.scheduler, model_output, timestep, sample, prev, eta)
        self.records.append((int(timestep), sample.detach().cpu(), prev.detach().cpu(), logp.detach().cpu()))
        return out if return_dict else (prev,)


def step_log_prob(scheduler: Any, eps: torch.Tensor, t: Any, x_t: torch.Tensor, x_prev: torch.Tensor, eta: float):
    """log N(x_prev; mean, std^2) per sample (B,), averaged over dimensions; mean and std from the scheduler."""
    mean = scheduler.step(eps, t, x_t, eta=eta, variance_noise=torch.zeros_like(x_t)).prev_sample
    std = scheduler.step(eps, t, x_t, eta=eta, variance_noise=torch.ones_like(x_t)).prev_sample - mean
    std = std.detach().abs().clamp_min(1e-8)  # depends on t only: no gradient through it
    logp = -((x_prev.to(mean) - mean) ** 2) / (2 * std**2) - torch.log(std) - 0.5 * math.log(2 * math.pi)
    return logp.mean(dim=tuple(range(1, logp.ndim)))


def advantages(rewards: np.ndarray, clip: float) -> np.ndarray:
    """Batch-standardised rewards, clipped to +-clip.

    Example:
        >>> advantages(np.array([0.0, 1.0, 2.0]), 5.0).round(3).tolist()
        [-1.225, 0.0, 1.225]
    """
    std = rewards.std()
    return np.clip((rewards - rewards.mean()) / (std if std > 0 else 1.0), -clip, clip)


class DDPORun:
    """One preference's RL run over a trainer (LoRA, optimizer, checkpoints) built with strategy ``none``."""

    def __init__(self, cfg: Any, preference: np.ndarray, settings: DDPOSettings, prompts: list[str]):
        from accelerate import Accelerator

        from rewards import reward_set_from_config
        from ric_diffusion.models import build_pipeline, load_components
        from ric_diffusion.relabel import prepare_offline_data
        from ric_diffusion.train import DiffusionTrainer

        self.cfg, self.w, self.s, self.prompts = cfg, preference, settings, prompts
        self.acc = Accelerator()
        if self.acc.num_processes > 1:
            raise ValueError("the DDPO baseline runs on one process; start it without accelerate launch")
        comps = load_components(cfg.model)
        if comps.is_sdxl:
            raise ValueError("the DDPO baseline supports SD 1.x/2.x models; SDXL is not wired in yet")
        _, _, _, self.stats = prepare_offline_data(cfg, self.acc)  # the z-units of the preference's reward
        self.trainer = DiffusionTrainer(cfg, self.acc, comps, self.stats)
        self.trainer.reset_optimizer(settings.learning_rate)
        self.rewards = reward_set_from_config(cfg.rewards, self.acc.device, cfg.train.reward_batch_size)
        self.pipe = build_pipeline(comps).to(self.acc.device)
        self.pipe.scheduler.set_timesteps(settings.sample_steps, device=self.acc.device)
        self.guidance = cfg.inference.guidance_scale
        self.steps_per_epoch = settings.samples_per_epoch // settings.train_batch_size
        self.log: list[dict[str, float]] = []

    def states(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        from ric_diffusion.text_states import encode_texts

        c = self.trainer.conditioner
        with torch.no_grad():
            cond = encode_texts(self.trainer.comps, c, prompts)[0].to(self.acc.device)
            uncond = encode_texts(self.trainer.comps, c, [""] * len(prompts))[0].to(self.acc.device)
        return cond, uncond

    def rollout(self, epoch: int) -> dict[str, Any]:
        """Sample, record and score ``samples_per_epoch`` images; prompts and noise seeded by (seed, epoch)."""
        rng = np.random.default_rng([self.cfg.train.seed, epoch])
        prompts = [self.prompts[i] for i in rng.integers(0, len(self.prompts), self.s.samples_per_epoch)]
        cond, uncond = self.states(prompts)
        recorder = RecordingScheduler(self.pipe.scheduler)
        object.__setattr__(self.pipe, "scheduler", recorder)
        try:
            dtype = self.trainer.comps.unet.dtype
            images = self.pipe(
                prompt_embeds=cond.to(dtype),
                negative_prompt_embeds=uncond.to(dtype),
                num_inference_steps=self.s.sample_steps,
                guidance_scale=self.guidance,
                eta=self.s.eta,
                generator=torch.Generator().manual_seed(int(rng.integers(2**31))),
                height=self.cfg.data.resolution,
                width=self.cfg.data.resolution,
            ).images
        finally:
            object.__setattr__(self.pipe, "scheduler", recorder.scheduler)
        raw = self.rewards(images=images, prompts=prompts).values  # (B, K)
        reward = self.stats.normalize(raw) @ self.w  # (B,) w . z
        t, x, prev, logp = zip(*recorder.records, strict=True)  # per step: (B, C, h, w) and (B,)
        return {"prompts": prompts, "t": t, "x": x, "prev": prev, "logp": logp, "reward": reward, "raw": raw}

    def eps(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor) -> torch.Tensor:
        """The policy's (guided) noise prediction for x (B, C, h, w) at timesteps t (B,), with gradients to
        the LoRA; the guided branches share one UNet pass (batch 2B), as in the pipeline."""
        b, k = x.shape[0], self.stats.num_rewards
        guided = self.guidance > 1  # the pipeline's rule: no guidance branch at scale <= 1
        n = 2 * b if guided else b
        zeros, drop = torch.zeros(n, k, device=x.device), torch.ones(n, dtype=torch.bool, device=x.device)
        with self.acc.autocast():
            if not guided:
                return self.trainer.model(x, t, cond, zeros, drop).float()
            e_c, e_u = self.trainer.model(
                torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, uncond]), zeros, drop
            ).chunk(2)
        return (e_u + self.guidance * (e_c - e_u)).float()

    def update(self, roll: dict[str, Any]) -> float:
        """One PPO pass over the rollouts: an optimizer step per ``train_batch_size`` rollouts, their
        timesteps ``timestep_batch`` to a UNet pass (the gradient is the same; only the batching differs)."""
        s, dev = self.s, self.acc.device
        adv = torch.as_tensor(advantages(roll["reward"], s.adv_clip), dtype=torch.float32, device=dev)
        steps = list(zip(roll["t"], roll["x"], roll["prev"], roll["logp"], strict=True))
        clipped = []
        for start in range(0, s.samples_per_epoch, s.train_batch_size):
            rows = slice(start, start + s.train_batch_size)
            cond, uncond = self.states(roll["prompts"][rows])
            for first in range(0, len(steps), s.timestep_batch):
                ratios = self.ratios(steps[first : first + s.timestep_batch], rows, cond, uncond)  # (n, B)
                a = adv[rows]
                loss = torch.maximum(-a * ratios, -a * ratios.clamp(1 - s.clip_range, 1 + s.clip_range))
                self.acc.backward(loss.mean(dim=1).sum() / len(steps))  # one step averages every timestep's term
                clipped.append(float(((ratios - 1).abs() > s.clip_range).float().mean()))
            self.trainer.stop_if_not_finite("gradient norm", self.acc.clip_grad_norm_(self.trainer.params, 1.0))
            self.trainer.optimizer.step()
            self.trainer.optimizer.zero_grad()
            self.trainer.step += 1
            self.trainer.total_steps += 1
        return float(np.mean(clipped))

    def ratios(self, steps: list[tuple], rows: slice, cond: torch.Tensor, uncond: torch.Tensor) -> torch.Tensor:
        """pi_new / pi_old of each recorded transition (t, x_t, x_prev, logp_old) in ``steps`` for the
        rollouts ``rows``: (n steps, B), from one UNet pass over the n * B noisy inputs."""
        dev, n = self.acc.device, len(steps)
        x = torch.cat([x[rows] for _, x, _, _ in steps]).to(dev)  # (n * B, C, h, w)
        b = x.shape[0] // n
        t = torch.cat([torch.full((b,), t, device=dev) for t, *_ in steps])
        eps = self.eps(x, t, cond.repeat(n, 1, 1), uncond.repeat(n, 1, 1)).split(b)
        out = []
        for e, (t, x_t, prev, logp_old) in zip(eps, steps, strict=True):
            logp = step_log_prob(self.pipe.scheduler, e, t, x_t[rows].to(dev), prev[rows].to(dev), self.s.eta)
            out.append(torch.exp(logp - logp_old[rows].to(dev)))
        return torch.stack(out)

    def run(self) -> Path:
        t0, s = time.time(), self.s
        self.trainer.resume("latest")
        first = self.trainer.step // self.steps_per_epoch
        for epoch in range(first, s.epochs):
            roll = self.rollout(epoch)
            clip_share = self.update(roll)
            self.trainer.generated += s.samples_per_epoch
            self.log.append({"epoch": epoch, "reward": float(roll["reward"].mean()), "clipped": clip_share})
            ckpt = self.trainer.save()
            self.write_compute(ckpt, time.time() - t0)
            with (Path(self.cfg.train.output_dir) / "ddpo_log.jsonl").open("a") as f:
                f.write(json.dumps(self.log[-1]) + "\n")
        if first >= s.epochs:  # every epoch was done before a kill took the done marker's write
            from ric_diffusion.checkpoint import resolve_checkpoint

            return resolve_checkpoint(Path(self.cfg.train.output_dir))
        return ckpt

    def write_compute(self, ckpt: Path, seconds: float) -> None:
        """Samples through the policy: every trained transition is a forward and backward of the UNet."""
        s, record = self.s, json.loads((ckpt / "compute.json").read_text())
        branches = 2 if self.guidance > 1 else 1
        trained = self.trainer.total_steps * s.train_batch_size
        record |= {
            "samples": trained,
            "policy_forward_backward": trained * s.sample_steps * branches,
            "unet_forward_generation": self.trainer.generated * s.sample_steps * branches,
            "method": "DDPO-style policy gradient (RL)",
        }
        record["wall_time_s"] = round(record.get("wall_time_s", 0.0), 3)
        atomic_write_json(ckpt / "compute.json", record)


def train_preference(overrides: list[str], w: np.ndarray, settings: DDPOSettings, out: Path) -> Path:
    """One DDPO run for one preference (skipped when done); returns its final checkpoint."""
    from ric_diffusion.train import parse_args as parse_train_args

    key = {"overrides": overrides, "preference": [float(x) for x in w], **dataclasses.asdict(settings)}
    key.pop("timestep_batch")  # how the update is batched, not what it computes
    if (ckpt := finished_run(out, key)) is not None:
        return ckpt
    args = [*overrides, "conditioning.strategy=none", f"train.output_dir={out}", "train.report_to=none"]
    cfg = parse_train_args(args)
    cfg.train.checkpoints_total_limit = 2
    prompts = prompt_list(cfg)
    atomic_write_json(
        out / "preference.json",
        {
            "preference": [float(x) for x in w],
            "method": "DDPO-style policy gradient (RL)",
            **dataclasses.asdict(settings),
        },
    )
    ckpt = DDPORun(cfg, w, settings, prompts).run()
    mark_finished(out, ckpt, key)
    return ckpt


def prompt_list(cfg: Any) -> list[str]:
    """The prompts rollouts draw from: a prompt list, or the training data's captions."""
    from ric_diffusion.data import RecordSet, load_records
    from ric_diffusion.prompt_pool import is_prompt_list
    from ric_runtime.io import read_prompts

    if is_prompt_list(cfg.data.source):
        return read_prompts(cfg.data.source)
    records = load_records(cfg.data)
    if not isinstance(records, RecordSet):
        raise ValueError("the DDPO baseline reads its prompts from a list or an in-memory dataset, not a stream")
    return sorted({r.caption for r in records.records})


def run(argv: list[str] | None = None) -> dict[str, Path]:
    from ric_eval.sweep import parse_preferences
    from ric_eval.table import preference_dirname, preference_key

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preferences", nargs="+", required=True, help="comma-separated weights, e.g. 1,0 0,1")
    ap.add_argument("--out", default="runs/ddpo")
    ap.add_argument("--config", help="trainer YAML preset, e.g. configs/diffusion/sd15_aesthetic_jpeg.yaml")
    for f in dataclasses.fields(DDPOSettings):
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    ap.add_argument("overrides", nargs="*", help="trainer overrides (after --), e.g. model.pretrained=...")
    args = ap.parse_args(argv)
    settings = DDPOSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DDPOSettings)})
    settings.validate()
    overrides = (["--config", args.config] if args.config else []) + list(args.overrides)
    from ric_diffusion.train import parse_args as parse_train_args

    prefs = parse_preferences(args.preferences, len(parse_train_args(overrides).rewards))
    root = Path(args.out)
    return {preference_key(w): train_preference(overrides, w, settings, root / preference_dirname(w)) for w in prefs}


def main(argv: list[str] | None = None) -> int:
    return console(run, argv, "python -m ric_diffusion.ddpo")


if __name__ == "__main__":
    raise SystemExit(main())
