"""Every bad input we try, on every command line and in the app, with what the user is shown.

Each case is run as the user's entry point runs it (a console script's ``main(argv)``, the app's own
``generate`` handlers, ``app.main`` up to the launch) and classified:

- ``readable``: refused with one line (exit 2 on a command line, a ``gr.Error`` in the app) that names
  the problem (the case's expected words are in it), no traceback;
- ``handled``: not an error, and the right thing was done (checked by the case);
- ``UNCLEAR``: refused, but with a traceback, a bare error or a message that does not name the problem;
- ``ACCEPTED``: ran as if the input were fine: silently wrong.

``python tests/bad_inputs.py docs/bad-inputs.md`` writes the table (tests/test_bad_inputs.py runs the same
cases and requires 100 % readable or handled).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import platform
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAN, INF = float("nan"), float("inf")


@dataclass
class Case:
    surface: str  # the command or the app tab
    given: str  # the input, as the user typed it
    run: Callable[[dict[str, Any]], tuple[str, str]]  # ctx -> (verdict, message)


@dataclass
class Outcome:
    surface: str
    given: str
    verdict: str
    message: str


# ---- command lines ---------------------------------------------------------------------------------------------
def call_main(main: Callable[[list[str]], Any], argv: list[str], prog: str) -> tuple[int, str]:
    """Run a console entry point in this process as its script would: (exit code, what it printed to stderr)."""
    err, argv0 = io.StringIO(), sys.argv[0]
    sys.argv[0] = prog  # argparse names the program from it
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            rc = e.code if isinstance(e.code, int) else 1
        except Exception:  # what the user would see: a traceback
            traceback.print_exc(file=err)
            rc = 1
        finally:
            sys.argv[0] = argv0
    return int(rc or 0), err.getvalue()


def judge_cli(rc: int, stderr: str, words: tuple[str, ...]) -> tuple[str, str]:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1].split("\r")[-1].strip() if lines else ""  # what a terminal shows: after a progress bar's \r
    if rc == 0:
        return "ACCEPTED", last or "(exit 0)"
    if "Traceback" in stderr:
        return "UNCLEAR", last
    return ("readable" if all(w.lower() in last.lower() for w in words) else "UNCLEAR"), last


def cli(surface: str, target: str, argv: Callable[[dict], list], *words: str, given: str | None = None) -> Case:
    """A command-line case: ``target`` is "module:function"; ``words`` must appear in the error line."""

    def run(ctx: dict[str, Any]) -> tuple[str, str]:
        import importlib

        module, fn = target.split(":")
        rc, err = call_main(getattr(importlib.import_module(module), fn), argv(ctx), surface)
        return judge_cli(rc, err, words)

    return Case(surface, given or "", run)


def train_d(*overrides: str, words: tuple[str, ...], given: str | None = None) -> Case:
    def argv(ctx):
        return ctx["diffusion_args"](ctx["tmp"] / f"run{next(ctx['runs'])}", *overrides)

    return cli("ric-diffusion-train", "ric_diffusion.train:main", argv, *words, given=given or " ".join(overrides))


def train_t(*overrides: str, words: tuple[str, ...], given: str | None = None) -> Case:
    def argv(ctx):
        return ctx["text_args"](ctx["tmp"] / f"run{next(ctx['runs'])}", *overrides)

    return cli("ric-text-train", "ric_text.train:main", argv, *words, given=given or " ".join(overrides))


def gen_d(*flags: str, words: tuple[str, ...], prompt: bool = True, pref: bool = True) -> Case:
    def argv(ctx):
        base = ["--checkpoint", ctx["image_ckpt"], "--out", ctx["tmp"] / "samples"]
        base += ["--prompt", "a square"] if prompt else []
        base += ["--preference", "0.5", "0.5"] if pref else []
        return base + list(flags)

    return cli("ric-diffusion-generate", "ric_diffusion.generate:main", argv, *words, given=" ".join(flags))


def gen_t(*flags: str, words: tuple[str, ...], pref: bool = True) -> Case:
    def argv(ctx):
        base = ["--checkpoint", ctx["text_ckpt"], "--prompt", "how do I bake bread?"]
        return base + (["--preference", "0.5", "0.5"] if pref else []) + list(flags)

    return cli("ric-text-generate", "ric_text.generate:main", argv, *words, given=" ".join(flags))


def bench(script: str, *flags: str, words: tuple[str, ...]) -> Case:
    module = "ric_diffusion.benchmark" if "diffusion" in script else "ric_text.benchmark"
    rewards = ["toy_brightness", "jpeg_compressibility"] if "diffusion" in script else ["toy_length", "toy_sentiment"]

    def argv(ctx):
        args = list(flags)
        if "--model" not in args:
            args += ["--model", f"ric={ctx['image_ckpt' if 'diffusion' in script else 'text_ckpt']}"]
        if "--rewards" not in args:
            args += ["--rewards", *rewards]
        return [*args, "--out", ctx["tmp"] / "bench"]

    return cli(script, f"{module}:main", argv, *words, given=" ".join(flags))


def ric(*argv: str, words: tuple[str, ...]) -> Case:
    return cli("ric", "ric_demo.cli:cli", lambda ctx: list(argv), *words, given=" ".join(argv))


def module_flags(module: str, *flags: str, words: tuple[str, ...]) -> Case:
    """A ``python -m module`` command run for one preference with ``flags`` (the RL baselines)."""
    argv = ["--preferences", "1,0", *flags]
    return cli(f"python -m {module}", f"{module}:main", lambda ctx: argv, *words, given=" ".join(flags))


# ---- the app -------------------------------------------------------------------------------------------------
IMAGE_FIELDS = ["prompt", "mapping", "steps", "guidance", "reward guidance", "seed", "images", "w1", "w2"]
IMAGE_OK = ["a square number 3", "linf", 4, 2.0, 2.0, 0, 1, 0.5, 0.5]
TEXT_FIELDS = ["prompt", "mapping", "temperature", "max tokens", "seed", "samples", "w1", "w2"]
TEXT_OK = ["how do I bake bread?", "linf", 0.7, 8, 0, 1, 0.5, 0.5]


def judge_app(call: Callable[[], Any], words: tuple[str, ...]) -> tuple[str, str]:
    import gradio as gr

    try:
        call()
    except gr.Error as e:
        message = str(e.message if hasattr(e, "message") else e)
        return ("readable" if all(w.lower() in message.lower() for w in words) else "UNCLEAR"), message
    except Exception as e:  # gradio shows a bare "Error" for these
        return "UNCLEAR", f'"Error" (the reason, {type(e).__name__}: {e}, only in the server log)'
    return "ACCEPTED", "(returned a result)"


def app_field(tab: str, field: str, value: Any, *words: str, given: str | None = None, **also: Any) -> Case:
    fields, ok = (IMAGE_FIELDS, IMAGE_OK) if tab == "image" else (TEXT_FIELDS, TEXT_OK)

    def run(ctx):
        args = list(ok)
        args[fields.index(field)] = value
        for k, v in also.items():
            args[fields.index(k.replace("_", " "))] = v
        model = ctx["image_model"] if tab == "image" else ctx["text_model"]
        return judge_app(lambda: model.generate(*args), words)

    shown = given or f"{field} = {value!r}" + "".join(f", {k.replace('_', ' ')} = {v!r}" for k, v in also.items())
    return Case(f"app: {tab} tab", shown, run)


def app_cli(*argv: str, words: tuple[str, ...]) -> Case:
    """``python app.py ...``: refused before the server starts (a launch here counts as accepted)."""

    def run(ctx):
        import gradio as gr

        import app

        class Launched(Exception):
            pass

        def launch(*a, **k):
            raise Launched

        def main(args):
            real, gr.Blocks.launch = gr.Blocks.launch, launch
            try:
                return app.main(args)
            finally:
                gr.Blocks.launch = real

        rc, err = call_main(main, [str(a).format(**ctx) for a in argv], "app.py")
        if "Launched" in err:
            return "ACCEPTED", "(the server started)"
        return judge_cli(rc, err, words)

    return Case("python app.py", " ".join(argv), run)


def greedy_text(ctx: dict[str, Any]) -> tuple[str, str]:
    """Temperature 0 in the app is greedy decoding: the same text whatever the seed."""
    m = ctx["text_model"]
    a = m.generate(*TEXT_OK[:2], 0, 8, 0, 2, 0.5, 0.5)[0]
    b = m.generate(*TEXT_OK[:2], 0, 8, 7, 2, 0.5, 0.5)[0]
    texts = {row[0] for row in a + b}
    return (
        "handled" if len(texts) == 1 else "ACCEPTED"
    ), f"greedy decoding: {len(texts)} distinct text(s) over 2 seeds"


def greedy_cli(ctx: dict[str, Any]) -> tuple[str, str]:
    from ric_text.generate import generate

    with contextlib.redirect_stdout(io.StringIO()):
        base = ["--checkpoint", str(ctx["text_ckpt"]), "--prompt", "hi", "--preference", "0.5", "0.5"]
        texts = {generate([*base, "--temperature", "0", "--seed", s])[0].text for s in ("0", "7")}
    return (
        "handled" if len(texts) == 1 else "ACCEPTED"
    ), f"greedy decoding: {len(texts)} distinct text(s) over 2 seeds"


def run_all(ctx: dict[str, Any]) -> list[Outcome]:
    from bad_input_cases import CASES  # the catalogue builds on this module's constructors

    out = []
    for case in CASES:
        verdict, message = case.run(ctx)
        out.append(Outcome(case.surface, case.given, verdict, " ".join(message.split())))
    return out


def table(outcomes: list[Outcome], header: str) -> str:
    counts = {v: sum(o.verdict == v for o in outcomes) for v in ("readable", "handled", "UNCLEAR", "ACCEPTED")}
    n = len(outcomes)
    good = counts["readable"] + counts["handled"]
    lines = [
        "# Bad inputs: what the user is shown",
        "",
        header,
        "",
        f"{n} bad inputs: {counts['readable']} refused with a readable message, {counts['handled']} handled "
        f"correctly, {counts['UNCLEAR']} unclear, {counts['ACCEPTED']} silently accepted "
        f"({100 * good / max(n, 1):.0f} % readable or handled).",
        "",
        "| where | input | outcome | what the user sees |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        message = o.message.replace("|", "\\|")
        lines.append(f"| {o.surface} | `{o.given[:80]}` | {o.verdict} | {message[:300]} |")
    return "\n".join(lines) + "\n"


def build_context(root: Path) -> dict[str, Any]:
    """Tiny checkpoints of both modalities and the loaded app models (what the table and the test use)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).parent))
    from helpers import make_byte_bpe_tokenizer, make_classifier, make_tiny_llama, write_hh_jsonl, write_image_folder

    import app
    from ric_diffusion.tiny import make_tiny_sd
    from ric_diffusion.train import train as diffusion_train
    from ric_text.train import train as text_train

    root.mkdir(parents=True, exist_ok=True)
    tok = make_byte_bpe_tokenizer(root / "tok")
    sd, images = make_tiny_sd(root / "tiny-sd"), write_image_folder(root / "images")
    policy, data = make_tiny_llama(root / "llama", tok), write_hh_jsonl(root / "hh.jsonl")
    rms = [make_classifier(root / f"rm{i}", tok, 1, seed=i) for i in (1, 2)]
    return context(root, sd, images, (policy, data, rms), diffusion_train, text_train, app)


def context(root, sd, images, text_world, diffusion_train, text_train, app) -> dict[str, Any]:
    from helpers import tiny_text_args, tiny_train_args

    policy, data, rms = text_world
    with contextlib.redirect_stderr(io.StringIO()):
        diffusion_train(tiny_train_args(sd, images, root / "image"))
        text_train(tiny_text_args(policy, data, rms, root / "text"))
    return {
        "tmp": root,
        "runs": itertools.count(),
        "image_ckpt": root / "image",
        "text_ckpt": root / "text",
        "diffusion_args": lambda out, *o: tiny_train_args(sd, images, out, "train.max_steps=2", *o),
        "text_args": lambda out, *o: tiny_text_args(policy, data, rms, out, "train.max_steps=2", *o),
        "image_model": app.ImageModel(root / "image"),
        "text_model": app.TextModel(root / "text"),
    }


if __name__ == "__main__":
    import datetime
    import tempfile

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/bad-inputs.md")
    outcomes = run_all(build_context(Path(tempfile.mkdtemp())))
    when = datetime.date.today().isoformat()
    header = (
        f"Written by `python tests/bad_inputs.py {target}` on {when} ({platform.machine()}, {os.cpu_count()} "
        "cores, tiny checkpoints of both modalities); tests/test_bad_inputs.py runs the same cases."
    )
    target.write_text(table(outcomes, header))
    print(json.dumps({o: sum(x.verdict == o for x in outcomes) for o in {x.verdict for x in outcomes}}))
