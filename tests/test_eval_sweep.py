"""ric_eval: the resumable results table, the sweep driver and the summary."""

import numpy as np
import pytest

from ric_core.pareto import hypervolume
from ric_eval.compute import add_compute
from ric_eval.summary import summarise
from ric_eval.sweep import extend_grid, make_grid, run_sweep
from ric_eval.table import ResultsTable, preference_key


class FakeModel:
    """Output = (preference weight 1, prompt index): rewards are known exactly; counts generations."""

    def __init__(self, fail_after: int | None = None, only=None):
        self.calls, self.fail_after, self.only = 0, fail_after, only

    def covers(self, w):
        return self.only is None or preference_key(w) in self.only

    def generate(self, prompts, w, seeds):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("interrupted")
        self.calls += 1
        return [(float(w[0]), p, s) for p, s in zip(prompts, seeds, strict=True)], {"r1": float(w[0]), "r2": 1.0}

    def compute(self):
        return {"samples": 10, "wall_time_s": 1.0}


def score(prompts, outputs):
    return np.array([[w + len(p) / 100, (1 - w) + s % 7 / 100] for w, p, s in outputs])


def store(model, key, pi, seed, s, out):
    return f"{model}/{key}/{pi}/{seed}/{s}"


@pytest.mark.parametrize("n, expected", [(2, 11), (3, 13), (5, None)])
def test_grids(n, expected):
    grid = make_grid(n, "paper" if expected else "simplex", 0.25)
    assert grid.shape[1] == n
    assert np.allclose(grid.sum(1), 1, atol=0.011) and (grid >= 0).all()  # the paper's 3-D centre is 0.33 x 3
    if expected:
        assert len(grid) == expected
    else:  # weights on a 0.25 lattice over 5 objectives: C(4 + 4, 4) points
        assert len(grid) == 70
    simplex = make_grid(n, "simplex", 0.5)
    assert len({preference_key(w) for w in simplex}) == len(simplex)


def test_sweep_resumes_without_regenerating(tmp_path):
    prompts, grid = ["a", "bb", "ccc"], make_grid(2)
    table = ResultsTable(tmp_path / "results.csv", ["r1", "r2"])
    crashing = FakeModel(fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(table, {"m": crashing}, prompts, grid, [0, 1], 2, score, store, batch_size=4, progress=False)
    first = table.rows()
    assert len(first) == 3 * 4  # three batches of 4 cells landed before the interrupt
    with table.path.open("a") as f:  # and a crash mid-write left half a line
        f.write("m,0.5,0.5,1")
    resumed = FakeModel()
    n = run_sweep(table, {"m": resumed}, prompts, grid, [0, 1], 2, score, store, batch_size=4, progress=False)
    total = len(grid) * 2 * 3 * 2
    assert n == total - 12
    rows = table.rows()
    assert len(rows) == total
    assert len({(r["model"], r["preference"], r["prompt_index"], r["seed"], r["sample"]) for r in rows}) == total
    assert rows[:12] == first  # nothing already written was touched
    assert run_sweep(table, {"m": FakeModel()}, prompts, grid, [0, 1], 2, score, store, progress=False) == 0


def test_summary_hypervolume_matches_core_on_the_csv(tmp_path):
    prompts, grid = ["a", "bb"], make_grid(2)
    table = ResultsTable(tmp_path / "results.csv", ["r1", "r2"])
    models = {"full": FakeModel(), "few": FakeModel(only={"0,1", "1,0", "0.5,0.5"})}
    run_sweep(table, models, prompts, grid, [0, 3], 1, score, store, progress=False)
    rows = table.rows()
    s = summarise(rows, ["r1", "r2"], compute={k: m.compute() for k, m in models.items()})
    for name in models:
        sel = [r for r in rows if r["model"] == name]
        prefs = sorted({r["preference"] for r in sel})
        means = np.array([[np.mean([r[k] for r in sel if r["preference"] == p]) for k in ("r1", "r2")] for p in prefs])
        assert s["models"][name]["hypervolume"] == pytest.approx(hypervolume(means, s["reference_point"]), abs=1e-5)
        assert s["models"][name]["compute"]["samples"] == 10
    assert len(s["models"]["few"]["preferences"]) == 3
    assert s["models"]["full"]["hypervolume"] > s["models"]["few"]["hypervolume"] > 0
    # standard error: two seeds per prompt give different r2, so it is positive and matches numpy
    p = s["models"]["full"]["preferences"]["0.5,0.5"]
    vals = [r["r2"] for r in rows if r["model"] == "full" and r["preference"] == "0.5,0.5"]
    assert p["n"] == 4 and p["stderr"]["r2"] == pytest.approx(np.std(vals, ddof=1) / 2, abs=1e-6)


def test_table_refuses_other_rewards(tmp_path):
    t = ResultsTable(tmp_path / "results.csv", ["r1", "r2"])
    run_sweep(t, {"m": FakeModel()}, ["a"], make_grid(2)[:1], [0], 1, score, store, progress=False)
    with pytest.raises(ValueError, match="same rewards"):
        ResultsTable(tmp_path / "results.csv", ["r1", "r3"])


def test_add_compute():
    assert add_compute([{"samples": 4, "wall_time_s": 1.5}, {"samples": 6, "wall_time_s": 2.0}]) == {
        "samples": 10,
        "wall_time_s": 3.5,
        "runs": 2,
    }
    assert add_compute([{"samples": 4}, None]) is None


def test_extend_grid_measures_per_preference_runs_at_their_own_weights():
    class Runs:
        def preferences(self):
            return [[0.75, 0.25], [1.0, 0.0]]

    grid = extend_grid(make_grid(2), {"morlhf": Runs(), "ric": object()})
    assert len(grid) == 12 and preference_key(grid[3]) == "0.75,0.25"
    assert (np.diff(grid[:, 0]) < 0).all()  # still ordered by w1, no duplicate of (1, 0)
    assert extend_grid(make_grid(2), {"ric": object()}).shape == (11, 2)


def test_read_prompts_from_text_jsonl_and_a_datasets_folder(tmp_path):
    from ric_runtime.io import read_prompts

    (tmp_path / "p.txt").write_text("# a comment\na cat\n\na dog\n")
    assert read_prompts(str(tmp_path / "p.txt")) == ["a cat", "a dog"]
    (tmp_path / "p.jsonl").write_text('{"q": "how?"}\n{"q": "why?"}\n')
    assert read_prompts(str(tmp_path / "p.jsonl"), column="q") == ["how?", "why?"]
    with pytest.raises(ValueError, match="row 1 has no 'prompt'"):
        read_prompts(str(tmp_path / "p.jsonl"))
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "test.jsonl").write_text('{"prompt": "a fox", "id": 1}\n{"prompt": "an owl", "id": 2}\n')
    assert read_prompts(None, dataset=str(folder), column="prompt", split="test") == ["a fox", "an owl"]
    with pytest.raises(ValueError, match="no column 'caption'"):
        read_prompts(None, dataset=str(folder), column="caption", split="test")


def test_a_preference_free_model_is_generated_once_per_cell_and_recorded_for_every_preference(tmp_path):
    class Untagged(FakeModel):
        preference_free = True

        def generate(self, prompts, w, seeds):
            outputs, _ = super().generate(prompts, [0.5, 0.5], seeds)  # the preference cannot reach it
            return outputs, None

    prompts, grid = ["a", "bb", "ccc"], make_grid(2)
    table = ResultsTable(tmp_path / "results.csv", ["r1", "r2"])
    model, tagged = Untagged(), FakeModel()
    n = run_sweep(
        table, {"base": model, "ric": tagged}, prompts, grid, [0], 1, score, store, batch_size=3, progress=False
    )
    assert n == 2 * 11 * 3  # every cell is written ...
    assert model.calls == 1 and tagged.calls == 11  # ... but the untagged model generates once (3 prompts, 1 batch)
    rows = [r for r in table.rows() if r["model"] == "base"]
    by_pref = {}
    for r in rows:
        by_pref.setdefault(r["preference"], []).append((r["prompt_index"], r["r1"], r["r2"]))
    assert len(by_pref) == 11 and len({tuple(sorted(v)) for v in by_pref.values()}) == 1
    s = summarise(table.rows(), ["r1", "r2"])
    assert s["models"]["base"]["steering"] == {"r1": None, "r2": None}  # constant: undefined, not a number
    assert s["models"]["ric"]["steering"]["r1"] == 1.0  # FakeModel's r1 grows with w1 exactly


def test_steering_and_quality_measures():
    from ric_eval.steering import spearman, steering
    from ric_eval.summary import add_quality

    assert spearman([1, 2, 3, 4], [10, 20, 30, 25]) == pytest.approx(0.8)
    prefs = {k: {"mean": {"a": a, "b": b}} for k, a, b in [("1,0", 3, 0), ("0.5,0.5", 2, 1), ("0,1", 1, 2)]}
    assert steering(prefs, ["a", "b"]) == {"a": 1.0, "b": 1.0}
    flipped = {k: {"mean": {"a": -v["mean"]["a"], "b": v["mean"]["b"]}} for k, v in prefs.items()}
    assert steering(flipped, ["a", "b"])["a"] == -1.0  # a reward that falls as its weight rises
    rows = [{"model": "m", "preference": k, "ok": ok} for k, ok in [("1,0", 1), ("1,0", 0), ("0,1", 1)]]
    summary = {"models": {"m": {"preferences": {"1,0": {}, "0,1": {}}}}}
    add_quality(summary, rows, "ok", "rows that are ok", lambda sel: [r["ok"] for r in sel])
    q = summary["models"]["m"]["quality"]["ok"]
    assert q == {
        "mean": pytest.approx(2 / 3, abs=1e-6),
        "worst_preference": 0.5,
        "per_preference": {"1,0": 0.5, "0,1": 1.0},
    }
    assert summary["quality_measures"] == {"ok": "rows that are ok"}
