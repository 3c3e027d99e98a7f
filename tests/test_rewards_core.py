import io

import numpy as np
import pytest
from PIL import Image

from rewards import Reward, RewardSet, get_reward, list_rewards, register_reward
from rewards.images import to_pil_rgb
from rewards.jpeg import JpegCompressibility, JpegIncompressibility
from rewards.toy import TextLength, ToyBrightness, ToyColorfulness, ToyDetail, ToySentiment

RNG = np.random.default_rng(0)
FLAT = np.full((64, 64, 3), 120, np.uint8)
NOISE = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)


def pil_jpeg_kb(image, quality=95):
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return len(buf.getvalue()) / 1000


def test_jpeg_values_match_pil():
    scores = JpegCompressibility()(images=[FLAT, NOISE])
    assert scores.dtype == np.float32 and scores.shape == (2,)
    np.testing.assert_allclose(scores, [-pil_jpeg_kb(FLAT), -pil_jpeg_kb(NOISE)], rtol=1e-6)
    assert scores[0] > scores[1]  # flat is more compressible
    np.testing.assert_allclose(JpegIncompressibility()(images=[FLAT, NOISE]), -scores)


def test_jpeg_resize_option():
    small = JpegCompressibility(size=16)(images=[NOISE])
    big = JpegCompressibility(size=256)(images=[NOISE])
    assert small[0] > big[0]
    with pytest.raises(ValueError, match="quality"):
        JpegCompressibility(quality=0)


def test_input_forms_and_non_rgb_images():
    import torch

    rgb = Image.fromarray(NOISE)
    forms = [rgb.convert("L").convert("RGB"), rgb.convert("L"), np.asarray(rgb.convert("L"))]
    scores = JpegCompressibility()(images=forms)
    assert np.all(scores == scores[0])  # grey in any form scores the same
    rgba = rgb.convert("RGBA")
    assert to_pil_rgb(rgba).mode == "RGB"
    tensor = torch.from_numpy(NOISE).permute(2, 0, 1).float() / 255
    np.testing.assert_array_equal(np.asarray(to_pil_rgb(tensor)), NOISE)
    assert JpegCompressibility()(images=[rgba])[0] == pytest.approx(JpegCompressibility()(images=[rgb])[0])


def test_toy_image_rewards_measure_what_they_say():
    grey = np.full((16, 16, 3), 100, np.uint8)
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    stripes = np.zeros((16, 16, 3), np.uint8)
    stripes[:, ::2] = 255
    assert ToyBrightness()(images=[grey])[0] == pytest.approx(100 / 255)
    col = ToyColorfulness()(images=[grey, red])
    assert col[0] == pytest.approx(0) and col[1] > 0.2
    det = ToyDetail()(images=[grey, stripes])
    assert det[0] == 0 and det[1] == pytest.approx(1.0)


def test_toy_text_rewards():
    c = ["great product, love it", "broken and awful", "a b c d e"]
    np.testing.assert_array_equal(TextLength()(prompts=["p"] * 3, completions=c), [4, 3, 5])
    np.testing.assert_array_equal(ToySentiment()(prompts=["p"] * 3, completions=c), [2, -2, 0])


def test_reward_set_matrix_names_and_batching():
    calls = []

    class Counting(Reward):
        name, inputs, batch_size = "counting", ("completions",), 100

        def score(self, completions, **_):
            calls.append(len(completions))
            return [float(len(x)) for x in completions]

    rs = RewardSet([Counting(), "toy_brevity"], batch_size=4, progress=False)
    assert rs.names == ("counting", "toy_brevity") and rs.inputs == ("prompts", "completions")
    comps = [("w " * i).strip() for i in range(10)]
    out = rs(prompts=["p"] * 10, completions=comps)
    assert out.values.shape == (10, 2) and out.values.dtype == np.float32
    assert calls == [4, 4, 2]
    np.testing.assert_array_equal(out.column("toy_brevity"), -np.arange(10))


def test_bad_inputs():
    with pytest.raises(ValueError, match="different lengths"):
        RewardSet(["toy_length"])(prompts=["a"], completions=["a", "b"])
    with pytest.raises(ValueError, match="needs the input"):
        JpegCompressibility()(prompts=["a"])
    assert JpegCompressibility()(images=[]).shape == (0,)
    out = RewardSet(["toy_length", "toy_brevity"], progress=False)(prompts=[], completions=[])
    assert out.values.shape == (0, 2)
    with pytest.raises(KeyError, match="registered rewards: .*aesthetic"):
        get_reward("aesthetics")
    with pytest.raises(ValueError, match="unique"):
        RewardSet(["toy_length", "toy_length"])


def test_registry():
    names = list_rewards()
    for n in ["jpeg_compressibility", "jpeg_incompressibility", "aesthetic", "clip_score", "pickscore"]:
        assert n in list_rewards("image")
    for n in ["harmless", "helpful", "humor", "summary", "faithful", "deberta"]:
        assert n in list_rewards("text")
    assert names == sorted(names)
    with pytest.raises(ValueError, match="already registered"):
        register_reward("aesthetic", ToyBrightness, modality="image")
    assert isinstance(get_reward("jpeg_compressibility", quality=80), JpegCompressibility)


def test_toy_image_rewards_score_folders_of_mixed_sizes():
    """A relabelling batch may mix sizes (a folder of real photos): each image scores as it would alone."""
    from PIL import Image

    from rewards import RewardSet

    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(16, 16), (24, 32), (16, 16)]
    ]
    names = ["toy_brightness", "toy_colorfulness", "toy_detail", "toy_stripes"]
    together = RewardSet(names, progress=False)(images=images).values
    alone = np.concatenate([RewardSet(names, progress=False)(images=[im]).values for im in images])
    np.testing.assert_allclose(together, alone, rtol=1e-6)
