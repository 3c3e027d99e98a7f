"""The sweep: every model x preference x seed x prompt x sample cell generated, scored and appended to
``results.csv`` once, resumable after any interruption.

Models are *candidates* (RiC checkpoints, base models, soups, per-preference runs) that the modality
builds; the sweep never imports a model library.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ric_eval.compute import add_compute, read_compute
from ric_eval.table import ResultsTable, cell_seed, parse_key, preference_key


class Candidate(Protocol):
    """One model under evaluation, whatever it is (RiC checkpoint, base model, soup, per-preference runs).

    A candidate may set ``preference_free = True`` (no reward input: its output cannot depend on the
    preference); the sweep then generates each (prompt, seed, sample) once and records it for every
    preference.
    """

    def covers(self, preference: Sequence[float]) -> bool:
        """False where the model has nothing for this preference (a per-preference baseline)."""

    def generate(
        self, prompts: list[str], preference: Sequence[float], seeds: list[int]
    ) -> tuple[list[Any], dict[str, float] | None]:
        """One output per prompt (the i-th drawn with ``seeds[i]``) and the raw targets it aimed at, if any."""

    def compute(self) -> dict[str, Any] | None:
        """Training compute of the model (samples, forward/backward passes, wall time), if recorded."""


def parse_preferences(specs: Sequence[str], num_rewards: int) -> list[np.ndarray]:
    """``["1,0", "0.5,0.5"]`` -> validated weight vectors (one per run of a per-preference baseline).

    Example:
        >>> [w.tolist() for w in parse_preferences(["1,0", "0.5,0.5"], 2)]
        [[1.0, 0.0], [0.5, 0.5]]
    """
    from ric_core.mapping import validate_preference

    out = []
    for spec in specs:
        try:
            w = parse_key(spec)
        except ValueError:
            raise ValueError(f"preference {spec!r}: write comma-separated weights, e.g. 0.3,0.7") from None
        out.append(validate_preference(w, num_rewards))
    return out


def soup_weights(preference: Sequence[float], num_ingredients: int) -> list[float]:
    """Rewarded Soups mixes ingredient i's weight delta with weight w_i: one weight per ingredient."""
    if len(preference) != num_ingredients:
        raise ValueError(f"a soup of {num_ingredients} LoRAs needs {num_ingredients} weights; got {len(preference)}")
    return [float(w) for w in preference]


class PerPreferenceRuns:
    """One trained run per preference (MORLHF-style baselines): ``root/*/preference.json`` names each run's
    weights. ``load(run_dir)`` builds the modality's model for one run (one is kept loaded at a time);
    ``resolve(run_dir)`` finds the checkpoint whose ``compute.json`` counts.
    """

    def __init__(self, root: str | os.PathLike, load: Callable[[Path], Any], resolve: Callable[[Path], Path]):
        self.runs: dict[str, Path] = {}
        for f in sorted(Path(root).glob("*/preference.json")):
            self.runs[preference_key(json.loads(f.read_text())["preference"])] = f.parent
        if not self.runs:
            raise FileNotFoundError(f"per-preference:{root}: no */preference.json (one run folder per preference)")
        self.load, self.resolve, self._loaded = load, resolve, {}

    def covers(self, preference: Sequence[float]) -> bool:
        return preference_key(preference) in self.runs

    def preferences(self) -> list[list[float]]:
        return [parse_key(key) for key in self.runs]

    def generate(self, prompts: list[str], preference: Sequence[float], seeds: list[int]):
        key = preference_key(preference)
        if key not in self._loaded:
            self._loaded = {key: self.load(self.runs[key])}
        return self._loaded[key].generate(prompts, preference, seeds)

    def compute(self) -> dict[str, Any] | None:
        return add_compute([read_compute(self.resolve(r)) for r in self.runs.values()])


def make_grid(num_objectives: int, grid: str = "paper", step: float = 0.1) -> np.ndarray:
    """``paper`` (11 points for N=2, 13 vectors for N=3), ``simplex`` (all weights on a ``step`` lattice) or
    ``paths`` (each one-hot preference to the uniform one in 5 points: 4N + 1 preferences, any N)."""
    from ric_core.grids import paper_grid, path_grid, simplex_grid

    if grid == "paper":
        return paper_grid(num_objectives)
    if grid == "simplex":
        return simplex_grid(num_objectives, step)
    if grid == "paths":
        return path_grid(num_objectives)
    raise ValueError(f"--grid must be 'paper', 'simplex' or 'paths'; got {grid!r}")


def extend_grid(grid: np.ndarray, models: dict[str, Any]) -> np.ndarray:
    """The grid plus every preference a per-preference model was trained at (so each run is measured),
    in the grid's order (descending w1); ``models`` may define ``preferences() -> list of weights``."""
    keys = {preference_key(w) for w in grid}
    extra: dict[str, np.ndarray] = {}  # key -> weights, each new preference once
    for m in models.values():
        for w in getattr(m, "preferences", list)():
            if preference_key(w) not in keys:
                extra[preference_key(w)] = np.asarray(w, dtype=np.float64)
    if not extra:
        return grid
    full = np.concatenate([grid, np.stack(list(extra.values()))])
    return full[np.lexsort(full.T[::-1])[::-1]]


@dataclass
class _Job:
    """One generation: a cell, and the other preferences it also answers for (preference-free models)."""

    model: str
    w: np.ndarray
    keys: list[str]  # the first is the preference generated at
    seed: int
    prompt_index: int
    sample: int
    rows: list[dict[str, Any]] = field(default_factory=list)


def _jobs(done: set, models: dict[str, Candidate], n_prompts: int, grid: np.ndarray, seeds, per_prompt) -> list[_Job]:
    """Every cell not yet in the table, grouped per generation (one per cell; preference-free models
    generate a (prompt, seed, sample) once for all the preferences it is missing at)."""
    jobs: dict[tuple, _Job] = {}
    for name, model in models.items():
        free = getattr(model, "preference_free", False)
        for w in grid:
            if not model.covers(w):
                continue
            key = preference_key(w)
            for seed in seeds:
                for pi in range(n_prompts):
                    for s in range(per_prompt):
                        if (name, key, pi, seed, s) in done:
                            continue
                        job_key = (name, seed, pi, s) if free else (name, key, seed, pi, s)
                        if job_key in jobs:
                            jobs[job_key].keys.append(key)
                        else:
                            jobs[job_key] = _Job(name, w, [key], seed, pi, s)
    return list(jobs.values())


def run_sweep(
    table: ResultsTable,
    models: dict[str, Candidate],
    prompts: Sequence[str],
    grid: np.ndarray,
    seeds: Sequence[int],
    per_prompt: int,
    score: Callable[[list[str], list[Any]], np.ndarray],
    store: Callable[[str, str, int, int, int, Any], str],
    batch_size: int = 16,
    progress: bool = True,
) -> int:
    """Generate, score and append every cell of models x grid x seeds x prompts x samples not yet in ``table``.

    ``score(prompts, outputs)`` returns (B, K) rewards in ``table.reward_names`` order; ``store(model,
    preference_key, prompt_index, seed, sample, output)`` saves one output and returns what the CSV's
    ``output`` column holds (a path, or the text). Each cell is drawn with its own seed
    (:func:`ric_eval.table.cell_seed`). Returns the number of cells written.
    """
    from tqdm.auto import tqdm

    jobs = _jobs(table.done(), models, len(prompts), grid, seeds, per_prompt)
    bar = tqdm(total=sum(len(j.keys) for j in jobs), desc="sweep", unit="cell", disable=not progress)
    written = 0
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        # a chunk may span models or preferences: split it into runs of one (model, preference)
        for name, key in dict.fromkeys((j.model, j.keys[0]) for j in chunk):
            part = [j for j in chunk if j.model == name and j.keys[0] == key]
            rows = _run_part(table, models[name], part, prompts, score, store)
            table.append(rows)
            bar.update(len(rows))
            written += len(rows)
    bar.close()
    return written


def _run_part(table, model, part: list[_Job], prompts, score, store) -> list[dict[str, Any]]:
    """Generate and score one (model, preference) run of jobs; one row per cell it answers for."""
    ps = [prompts[j.prompt_index] for j in part]
    outputs, targets = model.generate(ps, part[0].w, [cell_seed(j.seed, j.prompt_index, j.sample) for j in part])
    values = np.asarray(score(ps, outputs), dtype=np.float64)
    rows = []
    for j, out, v in zip(part, outputs, values, strict=True):
        rewards = {n: float(x) for n, x in zip(table.reward_names, v, strict=True)}
        for key in j.keys:
            cell = {"model": j.model, "preference": key, "prompt_index": j.prompt_index, "seed": j.seed}
            rows.append(
                {
                    **cell,
                    "sample": j.sample,
                    "prompt": prompts[j.prompt_index],
                    "targets": json.dumps(targets) if targets else "",
                    "output": store(j.model, key, j.prompt_index, j.seed, j.sample, out),
                    **rewards,
                }
            )
    return rows
