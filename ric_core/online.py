"""The online stage, written once for both modalities (docs/method.md section 3).

One iteration: sample prompts and targets -> the policy generates (in shards) -> score with the same
rewards -> normalise with the *offline* statistics -> relabel each sample with what it obtained ->
MORS on the iteration's pool -> append survivors to the persistent buffer -> fine-tune the same
adapter on a MORS-filtered random subset of the offline data plus the whole buffer.

State lives in ``<run>/online/`` and is written atomically after every shard and phase, so rerunning
after a crash (even ``kill -9``) continues where it stopped: no sample is lost, generated twice or
added twice, and the final buffer equals an uninterrupted run's with the same seed.

On N processes (``accelerate launch``) every rank runs the loop: shard s of an iteration is generated and
scored by rank s mod N (its prompts, targets and seed depend only on the iteration and s, so N does not
change a sample); a shard's file is its record of being done. The main process alone selects (MORS on the
whole pool), writes the buffer, the metrics and the state; every rank then fits (DDP in the policy).

The loop needs two small things (see the protocols): a policy that can ``generate`` and ``fit`` and
``save``/``load`` itself, and a scorer that returns raw rewards with their names.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from ric_core.mors import mors
from ric_core.online_targets import STRATEGIES, sample_online_targets
from ric_core.pareto import hypervolume
from ric_core.stats import RewardStats
from ric_runtime.io import atomic_write_json, atomic_write_text, read_prompts

logger = logging.getLogger("ric.online")


@dataclass
class OnlineConfig:
    iterations: int = 0  # 0 = offline only; the paper's README runs 2
    num_samples: int = 20000  # generations per iteration (the paper's num_generation_samples)
    shard_size: int = 64  # generations persisted together; a crash loses at most one shard's work
    quantile: float = 0.7  # MORS quantile
    mors_rule: str = "any"  # "any" (the paper's) or "all"
    num_origin_samples: int = 10000  # MORS-filtered offline samples mixed in per iteration
    steps: int = 4000  # fine-tuning steps per iteration
    learning_rate: float = 1e-5  # constant, as the paper's online stage
    target_strategy: str = "paper"  # ric_core.online_targets strategy
    target_low: float | None = None  # None: the training range of each normalised reward
    target_high: float | None = None
    prompt_file: str | None = None  # one prompt per line; default: the training prompts/captions
    seed: int = 0

    def validate(self) -> None:
        """Raise at config load time what would otherwise fail after a whole generation phase."""
        if self.mors_rule not in ("any", "all"):
            raise ValueError(f"online.mors_rule must be 'any' or 'all'; got {self.mors_rule!r}")
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"online.quantile must be in (0, 1); got {self.quantile}")
        if self.target_strategy not in STRATEGIES:
            raise ValueError(f"online.target_strategy must be one of {STRATEGIES}; got {self.target_strategy!r}")
        counts = {"iterations": (self.iterations, 0), "num_samples": (self.num_samples, 1)}
        counts |= {
            "shard_size": (self.shard_size, 1),
            "steps": (self.steps, 1),
            "num_origin_samples": (self.num_origin_samples, 0),
        }
        for name, (value, least) in counts.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"online.{name} must be an integer >= {least}; got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"online.learning_rate must be > 0; got {self.learning_rate}")


class Policy(Protocol):
    def generate(self, prompts: list[str], targets: np.ndarray, sample_ids: list[str], seed: int) -> list[str | None]:
        """One output per prompt for its (K,) targets: a reference (path or text), or None if dropped."""

    def score(self, prompts: list[str], outputs: list[str]) -> np.ndarray:
        """Raw rewards (N, K) of the outputs, in the statistics' reward order."""

    def fit(
        self,
        samples: list[dict[str, Any]],
        steps: int,
        learning_rate: float,
        iteration: int,
        on_step: Callable[[int], None],
    ) -> None:
        """Fine-tune the adapter (fresh optimizer) on samples {"prompt", "output", "rewards" (K,), "origin"}."""

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None: ...


def fault_point(name: str) -> None:
    """Tests set RIC_ONLINE_KILL_AT=<name> to SIGKILL the process at a named point (crash testing)."""
    if os.environ.get("RIC_ONLINE_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation, NaN when either side is constant."""
    return float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else float("nan")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


@dataclass
class OfflineData:
    """The offline set the online stage mixes back in: prompts, outputs, normalised rewards (N, K)."""

    prompts: list[str]
    outputs: list[str]
    rewards_z: np.ndarray


class SingleProcess:
    """The process group of a one-process run (accelerate's ``PartialState`` has the same three members)."""

    process_index, num_processes, is_main_process = 0, 1, True

    def wait_for_everyone(self) -> None:
        pass


class OnlineLoop:
    """Runs (or resumes) the online iterations of one run folder.

    Example:
        >>> loop = OnlineLoop(cfg, policy, stats, offline, run_dir)  # doctest: +SKIP
        >>> loop.run()  # doctest: +SKIP
    """

    def __init__(
        self,
        cfg: OnlineConfig,
        policy: Policy,
        stats: RewardStats,
        offline: OfflineData,
        run_dir: Path,
        initial_policy: Path,
        reward_names: Sequence[str] | None = None,
        processes: Any = None,
    ):
        # processes: process_index, num_processes, wait_for_everyone() (accelerate's PartialState or Accelerator)
        self.procs = processes or SingleProcess()
        self.main = self.procs.process_index == 0
        if reward_names is not None:
            stats.check_names(reward_names)  # before any generation
        self.cfg, self.policy, self.stats, self.offline = cfg, policy, stats, offline
        self.initial_policy = str(initial_policy)  # the offline adapter the first iteration starts from
        self.dir = Path(run_dir) / "online"
        self.dir.mkdir(parents=True, exist_ok=True)
        prompts = read_prompts(cfg.prompt_file) if cfg.prompt_file else offline.prompts
        self.prompts = list(prompts)
        if not self.prompts:
            raise ValueError("the online stage has no prompts: the training set is empty and no prompt_file was given")
        k = stats.num_rewards
        self.low = np.full(k, cfg.target_low) if cfg.target_low is not None else stats.z_min
        self.high = np.full(k, cfg.target_high) if cfg.target_high is not None else stats.z_max

    # ---- persistent state ----------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.dir / "state.json"

    def load_state(self) -> dict[str, Any]:
        if self.state_path.exists():
            state = json.loads(self.state_path.read_text())
            if state.get("reward_names") != list(self.stats.names):
                raise ValueError(
                    f"{self.state_path} was written for rewards {state.get('reward_names')}, "
                    f"not {list(self.stats.names)}; use a new output_dir or the same rewards"
                )
            return state
        return {
            "iteration": 0,
            "phase": "generate",
            "reward_names": list(self.stats.names),
            "policy": self.initial_policy,
        }

    def save_state(self, state: dict[str, Any]) -> None:
        if self.main:  # every rank keeps the same state in memory; one writes it
            atomic_write_json(self.state_path, state)

    def buffer(self) -> list[dict[str, Any]]:
        """Every MORS survivor so far: {"id", "iteration", "prompt", "output", "targets", "rewards", "raw"}."""
        return _read_jsonl(self.dir / "buffer.jsonl")

    # ---- one iteration ---------------------------------------------------------------------------
    def plan(self, it: int) -> tuple[list[str], np.ndarray, list[str]]:
        """Prompts, targets (M, K) and sample ids of iteration ``it``: a pure function of the seed."""
        rng = np.random.default_rng([self.cfg.seed, it])
        idx = rng.integers(0, len(self.prompts), self.cfg.num_samples)  # with replacement, as the paper
        targets = sample_online_targets(
            self.cfg.num_samples, self.low, self.high, self.stats.num_rewards, self.cfg.target_strategy, rng
        )
        return [self.prompts[i] for i in idx], targets, [f"it{it}-{i:06d}" for i in range(self.cfg.num_samples)]

    def shard_path(self, it: int, shard: int) -> Path:
        return self.dir / f"iter{it}" / f"shard{shard:05d}.jsonl"

    def generate(self, it: int) -> None:
        prompts, targets, ids = self.plan(it)
        size, rank, world = self.cfg.shard_size, self.procs.process_index, self.procs.num_processes
        starts = list(range(0, len(ids), size))
        mine = [s for s in range(len(starts)) if s % world == rank]
        todo = [s for s in mine if not self.shard_path(it, s).exists()]  # a shard's file: written whole, once
        logger.info(
            "online iteration %d: generating and scoring %d samples (%d of %d shards to do on %d process(es))",
            it,
            len(ids),
            len(todo),
            len(starts),
            world,
        )
        done = (len(mine) - len(todo)) * size
        bar = tqdm(total=len(mine) * size, initial=done, desc=f"online {it}: generate+score", disable=not self.main)
        for shard in todo:
            start = starts[shard]
            sl = slice(start, start + size)
            outputs = self.policy.generate(
                prompts[sl], targets[sl], ids[sl], seed=self.cfg.seed * 100003 + it * 1009 + shard
            )
            ok = [j for j, o in enumerate(outputs) if o is not None]  # None: dropped by the policy (degenerate)
            raw = np.full((len(outputs), self.stats.num_rewards), np.nan)
            if ok:
                raw[ok] = np.asarray(self.policy.score([prompts[sl][j] for j in ok], [outputs[j] for j in ok]))
            rows = [
                {
                    "id": i,
                    "iteration": it,
                    "prompt": p,
                    "output": o,
                    "targets": t.tolist(),
                    "raw": None if o is None else r.tolist(),
                }
                for i, p, o, t, r in zip(ids[sl], prompts[sl], outputs, targets[sl], raw, strict=True)
            ]
            _write_jsonl(self.shard_path(it, shard), rows)
            bar.update(len(outputs))
            fault_point(f"generate:{it}:{shard}")
        bar.close()

    def select(self, it: int) -> dict[str, Any]:
        """Relabel the pool with its obtained rewards, MORS it, append survivors; returns metrics."""
        pool, dropped = [], 0
        for path in sorted((self.dir / f"iter{it}").glob("shard*.jsonl")):
            rows = _read_jsonl(path)
            pool.extend(r for r in rows if r["raw"] is not None)
            dropped += sum(r["raw"] is None for r in rows)
        if not pool:
            raise RuntimeError(f"iteration {it}: every generation was dropped as degenerate; check the model")
        raw = np.array([r["raw"] for r in pool])  # (M, K)
        z = self.stats.normalize(raw)
        result = mors(z, self.cfg.quantile, self.cfg.mors_rule)
        buffer = [r for r in self.buffer() if r["iteration"] != it]  # idempotent if re-run
        for i in result.kept:
            buffer.append({**pool[i], "rewards": np.round(z[i], 1).tolist()})
        _write_jsonl(self.dir / "buffer.jsonl", buffer)
        targets = np.array([r["targets"] for r in pool])
        corr = [_corr(targets[:, k], z[:, k]) for k in range(z.shape[1])]
        return {
            "iteration": it,
            "generated": len(pool) + dropped,
            "dropped": dropped,
            "kept": int(result.kept.size),
            "mors_acceptance": result.fraction_kept,
            "mors_thresholds": result.thresholds.tolist(),
            "mean_obtained_raw": dict(zip(self.stats.names, raw.mean(0).tolist(), strict=True)),
            "mean_obtained_z": dict(zip(self.stats.names, z.mean(0).tolist(), strict=True)),
            "hypervolume_z": hypervolume(z, self.stats.z_min),
            "hypervolume_ref": self.stats.z_min.tolist(),
            "target_obtained_corr": dict(zip(self.stats.names, corr, strict=True)),
            "buffer_size": len(buffer),
        }

    def training_samples(self, it: int) -> list[dict[str, Any]]:
        """A fresh MORS-filtered random offline subset plus the whole buffer."""
        off = self.offline
        kept = mors(off.rewards_z, self.cfg.quantile, self.cfg.mors_rule).kept
        rng = np.random.default_rng([self.cfg.seed, it, 1])
        pick = rng.choice(kept, size=min(self.cfg.num_origin_samples, kept.size), replace=False)
        samples = [
            {
                "prompt": off.prompts[i],
                "output": off.outputs[i],
                "rewards": off.rewards_z[i].tolist(),
                "origin": "offline",
            }
            for i in sorted(pick.tolist())
        ]
        samples += [
            {"prompt": r["prompt"], "output": r["output"], "rewards": r["rewards"], "origin": r["id"]}
            for r in self.buffer()
        ]
        return samples

    def fit(self, it: int, state: dict[str, Any]) -> None:
        # Always from the adapter this iteration began with, so a fit redone after a crash is identical.
        self.policy.load(Path(state["policy"]))
        half = max(1, self.cfg.steps // 2)

        def on_step(step: int) -> None:
            if step == half:
                fault_point(f"fit:{it}")

        self.policy.fit(self.training_samples(it), self.cfg.steps, self.cfg.learning_rate, it, on_step)
        fault_point(f"fit_done:{it}")
        if self.main:
            self.policy.save(self.dir / f"iter{it}" / "policy")
        self.procs.wait_for_everyone()

    def run(self, on_iteration: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Run or resume every iteration; returns the per-iteration metrics (also in metrics.jsonl)."""
        state = self.load_state()
        if state["iteration"] < self.cfg.iterations:
            self.policy.load(Path(state["policy"]))  # generation continues from the current iteration's adapter
        while state["iteration"] < self.cfg.iterations:
            it = state["iteration"]
            if state["phase"] == "generate":
                self.generate(it)
                self.procs.wait_for_everyone()  # every shard of the iteration is on disk
                state["phase"] = "select"
                self.save_state(state)
                fault_point(f"after_generate:{it}")
            if state["phase"] == "select" and self.main:
                metrics = self.select(it)
                logger.info(
                    "online iteration %d: MORS kept %d of %d (%.0f%%); buffer %d samples",
                    it,
                    metrics["kept"],
                    metrics["generated"] - metrics["dropped"],
                    100 * metrics["mors_acceptance"],
                    metrics["buffer_size"],
                )
                rows = [m for m in _read_jsonl(self.dir / "metrics.jsonl") if m["iteration"] != it] + [metrics]
                _write_jsonl(self.dir / "metrics.jsonl", rows)
                if on_iteration:
                    on_iteration(metrics)
            if state["phase"] == "select":
                self.procs.wait_for_everyone()  # the buffer is written before any rank reads it
                state["phase"] = "fit"
                self.save_state(state)
            if state["phase"] == "fit":
                logger.info(
                    "online iteration %d: fine-tuning %d steps at lr %g", it, self.cfg.steps, self.cfg.learning_rate
                )
                self.fit(it, state)
                state = {
                    **state,
                    "iteration": it + 1,
                    "phase": "generate",
                    "policy": str(self.dir / f"iter{it}" / "policy"),
                }
                self.save_state(state)
        return _read_jsonl(self.dir / "metrics.jsonl")
