"""The reward registry: names -> factories. The CLIs' choices and the app's dropdowns come from here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rewards.base import Reward  # the type factories return; base imports nothing back


@dataclass(frozen=True)
class RewardEntry:
    factory: Callable[..., Reward]
    modality: str  # "image" or "text"
    description: str


_REGISTRY: dict[str, RewardEntry] = {}


def register_reward(
    name: str, factory: Callable[..., Reward], *, modality: str, description: str = "", overwrite: bool = False
) -> None:
    """Make ``get_reward(name, **kwargs)`` call ``factory(**kwargs)``. Refuses to replace a name.

    Example:
        >>> from rewards.toy import TextLength
        >>> register_reward("my_length", TextLength, modality="text")
        >>> "my_length" in list_rewards("text")
        True
    """
    if modality not in ("image", "text"):
        raise ValueError(f"modality must be 'image' or 'text'; got {modality!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"a reward named {name!r} is already registered; pick another name or pass overwrite=True")
    _REGISTRY[name] = RewardEntry(factory, modality, description)


def list_rewards(modality: str | None = None) -> list[str]:
    """Registered reward names, sorted; ``modality='image'`` or ``'text'`` filters them."""
    return sorted(n for n, e in _REGISTRY.items() if modality is None or e.modality == modality)


def reward_info(name: str) -> RewardEntry:
    if name not in _REGISTRY:
        raise KeyError(f"unknown reward {name!r}; registered rewards: {', '.join(list_rewards())}")
    return _REGISTRY[name]


def get_reward(name: str, **kwargs: Any) -> Reward:
    """Build a registered reward, e.g. ``get_reward("aesthetic", device="cuda")``."""
    return reward_info(name).factory(**kwargs)


def reward_names(specs: list[Any]) -> tuple[str, ...]:
    """Column names of config entries: a registry name, {name: ..., **kwargs}, or a multi-objective model's
    {name: ..., objectives: [...] or {column: objective}} (one column per objective)."""
    names: list[str] = []
    for s in specs:
        objectives = s.get("objectives") if isinstance(s, dict) else None
        names += list(objectives) if objectives else [s if isinstance(s, str) else s["name"]]
    return tuple(names)


def _lazy(module: str, attr: str, **fixed: Any) -> Callable[..., Reward]:
    """A factory that imports its module on first use, so ``import rewards`` stays light."""

    def factory(**kwargs: Any) -> Reward:
        import importlib

        return getattr(importlib.import_module(f"rewards.{module}"), attr)(**fixed, **kwargs)

    return factory


def _register_builtins() -> None:
    image = [
        ("jpeg_compressibility", "jpeg", "JpegCompressibility", "negative JPEG size in kB at quality 95"),
        ("jpeg_incompressibility", "jpeg", "JpegIncompressibility", "JPEG size in kB at quality 95"),
        ("aesthetic", "aesthetic", "AestheticReward", "LAION improved aesthetic predictor on CLIP ViT-L/14"),
        ("clip_score", "clip_score", "ClipScore", "image-prompt cosine of open_clip embeddings"),
        ("pickscore", "pickscore", "PickScore", "PickScore_v1 human-preference CLIP scorer"),
        ("hpsv2", "hps", "HPSv2", "HPSv2.1 human-preference score (open_clip ViT-H-14, cosine)"),
        ("image_reward", "image_reward", "ImageRewardScore", "ImageReward: BLIP image-text encoder + MLP"),
        ("toy_brightness", "toy", "ToyBrightness", "toy: mean pixel value"),
        ("toy_colorfulness", "toy", "ToyColorfulness", "toy: Hasler-Suesstrunk colourfulness"),
        ("toy_detail", "toy", "ToyDetail", "toy: mean gradient magnitude"),
        ("toy_stripes", "toy", "ToyStripes", "toy: power of 4-pixel horizontal stripes"),
        ("toy_shape_size", "toy_shapes", "ToyShapeSize", "toy: the one shape's share of the pixels"),
        ("toy_centred", "toy_shapes", "ToyCentred", "toy: how near the centre the one shape sits"),
        ("toy_fill_light", "toy_shapes", "ToyFillLight", "toy: how light the one shape's fill is"),
    ]
    for name, module, cls, desc in image:
        register_reward(name, _lazy(module, cls), modality="image", description=desc)
    text = [
        ("toy_length", "toy", "TextLength", "toy: words in the response"),
        ("toy_brevity", "toy", "NegativeTextLength", "toy: minus words in the response"),
        ("toy_sentiment", "toy", "ToySentiment", "toy: positive minus negative lexicon words"),
        ("toy_praise", "toy_reviews", "ToyPraise", "toy: distinct praise words in distinct well-formed sentences"),
        ("toy_on_topic", "toy_reviews", "ToyOnTopic", "toy: +1 naming the asked product only, -1 another"),
        ("toy_concise", "toy_reviews", "ToyConcise", "toy: minus the words of a well-formed review"),
        ("toy_facts", "toy_reviews", "ToyFacts", "toy: distinct factual sentences of a well-formed review"),
        ("toy_critique", "toy_reviews", "ToyCritique", "toy: distinct criticism words of a well-formed review"),
        ("armorm", "multi_objective_rm", "MultiObjectiveRM", "ArmoRM-Llama3-8B: 19 objectives from one pass"),
    ]
    for name, module, cls, desc in text:
        register_reward(name, _lazy(module, cls), modality="text", description=desc)
    from rewards.presets import PRESETS

    for name, preset in PRESETS.items():
        register_reward(
            name,
            _lazy("text_rm", "text_reward_preset", name=name),
            modality="text",
            description=f"{preset.model_id} ({preset.convention}, logit {preset.logit_index})",
        )


_register_builtins()
