"""The Gradio app on tiny checkpoints: the API, bad input, concurrency, and a real headless browser."""

import os
import shutil
import urllib.request

import pytest
from helpers import tiny_text_args, tiny_train_args

import app


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_sd_dir, image_folder, tiny_text_world):
    from ric_diffusion.train import train as diffusion_train
    from ric_text.train import train as text_train

    root = tmp_path_factory.mktemp("app")
    diffusion_train(tiny_train_args(tiny_sd_dir, image_folder, root / "image"))
    policy, data, rms = tiny_text_world
    text_train(tiny_text_args(policy, data, rms, root / "text"))
    return root / "image", root / "text"


@pytest.fixture(scope="module")
def server(checkpoints):
    demo = app.build_app(*checkpoints, concurrency=2)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


IMAGE_ARGS = ["a square number 3", "linf", 4, 2.0, 2.0, 0, 2]


def targets_of(table):
    return [row[1] for row in table["data"]]


def test_image_generation_and_targets_follow_the_sliders(client):
    gallery, table, weights, _ = client.predict(*IMAGE_ARGS, 0.9, 0.1, api_name="/generate_image")
    assert len(gallery) == 2 and all(os.path.exists(item["image"]) for item in gallery)
    assert [row[0] for row in table["data"]] == ["toy_brightness", "jpeg_compressibility"]
    assert "0.90" in weights and "0.10" in weights
    _, table2, weights2, _ = client.predict(*IMAGE_ARGS, 0.2, 0.6, api_name="/generate_image")
    assert targets_of(table) != targets_of(table2)
    assert "0.25" in weights2 and "0.75" in weights2  # sliders are normalised to the simplex


def test_text_generation(client):
    rows, targets, weights = client.predict(
        "how do I bake bread?", "linf", 0.7, 12, 0, 2, 0.5, 0.5, api_name="/generate_text"
    )
    assert len(rows["data"]) == 2 and "harmless" in targets and "0.50" in weights


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({0: "   "}, "prompt"),
        ({7: 0.0, 8: 0.0}, "all zero"),
        ({2: 100000}, "Steps must be a whole number between 1 and 200"),
        ({5: -1}, "Seed must be"),
        ({6: 50}, "number of samples"),
        ({3: 1e30}, "Guidance scale must be"),
        ({3: 1.0, 4: 3.0}, "set the guidance scale above 1"),
    ],
)
def test_bad_input_gives_a_message_and_the_server_keeps_serving(client, override, message):
    args = [*IMAGE_ARGS, 0.5, 0.5]
    for i, v in override.items():
        args[i] = v
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/generate_image")
    gallery, *_ = client.predict(*IMAGE_ARGS, 0.5, 0.5, api_name="/generate_image")
    assert len(gallery) == 2


TEXT_ARGS = ["how do I bake bread?", "linf", 0.7, 12, 0, 2, 0.5, 0.5]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({2: -1}, "Temperature"),
        ({3: 100000}, "Max new tokens must be a whole number between 1 and"),
        ({0: "bread " * 3000}, "The prompt is too long for this model"),
    ],
)
def test_bad_text_input_gives_a_message(client, override, message):
    args = list(TEXT_ARGS)
    for i, v in override.items():
        args[i] = v
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/generate_text")


def test_nan_and_infinite_fields_get_a_message(checkpoints):
    """JSON cannot carry NaN, but the UI's number boxes and other clients can: each field refuses it by name."""
    import gradio as gr

    image, text = app.ImageModel(checkpoints[0]), app.TextModel(checkpoints[1])
    nan, inf = float("nan"), float("inf")
    for i, label in [(2, "Steps"), (3, "Guidance scale"), (4, "Reward guidance scale"), (5, "Seed"), (6, "number")]:
        for bad in (nan, inf, None, "abc"):
            args = [*IMAGE_ARGS, 0.5, 0.5]
            args[i] = bad
            with pytest.raises(gr.Error, match=label):
                image.generate(*args)
    for i, label in [(2, "Temperature"), (3, "Max new tokens")]:
        args = list(TEXT_ARGS)
        args[i] = nan
        with pytest.raises(gr.Error, match=label):
            text.generate(*args)


def test_temperature_zero_is_greedy(client):
    rows, _, _ = client.predict("how do I bake bread?", "linf", 0, 12, 0, 2, 0.5, 0.5, api_name="/generate_text")
    other, _, _ = client.predict("how do I bake bread?", "linf", 0, 12, 7, 2, 0.5, 0.5, api_name="/generate_text")
    texts = [r[0] for r in rows["data"]] + [r[0] for r in other["data"]]
    assert len(set(texts)) == 1  # greedy: the same text whatever the seed (sampling was given before)


def test_twenty_concurrent_requests(client):
    jobs = [client.submit(*IMAGE_ARGS[:5], i, 1, 0.3, 0.7, api_name="/generate_image") for i in range(20)]
    results = [job.result(timeout=300) for job in jobs]
    assert len(results) == 20 and all(len(r[0]) == 1 for r in results)


def test_missing_checkpoints_show_the_command(tmp_path):
    demo = app.build_app(tmp_path / "nothing", None)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        config = urllib.request.urlopen(demo.local_url + "config").read().decode()
    finally:
        demo.close()
    assert "ric demo" in config and "No image checkpoint" in config and "No text checkpoint" in config
    assert str(tmp_path) not in config  # the page never shows the server's directories


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)")
@pytest.mark.e2e
def test_browser_page_generates_an_image(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.goto(server, wait_until="networkidle")
        assert page.locator("input[type=range]").count() >= 2  # one slider per reward
        page.locator("#generate-image").click()
        page.locator("img[src*='file=']").or_(page.locator(".gallery img, [data-testid='gallery'] img")).first.wait_for(
            timeout=120_000
        )
        shot = tmp_path / "app.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    artefacts = os.environ.get("RIC_TEST_ARTEFACTS")
    if artefacts:
        shutil.copy(shot, artefacts)


def test_front_of_a_cli_trained_checkpoint_swept_by_the_sd_benchmark(checkpoints, tmp_path):
    """The app draws the front that `python -m ric_diffusion.benchmark` measured for this checkpoint,
    from a --summary file anywhere, or found beside the checkpoint; another model's front is never used."""
    import json
    import subprocess
    import sys

    import numpy as np

    from ric_core.stats import RewardStats
    from ric_diffusion.checkpoint import resolve_checkpoint

    image_run = checkpoints[0]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red square\n")

    def sweep(out):
        cmd = [sys.executable, "-m", "ric_diffusion.benchmark", "--model", f"mine={image_run}", "--rewards"]
        cmd += ["toy_brightness", "jpeg_compressibility", "--prompts", str(prompts), "--steps", "2", "--out", str(out)]
        assert subprocess.run(cmd, capture_output=True, timeout=600).returncode == 0
        summary = json.loads((out / "summary.json").read_text())
        prefs = summary["models"]["mine"]["preferences"].values()
        return np.array([[p["mean"][n] for n in summary["reward_names"]] for p in prefs])

    beside, elsewhere = sweep(image_run / "bench"), sweep(tmp_path / "bench")
    stats = RewardStats.load(resolve_checkpoint(image_run))
    found = app.ImageModel(image_run)  # discovered next to the checkpoint
    given = app.ImageModel(image_run, [tmp_path / "bench" / "summary.json"])  # --summary
    np.testing.assert_allclose(found.front, stats.normalize(beside))
    np.testing.assert_allclose(given.front, stats.normalize(elsewhere))
    assert len(found.front) == 11 and found.front_plot(found.front[0]) is not None
    other = tmp_path / "other.json"
    other.write_text("{}")
    assert app.ImageModel(image_run, [other]).front is None
