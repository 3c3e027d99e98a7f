"""The evaluation harness: preference sweeps, the results table, one summary schema, fronts and plots.

Every sweep in the toolkit (``ric demo``, ``ric benchmark``, ``python -m ric_diffusion.benchmark``,
``python -m ric_text.benchmark``) goes through :func:`ric_eval.sweep.run_sweep` and writes the same
files: ``results.csv`` (one row per cell), ``summary.json`` (:func:`ric_eval.summary.summarise`'s
schema; hypervolume in raw reward units against a stated reference point) and ``pareto.png``.

Like ``ric_core`` it imports no model library: the modalities hand it candidates that can
``generate(prompts, preference, seeds)`` and a function that scores outputs.
"""

from ric_eval.summary import SCHEMA, summarise
from ric_eval.sweep import Candidate, run_sweep
from ric_eval.table import ResultsTable, preference_key

__all__ = ["SCHEMA", "Candidate", "ResultsTable", "preference_key", "run_sweep", "summarise"]
