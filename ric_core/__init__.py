"""The RiC method itself, framework-light: statistics, tags, mapping, MORS, targets, Pareto metrics.

Nothing here imports diffusers, transformers or open_clip; both modalities build on it.
"""

from ric_core.grids import PAPER_3D, paper_grid, simplex_grid
from ric_core.mapping import METHODS, map_preference, preference_fraction, validate_preference
from ric_core.mors import MorsResult, mors
from ric_core.online_targets import gaussian_reference_range, sample_online_targets
from ric_core.pareto import hypervolume, non_dominated, pareto_front
from ric_core.stats import RewardStats
from ric_core.tags import format_tags, parse_tags, strip_tags, tag_names

__all__ = [
    "METHODS",
    "PAPER_3D",
    "MorsResult",
    "RewardStats",
    "format_tags",
    "gaussian_reference_range",
    "hypervolume",
    "map_preference",
    "mors",
    "non_dominated",
    "paper_grid",
    "parse_tags",
    "pareto_front",
    "preference_fraction",
    "sample_online_targets",
    "simplex_grid",
    "strip_tags",
    "tag_names",
    "validate_preference",
]
