"""What each ``ric study`` sweeps: settings (model specs swept on one checkpoint) and world variants (a
checkpoint trained on a world with other rewards or another data correlation).

    >>> [(s.name, s.worlds) for s in objectives_settings(quick=True)][:2]
    [('N2', ('text',)), ('N2', ('image',))]
    >>> correlation_settings(quick=False)[0].variant.rho
    -0.8
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Variant:
    """A world trained differently from the demo's preset: ``rewards`` (None: the preset's), the data's
    ``rho`` for ``pair`` (text world), the sweep's ``grid`` ("paper" or "paths"), and ``online`` trainer
    overrides (with ``samples_factor`` times the preset's online samples per iteration) applied to a copy of
    the demo's offline run, so every online setting starts from the same offline model."""

    name: str = "default"
    rewards: tuple[str, ...] | None = None
    rho: float = 0.0
    pair: tuple[str, str] = ("toy_praise", "toy_facts")
    grid: str = "paper"
    online: tuple[str, ...] = ()
    samples_factor: float = 1.0

    @property
    def default(self) -> bool:
        return self.rewards is None and self.rho == 0.0 and not self.online

    @property
    def key(self) -> str:
        """The sweep's and the checkpoint's folder part: the demo's own model is shared by every study."""
        return "" if self.default else self.name


DEFAULT = Variant()
QUICK_GRID = "simplex:0.25"  # --quick sweeps 5 preferences where a full study sweeps the paper's 11


def sweep_grid(grid: str, quick: bool) -> str:
    """The grid a sweep runs: ``QUICK_GRID`` in place of the paper's at --quick, any other grid as it is."""
    return QUICK_GRID if quick and grid == "paper" else grid


@dataclass(frozen=True)
class Setting:
    name: str
    overrides: Callable[[Any], str]  # RewardStats of the checkpoint -> the spec's "?..." part ("" for none)
    prompts: str = "unseen"  # "unseen" (held out of the fine-tune) or "seen"
    variant: Variant = field(default=DEFAULT)
    checkpoint: str = "final"  # "final", "offline" or a folder of the run ("online/iter0/policy")
    worlds: tuple[str, ...] = ("image", "text")  # the worlds it is measured in
    same_as: str | None = None  # another setting of the study that is this one by definition: not swept again


@dataclass(frozen=True)
class Study:
    settings: Callable[[bool], list[Setting]]
    columns: tuple[str, ...]  # the measures the table shows (study_measures.COLUMNS keys)
    plot_measure: str = "hypervolume"
    worlds: tuple[str, ...] = ("image", "text")


def _fixed(name: str, worlds: tuple[str, ...] = ("image", "text"), **query: Any) -> Setting:
    text = "&".join(f"{k}={v}" for k, v in query.items())
    return Setting(name, lambda stats: text, worlds=worlds)


def _stretched(name: str, factor: float, prompts: str = "unseen") -> Setting:
    """linf onto the data's z range stretched ``factor`` times about its centre (1.0: the data's own)."""

    def query(stats: Any) -> str:
        lo, hi = np.asarray(stats.z_min), np.asarray(stats.z_max)
        mid, half = (lo + hi) / 2, factor * (hi - lo) / 2
        pairs = [[round(float(m - h), 3), round(float(m + h), 3)] for m, h in zip(mid, half, strict=True)]
        return f"mapping=linf&target_range={json.dumps(pairs)}"

    return Setting(name, query, prompts)


def mapping_settings(quick: bool) -> list[Setting]:
    full = [
        _fixed("linf", mapping="linf"),
        _fixed("l2", mapping="l2"),
        _fixed("linear", mapping="linear"),
        # lp with p = 1 is linear and p = 2 is l2 (ric_core.mapping, tested): their rows are those sweeps
        Setting("lp1", lambda stats: "", same_as="linear"),
        Setting("lp2", lambda stats: "", same_as="l2"),
        *[_fixed(f"lp{p}", mapping="lp", mapping_p=p) for p in (4, 8)],
        _fixed("quantile", mapping="quantile", quantile_levels="[0, 1]"),
        _fixed("quantile_linear", mapping="quantile_linear", quantile_levels="[0, 1]"),
        _fixed("linf_reference", mapping="linf", target_range="reference"),
        _fixed("l2_reference", mapping="l2", target_range="reference"),
        _fixed("linf_project", mapping="linf", project="true"),
        _fixed("quantile_linear_project", mapping="quantile_linear", quantile_levels="[0, 1]", project="true"),
    ]
    quick_names = ("linf", "l2", "quantile_linear", "l2_reference", "linf_project")
    return [s for s in full if s.name in quick_names] if quick else full


def ood_settings(quick: bool) -> list[Setting]:
    full = [
        _stretched("range_1x", 1.0),
        _stretched("range_1.5x", 1.5),
        _stretched("range_2x", 2.0),
        _stretched("range_1x_seen_prompts", 1.0, "seen"),
    ]
    return full[:2] + full[3:] if quick else full


def objectives_settings(quick: bool) -> list[Setting]:
    """The first N of a world's five rewards, N = 2..5, the same data and training steps; swept along the
    paths from each one-hot preference to the uniform one (4N + 1 preferences). Text: the demo's data (N = 2
    is the demo's own model); image: the five-reward world (N = 2 retrained on it)."""
    from ric_demo import image_world, text_world

    sizes = (2, 3) if quick else (2, 3, 4, 5)
    out = []
    for n in sizes:
        text = Variant(f"N{n}", None if n == 2 else tuple(text_world.REWARD_NAMES[:n]), grid="paths")
        image = Variant(f"N{n}", tuple(image_world.REWARD_NAMES[:n]), pair=image_world.PAIR, grid="paths")
        out += [_trained(f"N{n}", text, "text"), _trained(f"N{n}", image, "image")]
    return out


def correlation_settings(quick: bool) -> list[Setting]:
    """A pair of rewards as the two objectives, on data whose copula sets the correlation of the factors
    behind them to rho: text toy_praise and toy_facts, image toy_shape_size and toy_fill_light."""
    from ric_demo import image_world, text_world

    rhos = (-0.8, 0.8) if quick else (-0.8, 0.0, 0.8)
    out = []
    for r in rhos:
        for world, pair in (("text", text_world.PAIR), ("image", image_world.PAIR)):
            out.append(_trained(f"rho{r:+.1f}", Variant(f"rho{r:+.1f}", pair, r, pair), world))
    return out


def _trained(name: str, variant: Variant, world: str) -> Setting:
    """A setting that is a model trained on a world variant, swept as it is."""
    return Setting(name, lambda stats: "", variant=variant, worlds=(world,))


MORS_ITERATIONS = 3
# Samples per iteration the mors study varies around (x 0.5, x 2): the worlds' presets when the study was
# first run (--quick: the quick presets'). The image preset is now q0.5 at 2 iterations, the study's pick.
MORS_SAMPLES = {"image": 32, "text": 128}


def mors_settings(quick: bool) -> list[Setting]:
    """Online settings, one factor at a time around the paper's (quantile 0.7, rule any, ``MORS_SAMPLES``
    per iteration), each run for 3 iterations from the same offline model; every iteration's policy is swept.
    "preset" is the demo's own model: the online stage of the world's preset (``configs/demo``)."""
    iterations = 1 if quick else MORS_ITERATIONS
    paper = ("online.quantile=0.7", "online.mors_rule=any")  # named: a world's preset may set others
    grid = {
        "q0.5": ("online.quantile=0.5", "online.mors_rule=any"),
        "q0.7": paper,
        "q0.9": ("online.quantile=0.9", "online.mors_rule=any"),
        "q0.7-all": ("online.quantile=0.7", "online.mors_rule=all"),
        "n0.5x": paper,
        "n2x": paper,
    }
    factors = {"n0.5x": 0.5, "n2x": 2.0}
    names = ["q0.5", "q0.9"] if quick else list(grid)
    out = [  # the demo run's offline checkpoint and its final model
        Setting("offline", lambda stats: "", checkpoint="offline"),
        Setting("preset", lambda stats: ""),
    ]
    for n in names:
        v = _online(n, grid[n], factors.get(n, 1.0), iterations)
        out += [
            Setting(f"{n}-it{k}", lambda stats: "", variant=v, checkpoint=f"online/iter{k - 1}/policy")
            for k in range(1, iterations + 1)
        ]
    return out


def _online(name: str, overrides: tuple[str, ...], factor: float, iterations: int) -> Variant:
    return Variant(name, online=(f"online.iterations={iterations}", *overrides), samples_factor=factor)


HV_COLUMNS = ("hypervolume", "spearman", "quality", "target_error_z")
STUDIES: dict[str, Study] = {
    "mapping": Study(mapping_settings, HV_COLUMNS),
    "ood": Study(ood_settings, (*HV_COLUMNS, "reach", "targets_outside")),
    "objectives": Study(
        objectives_settings,
        (
            "hv_side",
            "spearman",
            *(f"spearman_r{k}" for k in range(1, 6)),
            "mors_acceptance",
            "target_error_z",
            "quality",
        ),
        plot_measure="hv_side",
    ),
    "mors": Study(
        mors_settings,
        ("hypervolume", "hv_raised", "spearman", "mors_acceptance", "quality", "target_error_z"),
    ),
    "correlation": Study(
        correlation_settings,
        ("data_corr", "spearman", "spearman_min", "hypervolume", "hv_side", "separation", "quality"),
        plot_measure="separation",  # the question: do the sliders still pull the rewards apart
    ),
}
