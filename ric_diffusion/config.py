"""The diffusion trainer's configuration: every field says what it does and what it interacts with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ric_core.mapping import MappingSettings
from ric_core.online import OnlineConfig


@dataclass
class DataConfig:
    # A folder with metadata.jsonl (imagefolder convention), a .jsonl/.csv file of image paths and
    # captions (paths relative to the file), or a `datasets` dataset name / saved folder.
    source: str = ""
    image_column: str = "file_name"  # imagefolder/JSONL/CSV: the path column; datasets: the image column
    caption_column: str = "text"
    split: str = "train"  # datasets only
    resolution: int = 512  # images are resized (shorter side) and center-cropped to this size
    max_samples: int | None = None  # keep the first N records (quick runs)
    # Read the source as a stream (a `datasets` name or saved folder): memory bounded whatever its size.
    # WebDataset tar shards (a .tar, a folder of them, or a glob like "shards/*.tar") always stream.
    streaming: bool = False
    # Relabelling and latent caching work in shards of this many samples, shard s on process s % N; a rerun
    # skips finished shards. Changing it starts the scores and caches afresh (the old ones stay on disk).
    shard_size: int = 1024
    # A prompt list (.txt, one prompt per line) as data.source: the base model generates this many images
    # per prompt (sharded over processes), the rewards score them, and that pool is the offline dataset.
    images_per_prompt: int = 4


@dataclass
class ModelConfig:
    # A diffusers Stable Diffusion folder or hub id (unet/, vae/, text_encoder/, tokenizer/, scheduler/).
    pretrained: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    revision: str | None = None
    # Pixel space: no VAE, the UNet denoises RGB directly (in/out channels 3); for small worlds.
    pixel_space: bool = False


@dataclass
class ConditioningConfig:
    # "embed": one learned token per reward appended to the text encoder's hidden states (default);
    # "text": the paper's, rewards written as tags after the caption inside the 77 tokens;
    # "none": no reward condition at all (the unconditioned baseline).
    strategy: str = "embed"
    tag_template: str = "<rm{i}>"  # text strategy: tag names as in the paper's diffusion code
    drop_prob: float = 0.1  # guidance dropout of the whole condition (caption and rewards), as the paper
    reward_drop_prob: float = 0.0  # extra dropout of the rewards alone, enabling reward guidance at inference
    fourier_features: int = 16  # embed strategy: frequencies of the Fourier features of each scalar reward
    hidden_dim: int = 256  # embed strategy: hidden width of each reward's MLP


@dataclass
class LoraSection:
    rank: int = 16
    alpha: int = 16
    target_modules: list[str] = field(default_factory=lambda: ["to_k", "to_q", "to_v", "to_out.0"])


@dataclass
class TrainConfig:
    output_dir: str = "runs/diffusion"
    seed: int = 0
    max_steps: int = 1000
    batch_size: int = 8  # per process
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    lr_scheduler: str = "constant"  # any diffusers.optimization scheduler name
    lr_warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    use_8bit_adam: bool = False  # needs bitsandbytes and CUDA
    mixed_precision: str | None = None  # "no" | "fp16" | "bf16"; None: the accelerate launch config's (else "no")
    gradient_checkpointing: bool = False
    enable_xformers: bool = False  # only used when CUDA is present; SDPA otherwise
    allow_tf32: bool = True  # TF32 matmuls on Ampere and newer GPUs (diffusers' --allow_tf32)
    ema: bool = False
    ema_decay: float = 0.9999
    checkpoint_every: int = 500
    checkpoints_total_limit: int | None = 3  # keep at most this many checkpoint folders
    resume: str | None = None  # "latest" or a checkpoint folder
    report_to: str = "tensorboard"  # "tensorboard" | "wandb" | "none"
    log_every: int = 10
    sample_every: int = 0  # 0 = never; else log sample images every N steps
    sample_prompts: list[str] = field(default_factory=lambda: ["a photo of a cat"])
    sample_steps: int = 25
    reward_batch_size: int = 16  # images per reward-model batch when relabelling
    cache_batch_size: int = 16  # images per VAE / text-encoder batch when caching


@dataclass
class InferenceConfig(MappingSettings):  # mapping, mapping_p, quantile_levels: shared with ric_text
    num_inference_steps: int = 50
    guidance_scale: float = 7.5


@dataclass
class DiffusionConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    rewards: list[Any] = field(default_factory=lambda: ["aesthetic", "jpeg_compressibility"])  # names or
    # {name: ..., kwargs...} dicts from the rewards registry, in tag order
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)
    lora: LoraSection = field(default_factory=LoraSection)
    train: TrainConfig = field(default_factory=TrainConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)  # the online stage (ric_core.online)

    def __post_init__(self) -> None:
        if self.conditioning.strategy not in ("embed", "text", "none"):
            raise ValueError(
                f"conditioning.strategy must be 'embed', 'text' or 'none'; got {self.conditioning.strategy!r}"
            )
        for name in ("drop_prob", "reward_drop_prob"):
            p = getattr(self.conditioning, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"conditioning.{name} must be in [0, 1); got {p}")
        if len(self.rewards) < 2:
            raise ValueError(f"RiC needs at least 2 rewards; got {self.rewards}")
        if not (isinstance(self.lora.rank, int) and self.lora.rank >= 1 and self.lora.alpha > 0):
            raise ValueError(
                f"lora.rank must be an integer >= 1 and lora.alpha > 0; got {self.lora.rank}, {self.lora.alpha}"
            )
        if self.train.max_steps < 1 or self.train.batch_size < 1:
            raise ValueError("train.max_steps and train.batch_size must be >= 1")
        if not self.train.learning_rate > 0:
            raise ValueError(f"train.learning_rate must be > 0; got {self.train.learning_rate}")
        if self.data.shard_size < 1 or self.data.images_per_prompt < 1:
            raise ValueError(
                f"data.shard_size and data.images_per_prompt must be >= 1; got {self.data.shard_size}, "
                f"{self.data.images_per_prompt}"
            )
        res = self.data.resolution
        if not (res >= 8 and res % 8 == 0):
            raise ValueError(f"data.resolution must be a multiple of 8 pixels (the VAE's factor); got {res}")
        if self.train.report_to not in ("tensorboard", "wandb", "none"):
            raise ValueError(f"train.report_to must be tensorboard, wandb or none; got {self.train.report_to!r}")
        self.inference.validate()  # fail at load time, not at the first generation
        self.online.validate()  # ... nor after a whole generation phase
