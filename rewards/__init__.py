"""Reward models behind one protocol: ``reward(images=..., prompts=..., completions=...) -> (N,) float32``.

Heavy models (open_clip, transformers) load only when a reward that needs them is built.
"""

from rewards.base import Reward, SharedFeatureReward
from rewards.registry import get_reward, list_rewards, register_reward, reward_info, reward_names
from rewards.reward_set import RewardScores, RewardSet, reward_set_from_config

__all__ = [
    "Reward",
    "RewardScores",
    "RewardSet",
    "SharedFeatureReward",
    "get_reward",
    "list_rewards",
    "register_reward",
    "reward_info",
    "reward_names",
    "reward_set_from_config",
]
