"""The five-reward image world: its shape rewards score every degenerate picture 0 and follow the factor
each is named for; the data's correlation knob moves the measured rewards."""

import json

import numpy as np
import pytest
from PIL import Image

from rewards import get_reward
from ric_demo.image_world import FACTORS, PAIR, build_dataset, draw_shape, five_factors

SHAPE_REWARDS = ("toy_shape_size", "toy_centred", "toy_fill_light")


def score(name: str, arrays: list[np.ndarray]) -> np.ndarray:
    return get_reward(name)(images=[Image.fromarray(a) for a in arrays])


def degenerate() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    tiled = np.full((16, 16, 3), 128, np.uint8)  # four small squares instead of one shape, clear of the border
    for y in (2, 10):
        for x in (2, 10):
            tiled[y : y + 4, x : x + 4] = (220, 40, 40)
    dot = np.full((16, 16, 3), 128, np.uint8)
    dot[8, 8] = (220, 40, 40)  # a fragment: too small to be a shape
    wash = np.full((16, 16, 3), 128, np.uint8)
    wash[:, :, 0] = 200  # every pixel tinted: colour up to the border
    return {
        "white": np.full((16, 16, 3), 245, np.uint8),
        "black": np.zeros((16, 16, 3), np.uint8),
        "grey noise": rng.integers(100, 156, (16, 16, 1), dtype=np.uint8).repeat(3, axis=2),
        "colour noise": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
        "flat fill": np.tile(np.array([220, 40, 40], np.uint8), (16, 16, 1)),
        "colour wash": wash,
        "tiled shapes": tiled,
        "one pixel": dot,
    }


@pytest.mark.parametrize("name", SHAPE_REWARDS)
def test_degenerate_pictures_score_zero_and_a_real_shape_scores_above(name):
    real = draw_shape("red", "square", "grey", 0.3, 5.0, 8.0, 8.0)
    cases = degenerate()
    scores = score(name, [*cases.values(), real])
    assert scores[-1] > 0.2, name
    for case, s in zip(cases, scores[:-1], strict=True):
        assert s == 0.0, f"{name} gives {case!r} {s}"


def test_each_reward_follows_its_factor():
    small, big = (
        draw_shape("blue", "circle", "white", 0.0, 3.5, 8, 8),
        draw_shape("blue", "circle", "white", 0.0, 6, 8, 8),
    )
    assert score("toy_shape_size", [small])[0] < score("toy_shape_size", [big])[0]
    middle, aside = (
        draw_shape("green", "square", "black", 0.0, 4, 8, 8),
        draw_shape("green", "square", "black", 0.0, 4, 5, 10),
    )
    assert score("toy_centred", [middle])[0] > score("toy_centred", [aside])[0]
    dark, light = (draw_shape("yellow", "cross", "grey", 0.0, 5, 8, 8, f) for f in (0.6, 1.0))
    assert score("toy_fill_light", [dark])[0] < score("toy_fill_light", [light])[0]
    striped = draw_shape("yellow", "cross", "grey", 0.7, 5, 8, 8, 1.0)  # dark stripes leave the fill's lightness
    assert score("toy_fill_light", [striped])[0] == pytest.approx(score("toy_fill_light", [light])[0], abs=0.02)


def test_the_correlation_knob_sets_the_pair_in_the_factors_and_in_the_measured_rewards(tmp_path):
    i, j = (list(FACTORS).index(n) for n in PAIR)
    for rho in (-0.8, 0.8):
        f = five_factors(4000, np.random.default_rng(1), rho)
        assert np.corrcoef(f[:, i], f[:, j])[0, 1] == pytest.approx(rho, abs=0.1)
        lo, hi = np.array([v[0] for v in FACTORS.values()]), np.array([v[1] for v in FACTORS.values()])
        assert (f >= lo).all() and (f <= hi).all()
    measured = {}
    for rho in (-0.8, 0.8):
        folder = build_dataset(tmp_path / f"rho{rho}", 300, 0, five=True, rho=rho)
        rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
        ims = [np.asarray(Image.open(folder / r["file_name"]).convert("RGB")) for r in rows]
        a, b = score(PAIR[0], ims), score(PAIR[1], ims)
        measured[rho] = np.corrcoef(a, b)[0, 1]
    assert measured[-0.8] < -0.3 and measured[0.8] > 0.3, measured


def test_the_demo_world_is_unchanged_by_the_five_reward_world(tmp_path):
    """The demo's two-reward data (and so its cached models) stay as they were: the version-2 marker."""
    build_dataset(tmp_path / "demo", 5, 0)
    assert json.loads((tmp_path / "demo" / "done.json").read_text())["version"] == 2
    build_dataset(tmp_path / "five", 5, 0, five=True)
    marker = json.loads((tmp_path / "five" / "done.json").read_text())
    assert marker["version"] == 3 and marker["pair"] == list(PAIR)
