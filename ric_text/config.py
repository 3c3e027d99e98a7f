"""The LLM trainer's configuration; the paper's defaults are in configs/text/*.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ric_core.mapping import MappingSettings
from ric_core.online import OnlineConfig


@dataclass
class TextDataConfig:
    source: str = ""  # a .json/.jsonl file, a saved datasets folder, or a hub dataset name
    name: str | None = None  # the hub dataset's configuration, e.g. "comparisons" for summarize_from_feedback
    kind: str = "hh"  # adapter: "hh" (chosen + rejected), "summary", "jsonl" (prompt, response)
    split: str = "train"
    min_tokens: int = 8  # length filter on prompt and response, in policy tokens (the paper: 8..512)
    max_tokens: int = 512
    max_samples: int | None = None
    # Relabelling works in shards of this many samples, shard s on process s % N; a rerun skips finished ones.
    shard_size: int = 4096
    # A prompt list (.txt, one prompt per line) as data.source: the base model samples this many responses per
    # prompt (sharded over processes), the rewards score them, and those pairs are the offline dataset.
    responses_per_prompt: int = 4


@dataclass
class TextModelConfig:
    pretrained: str = "meta-llama/Llama-2-7b-hf"
    dtype: str = "float32"  # "float32" | "bfloat16" | "float16"
    load_in_8bit: bool = False  # bitsandbytes + CUDA only (the paper trained in 8-bit)
    load_in_4bit: bool = False
    trust_remote_code: bool = False


@dataclass
class PromptConfig:
    format: str = "assistant"  # "assistant" (HH-RLHF) | "summary" | "chat" (the tokenizer's chat template)
    tag_template: str = "<rm{i}_score>"
    use_tags: bool = True  # false: plain SFT on the same data without reward tags (the baseline)

    @property
    def template(self) -> str:
        """The tag template, or "" for the untagged baseline."""
        return self.tag_template if self.use_tags else ""


@dataclass
class TextLoraConfig:
    rank: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: list[str] | None = None  # None: peft's default for the architecture (q_proj, v_proj on Llama)


@dataclass
class TextTrainConfig:
    output_dir: str = "runs/text"
    seed: int = 8888
    max_steps: int = 20000
    batch_size: int = 2  # per device; the paper: 2 x 4 GPUs
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1.414e-4
    lr_scheduler: str = "linear"
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    save_steps: int = 1000
    save_total_limit: int | None = 3
    logging_steps: int = 10
    report_to: str = "tensorboard"  # "tensorboard" | "wandb" | "none"
    resume: str | None = None  # "latest" or a checkpoint folder
    gradient_checkpointing: bool = False
    reward_batch_size: int = 8


@dataclass
class GenerationConfig:
    max_new_tokens: int = 128  # 48 for summaries
    temperature: float = 0.7
    top_p: float = 0.9
    batch_size: int = 16  # prompts per generate() call, left-padded
    suppress_eos_first: bool = True  # never an empty response (the paper's online stage)


@dataclass
class TextInferenceConfig(MappingSettings):  # mapping, mapping_p, quantile_levels: shared with ric_diffusion
    pass


@dataclass
class TextConfig:
    data: TextDataConfig = field(default_factory=TextDataConfig)
    model: TextModelConfig = field(default_factory=TextModelConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    rewards: list[Any] = field(default_factory=lambda: ["harmless", "helpful"])
    lora: TextLoraConfig = field(default_factory=TextLoraConfig)
    train: TextTrainConfig = field(default_factory=TextTrainConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    inference: TextInferenceConfig = field(default_factory=TextInferenceConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)

    def __post_init__(self) -> None:
        if self.prompt.format not in ("assistant", "summary", "chat"):
            raise ValueError(f"prompt.format must be assistant, summary or chat; got {self.prompt.format!r}")
        if len(self.rewards) < 2:
            raise ValueError(f"RiC needs at least 2 rewards; got {self.rewards}")
        lc = self.lora
        if not (isinstance(lc.rank, int) and lc.rank >= 1 and lc.alpha > 0 and 0 <= lc.dropout < 1):
            raise ValueError(
                f"lora.rank must be an integer >= 1, lora.alpha > 0 and lora.dropout in [0, 1); got rank {lc.rank}, "
                f"alpha {lc.alpha}, dropout {lc.dropout}"
            )
        if not self.train.learning_rate > 0:
            raise ValueError(f"train.learning_rate must be > 0; got {self.train.learning_rate}")
        if self.data.shard_size < 1 or self.data.responses_per_prompt < 1:
            raise ValueError(
                f"data.shard_size and data.responses_per_prompt must be >= 1; got {self.data.shard_size}, "
                f"{self.data.responses_per_prompt}"
            )
        g = self.generation
        if not (g.temperature >= 0 and 0 < g.top_p <= 1 and g.max_new_tokens >= 1 and g.batch_size >= 1):
            raise ValueError(
                "generation.temperature must be >= 0 (0 = greedy), generation.top_p in (0, 1], "
                "generation.max_new_tokens and generation.batch_size >= 1; got "
                f"{g.temperature}, {g.top_p}, {g.max_new_tokens}, {g.batch_size}"
            )
        if self.train.report_to not in ("tensorboard", "wandb", "none"):
            raise ValueError(f"train.report_to must be tensorboard, wandb or none; got {self.train.report_to!r}")
        self.inference.validate()  # fail at load time, not at the first generation
        self.online.validate()  # ... nor after a whole generation phase
