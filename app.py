"""The ric Gradio app: preference sliders -> images or text, with target and measured rewards.

    python app.py [--image-checkpoint DIR] [--text-checkpoint DIR] [--summary FILE ...] [--port 7860]

With no arguments it serves the checkpoints that ``ric demo`` writes (runs/demo/...). The image tab
draws the checkpoint's measured front from any sweep's ``summary.json`` that measured it (``--summary``,
else the ones beside the checkpoint: ``ric demo``, ``ric benchmark``, ``python -m ric_diffusion.benchmark``).
The server binds 127.0.0.1 unless told otherwise; ``--share`` is off unless asked.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ric_core.mapping import METHODS, validate_preference

DEMO_IMAGE = Path("runs/demo/image/ric")
DEMO_TEXT = Path("runs/demo/text/ric")
MAX_STEPS, MAX_IMAGES, MAX_SEED, MAX_GUIDANCE, MAX_TEMPERATURE = 200, 8, 2**31 - 1, 50.0, 5.0
MISSING = (
    "No {kind} checkpoint at `{path}`. Create the demo checkpoints with `ric demo` (a few minutes on a CPU), "
    "or start the app with `python app.py --{kind}-checkpoint DIR`."
)


def normalised_weights(weights: Sequence[float]) -> np.ndarray:
    """Slider values -> simplex weights; all-zero sliders are a message, not an exception."""
    import gradio as gr

    try:
        return validate_preference([float(w) for w in weights])
    except ValueError as e:
        raise gr.Error(f"Preference: {e}") from None


def number(value: Any, label: str, lo: float, hi: float, integer: bool = False) -> float:
    """A field's value, or a readable message: empty, NaN, infinite and out-of-range values are refused."""
    import gradio as gr

    kind = "a whole number" if integer else "a number"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{label} must be {kind} between {lo:g} and {hi:g}.") from None
    if not lo <= x <= hi or (integer and x != int(x)):  # NaN fails the range test
        raise gr.Error(f"{label} must be {kind} between {lo:g} and {hi:g}; got {value}.")
    return int(x) if integer else x


def check_common(prompt: str, seed: float, count: float, limit: int) -> tuple[str, int, int]:
    import gradio as gr

    prompt = (prompt or "").strip()
    if not prompt:
        raise gr.Error("Write a prompt first: it is empty.")
    seed = number(seed, "Seed", 0, MAX_SEED, integer=True)
    return prompt, seed, number(count, "The number of samples", 1, limit, integer=True)


def check_mapping(mapping: Any) -> str:
    import gradio as gr

    if mapping not in METHODS:
        raise gr.Error(f"Mapping must be one of {', '.join(METHODS)}; got {mapping!r}.")
    return mapping


def weights_markdown(names: Sequence[str], w: np.ndarray) -> str:
    return "Normalised weights: " + ", ".join(f"**{n}** {v:.2f}" for n, v in zip(names, w, strict=True))


class ImageModel:
    """A RiC diffusion checkpoint plus its reward models, loaded once, used under a lock."""

    def __init__(self, path: Path, summaries: Sequence[Path] = ()):
        from rewards import reward_set_from_config
        from ric_diffusion.checkpoint import resolve_checkpoint
        from ric_diffusion.pipeline import RiCDiffusionPipeline
        from ric_eval.front import find_front

        self.pipe = RiCDiffusionPipeline.from_checkpoint(path)
        self.rewards = reward_set_from_config(self.pipe.config.rewards)
        self.rewards.progress = False
        self.names = list(self.pipe.reward_names)
        self.lock = threading.Lock()  # one generation at a time per model; requests queue in gradio
        front = find_front(path, resolve_checkpoint, summaries)
        # the sweep's means (raw) in the units of the table and the star: this checkpoint's z-scores
        self.front = (
            None if front is None or front.reward_names != self.names else self.pipe.stats.normalize(front.means)
        )

    def generate(self, prompt, mapping, steps, guidance, reward_guidance, seed, count, *weights):
        import gradio as gr

        prompt, seed, count = check_common(prompt, seed, count, MAX_IMAGES)
        mapping = check_mapping(mapping)
        steps = number(steps, "Steps", 1, MAX_STEPS, integer=True)
        guidance = number(guidance, "Guidance scale", 0, MAX_GUIDANCE)
        reward_guidance = number(reward_guidance, "Reward guidance scale", 0, MAX_GUIDANCE)
        if reward_guidance != guidance and guidance <= 1:
            raise gr.Error("Reward guidance works on top of classifier-free guidance: set the guidance scale above 1.")
        w = normalised_weights(weights)
        with self.lock:
            out = self.pipe(
                prompt,
                preference=w.tolist(),
                mapping=mapping,
                num_inference_steps=int(steps),
                guidance_scale=float(guidance),
                reward_guidance_scale=float(reward_guidance),
                num_images_per_prompt=count,
                seed=seed,
            )
            measured = self.rewards(images=out.images, prompts=[prompt] * count).values
        z = self.pipe.stats.normalize(measured.mean(0))
        table = [
            [n, round(float(t), 2), round(float(m), 2)] for n, t, m in zip(self.names, out.targets, z, strict=True)
        ]
        return out.images, table, weights_markdown(self.names, w), self.front_plot(z)

    def front_plot(self, point: np.ndarray) -> Any:
        if self.front is None:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.2, 3.4))
        pts = np.asarray(self.front)
        ax.plot(pts[:, 0], pts[:, 1], "o-", alpha=0.5, label="measured front (sweep)")
        ax.plot([point[0]], [point[1]], "r*", markersize=14, label="this generation")
        ax.set_xlabel(self.names[0])
        ax.set_ylabel(self.names[1])
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


class TextModel:
    def __init__(self, path: Path, trust_remote_code: bool = False):
        from rewards import reward_set_from_config
        from ric_text.generate import TextGenerator

        self.gen = TextGenerator.from_checkpoint(path, trust_remote_code=trust_remote_code)  # never from the file
        self.rewards = reward_set_from_config(self.gen.cfg.rewards)
        self.rewards.progress = False
        self.names = list(self.gen.stats.names)
        self.lock = threading.Lock()
        self.context = self.gen.context or 2048

    def generate(self, prompt, mapping, temperature, max_tokens, seed, count, *weights):
        import gradio as gr

        prompt, seed, count = check_common(prompt, seed, count, 8)
        mapping = check_mapping(mapping)
        temperature = number(temperature, "Temperature (0 = greedy)", 0, MAX_TEMPERATURE)
        room = self.context - len(self.gen.tok(prompt).input_ids) - 32  # 32: tags and the response marker
        if room < 1:
            raise gr.Error(f"The prompt is too long for this model, which reads {self.context} tokens: shorten it.")
        max_tokens = number(max_tokens, "Max new tokens", 1, min(512, room), integer=True)
        w = normalised_weights(weights)
        with self.lock:
            res = self.gen(
                [prompt] * count,
                preference=w.tolist(),
                mapping=mapping,
                temperature=float(temperature),
                max_new_tokens=int(max_tokens),
                seed=seed,
            )
            measured = self.rewards(prompts=[r.prompt for r in res], completions=[r.text for r in res]).values
        z = self.gen.stats.normalize(measured)
        rows = [[r.text, *[round(float(v), 2) for v in zi]] for r, zi in zip(res, z, strict=True)]
        targets = " · ".join(f"{n} {t:.1f}" for n, t in zip(self.names, res[0].targets, strict=True))
        return rows, f"Targets (normalised): {targets}", weights_markdown(self.names, w)


def _mapping(gr: Any, default: str) -> Any:
    """The preference -> target rules a slider can use (``lp`` needs its p, so it is left out), starting
    at the checkpoint's own rule (the demo's image world uses ``quantile_linear``)."""
    choices = [m for m in METHODS if m != "lp"]
    return gr.Dropdown(choices, value=default if default in choices else "linf", label="Mapping")


def _sliders(gr: Any, names: Sequence[str]) -> list[Any]:
    return [gr.Slider(0, 1, value=1.0 / len(names), step=0.05, label=f"weight: {n}") for n in names]


def build_app(
    image_ckpt: Path | None,
    text_ckpt: Path | None,
    concurrency: int = 2,
    summaries: Sequence[Path] = (),
    trust_remote_code: bool = False,
    max_queue: int = 64,
) -> Any:
    """The Blocks app; a missing checkpoint shows how to create it instead of its tab's controls."""
    import gradio as gr

    with gr.Blocks(title="ric: Rewards-in-Context") as demo:
        gr.Markdown(
            "# ric: one model, any trade-off\nMove the sliders: they are normalised to weights that sum to 1, "
            "mapped to target rewards and written into the model's condition."
        )
        with gr.Tab("Image"):
            if image_ckpt is None or not _exists(image_ckpt):
                gr.Markdown(MISSING.format(kind="image", path=shown(image_ckpt or DEMO_IMAGE)))
            else:
                _image_tab(gr, ImageModel(image_ckpt, summaries), concurrency)
        with gr.Tab("Text"):
            if text_ckpt is None or not _exists(text_ckpt):
                gr.Markdown(MISSING.format(kind="text", path=shown(text_ckpt or DEMO_TEXT)))
            else:
                _text_tab(gr, TextModel(text_ckpt, trust_remote_code), concurrency)
    return demo.queue(default_concurrency_limit=concurrency, max_size=max_queue)


def _image_tab(gr: Any, m: ImageModel, concurrency: int) -> None:
    prompt = gr.Textbox(label="Prompt", value="a red circle on a white background")
    sliders = _sliders(gr, m.names)
    with gr.Row():
        mapping = _mapping(gr, m.pipe.config.inference.mapping)
        steps = gr.Number(20, label="Steps", precision=0)
        guidance = gr.Number(2.0, label="Guidance scale")
        rguidance = gr.Number(2.0, label="Reward guidance scale")
        seed = gr.Number(0, label="Seed", precision=0)
        count = gr.Number(4, label="Images", precision=0)
    button = gr.Button("Generate images", variant="primary", elem_id="generate-image")
    weights = gr.Markdown()
    gallery = gr.Gallery(label="Images", columns=4)
    table = gr.Dataframe(headers=["reward", "target", "measured"], label="Target vs measured (normalised)")
    front = gr.Plot(label="Measured front")
    button.click(
        m.generate,
        [prompt, mapping, steps, guidance, rguidance, seed, count, *sliders],
        [gallery, table, weights, front],
        api_name="generate_image",
        concurrency_limit=concurrency,
    )


def _text_tab(gr: Any, t: TextModel, concurrency: int) -> None:
    prompt = gr.Textbox(label="Prompt", value="Write a review of the umbrella.")
    sliders = _sliders(gr, t.names)
    with gr.Row():
        mapping = _mapping(gr, t.gen.cfg.inference.mapping)
        temperature = gr.Number(0.7, label="Temperature")
        max_tokens = gr.Number(72, label="Max new tokens", precision=0)
        seed = gr.Number(0, label="Seed", precision=0)
        count = gr.Number(3, label="Samples", precision=0)
    button = gr.Button("Generate text", variant="primary", elem_id="generate-text")
    weights, targets = gr.Markdown(), gr.Markdown()
    responses = gr.Dataframe(headers=["response", *[f"{n} (measured)" for n in t.names]], label="Responses")
    button.click(
        t.generate,
        [prompt, mapping, temperature, max_tokens, seed, count, *sliders],
        [responses, targets, weights],
        api_name="generate_text",
        concurrency_limit=concurrency,
    )


def shown(path: Path) -> str:
    """A path as the page may show it: relative to where the server was started, else only its last part
    (the page never reveals the server's directory layout)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return Path(path).name


def _exists(path: Path) -> bool:
    return path.exists() and any(path.iterdir())


def main(argv: list[str] | None = None) -> int:
    """``python app.py``: 0 after the server stops, 2 and one line on bad input."""
    from ric_runtime.config import console

    return console(serve, argv, "app.py")


def serve(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-checkpoint", type=Path, default=DEMO_IMAGE)
    ap.add_argument("--text-checkpoint", type=Path, default=DEMO_TEXT)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--concurrency", type=int, default=2, help="generations running at once; the rest queue")
    ap.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    ap.add_argument("--summary", type=Path, action="append", default=[], help="a sweep's summary.json (repeatable)")
    ap.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the text base model")
    ap.add_argument("--max-queue", type=int, default=64, help="requests waiting at most; more are turned away")
    ap.add_argument("--auth", help="USER:PASSWORD required to use the app (advised on a public --host or --share)")
    args = ap.parse_args(argv)
    auth = tuple(args.auth.split(":", 1)) if args.auth is not None else None
    if auth is not None and (len(auth) != 2 or not all(auth)):
        ap.error("--auth takes USER:PASSWORD (both non-empty)")
    for name, value, lo, hi in [("--concurrency", args.concurrency, 1, 64), ("--max-queue", args.max_queue, 1, 10**6)]:
        if not lo <= value <= hi:
            ap.error(f"{name} must be between {lo} and {hi}; got {value}")
    if not 1 <= args.port <= 65535:
        ap.error(f"--port must be between 1 and 65535; got {args.port}")
    for path in args.summary:
        if not path.is_file():
            ap.error(f"--summary {path}: no such file (a sweep's summary.json)")
    app = build_app(
        args.image_checkpoint,
        args.text_checkpoint,
        args.concurrency,
        args.summary,
        args.trust_remote_code,
        args.max_queue,
    )
    app.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth)


if __name__ == "__main__":
    raise SystemExit(main())
