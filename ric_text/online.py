"""The LLM policy for the shared online loop: batched generation, the paper's cleaning, SFT on the buffer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rewards import reward_names, reward_set_from_config
from ric_core.online import OfflineData, OnlineLoop
from ric_runtime.io import atomic_write_folder
from ric_text.checkpoints import resume_point, train_or_restore
from ric_text.generate import TextGenerator
from ric_text.sft import encode_dataset, finite_guard, sft_config, write_ric_files


class TextPolicy:
    """Generates with the trainer's PeftModel (adapter unmerged) and continues training the same adapter."""

    def __init__(self, cfg: Any, result: Any):
        self.cfg, self.result = cfg, result
        self.model = result.trainer.model  # the PeftModel trl built
        self._rewards = None

    @property
    def rewards(self) -> Any:
        if self._rewards is None:
            self._rewards = reward_set_from_config(
                self.cfg.rewards, self.model.device, self.cfg.train.reward_batch_size
            )
        return self._rewards

    def generate(self, prompts: list[str], targets: np.ndarray, sample_ids: list[str], seed: int) -> list[str | None]:
        gen = TextGenerator(self.model.eval(), self.result.tokenizer, self.result.stats, self.cfg)
        results = gen(prompts, rewards=targets, seed=seed)
        return [None if r.degenerate else r.text for r in results]  # degenerate outputs are dropped

    def score(self, prompts: list[str], outputs: list[str]) -> np.ndarray:
        return self.rewards(prompts=prompts, completions=outputs).values

    def fit(
        self,
        samples: list[dict[str, Any]],
        steps: int,
        learning_rate: float,
        iteration: int,
        on_step: Callable[[int], None],
    ) -> None:
        from transformers import TrainerCallback
        from trl import SFTTrainer

        class StepHook(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                on_step(state.global_step)

        z = np.array([s["rewards"] for s in samples])
        data = encode_dataset(
            self.result.tokenizer, [s["prompt"] for s in samples], [s["output"] for s in samples], z, self.cfg
        )
        # The fit checkpoints like the offline stage (train.save_steps), so a kill mid-fit resumes it; the loop
        # loaded the iteration's starting adapter, and a checkpoint here replaces it with the fit's progress.
        out = Path(self.cfg.train.output_dir) / "online" / f"iter{iteration}" / "trainer"
        args = sft_config(
            self.cfg, out, steps, learning_rate, "constant", self.cfg.train.seed + 1000 * (iteration + 1), save=True
        )
        trainer = SFTTrainer(
            model=self.model.train(),
            args=args,
            train_dataset=data,
            processing_class=self.result.tokenizer,
            callbacks=[StepHook(), finite_guard()],
        )
        from accelerate import PartialState

        train_or_restore(trainer, resume_point(out, "latest", PartialState()), steps)

    def save(self, path: Path) -> None:
        def write(d: Path) -> None:
            self.model.save_pretrained(str(d))
            self.result.tokenizer.save_pretrained(str(d))
            write_ric_files(d, self.result.stats, self.cfg)

        atomic_write_folder(path, [write])

    def load(self, path: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(self.model, load_file(Path(path) / "adapter_model.safetensors"))


def run_online(cfg: Any, result: Any) -> Path:
    """Run or resume the online iterations after offline SFT; returns the final adapter folder."""
    from accelerate import PartialState

    procs = PartialState()  # every process runs the loop: shards by rank, selection on the main one, DDP fits
    z = result.stats.normalize(result.raw)
    offline = OfflineData(list(result.samples.prompts), list(result.samples.responses), z)
    policy = TextPolicy(cfg, result)
    loop = OnlineLoop(
        cfg.online,
        policy,
        result.stats,
        offline,
        Path(cfg.train.output_dir),
        initial_policy=result.final,
        reward_names=reward_names(cfg.rewards),
        processes=procs,
    )
    loop.run()
    final = Path(loop.load_state()["policy"])
    policy.load(final)
    out = Path(cfg.train.output_dir) / "final"
    if procs.is_main_process:
        policy.save(out)
    procs.wait_for_everyone()
    return out
