"""The models and worlds ``ric study`` sweeps: RiC per (world, variant, seed), trained once with the demo's
presets under ``--out/models``, its world under ``--out/cache``, each built by one process at a time (a
lock file beside it: ``benchmarks/study_set.sh`` runs parts side by side, and a part that needs what
another is building waits for it).

    >>> offline_name("text", quick=False)
    'checkpoint-500'
"""

from __future__ import annotations

import json
from pathlib import Path

from ric_demo import settings
from ric_demo.settings import stage
from ric_demo.study_specs import DEFAULT, MORS_SAMPLES, Setting, Variant
from ric_runtime.io import exclusive


def ric_checkpoint(world: str, out: Path, seed: int, quick: bool, variant: Variant = DEFAULT) -> Path:
    """RiC after its online iterations for (world, variant, seed), trained once with the demo's presets (by
    one process: a study running beside this one waits for it, ``benchmarks/study_set.sh``)."""
    root = models_root(out, seed, quick, variant)
    with exclusive(model_lock(root, world)):
        return _trained_checkpoint(world, out, seed, quick, variant, root)


def models_root(out: Path, seed: int, quick: bool, variant: Variant = DEFAULT) -> Path:
    """Where (seed, variant)'s runs live: ``out/models/s<seed>/<variant>/<world>/``; the demo's own at
    ``out/models/s<seed>/<world>/``."""
    return out / "models" / f"s{seed}{'_quick' if quick else ''}" / variant.key


def model_lock(root: Path, world: str) -> Path:
    """The lock file held while a world's models under ``root`` are trained."""
    return root / f"{world}.lock"


def _trained_checkpoint(world: str, out: Path, seed: int, quick: bool, variant: Variant, root: Path) -> Path:
    if variant.online:
        return online_variant(world, out, seed, quick, variant, root)
    if world == "image":
        from ric_demo import image_demo
        from ric_demo.image_world import reward_specs
        from ric_diffusion.train import train

        ckpt = image_demo.image_models(root, quick)["ric_online"]
        if not ckpt.is_dir():
            stage(f"study: RiC in the image world ({variant.name}), seed {seed}")
            rewards = [f"rewards={json.dumps(reward_specs(variant.rewards))}"] if variant.rewards else []
            cache = image_world(out, seed, quick, variant)
            train(image_demo.base_args(cache, seed, quick, *run_args(root, world), *rewards))
        return ckpt
    from ric_demo import text_demo
    from ric_text.train import train

    ckpt = text_demo.text_models(root, quick)["ric_online"]
    if not ckpt.is_dir():
        stage(f"study: RiC in the text world ({variant.name}), seed {seed}")
        rewards = [f"rewards=[{','.join(variant.rewards)}]"] if variant.rewards else []
        train(text_demo.base_args(text_world(out, seed, quick, variant), seed, quick, *run_args(root, world), *rewards))
    return ckpt


def run_args(root: Path, world: str) -> list[str]:
    return [f"train.output_dir={root / world / 'ric'}"]


def image_world(out: Path, seed: int, quick: bool, variant: Variant = DEFAULT) -> Path:
    """The image world's data and pre-trained base: the demo's, or for a variant with its own rewards the
    five-reward world at the variant's rho (its own base model, pre-trained on it)."""
    from ric_demo import image_demo
    from ric_demo.image_world import build_dataset

    s, cache = settings.world_settings("image", quick), settings.world_dir(out, "image", seed, quick)
    five = variant.rewards is not None
    if five:
        cache = cache.with_name(f"{cache.name}_five" + (f"_rho{variant.rho:+.2f}" if variant.rho else ""))
    with exclusive(cache.with_name(f"{cache.name}.lock")):
        data = build_dataset(cache, s["images"], seed, five, variant.rho, variant.pair)  # rho, pair: five only
        image_demo.base_model(cache, data, seed, s["pretrain_steps"])
    return cache


def offline_name(world: str, quick: bool) -> str:
    """The folder name of the demo run's offline checkpoint (``checkpoint-<offline steps>``)."""
    from ric_demo import image_demo, text_demo

    return (text_demo.text_models if world == "text" else image_demo.image_models)(Path("."), quick)["ric"].name


def online_variant(world: str, out: Path, seed: int, quick: bool, variant: Variant, root: Path) -> Path:
    """The demo's offline run copied (its online part left out), then resumed with the variant's online
    settings: every online variant starts from the same offline model. Returns the run folder."""
    import shutil

    run = root / world / "ric"
    if (run / "online" / "state.json").is_file() and _iterations_done(run) >= _iterations(variant):
        return run
    demo_run = ric_checkpoint(world, out, seed, quick, DEFAULT).parent  # the demo's run, trained if missing
    keep = {offline_name(world, quick), "relabel", "cache", "README.md"}  # offline model, scores, latent cache
    if not run.is_dir():
        top = str(demo_run)
        shutil.copytree(demo_run, run, ignore=lambda d, names: [n for n in names if d == top and n not in keep])
    stage(f"study: online variant {variant.name} in the {world} world, seed {seed}")
    if world == "text":
        from ric_demo.text_demo import base_args
        from ric_text.config import TextConfig as Config
        from ric_text.train import train

        args = base_args(text_world(out, seed, quick, DEFAULT), seed, quick, *run_args(root, world))
    else:
        from ric_demo.image_demo import base_args
        from ric_diffusion.config import DiffusionConfig as Config
        from ric_diffusion.train import train

        args = base_args(image_world(out, seed, quick), seed, quick, *run_args(root, world))
    base = settings.trainer_config(Config, world, quick).online.num_samples if quick else MORS_SAMPLES[world]
    per_iteration = base * variant.samples_factor
    train([*args, *variant.online, f"online.num_samples={max(1, round(per_iteration))}"])
    return run


def _iterations(variant: Variant) -> int:
    return next(int(o.split("=")[1]) for o in variant.online if o.startswith("online.iterations="))


def _iterations_done(run: Path) -> int:
    return json.loads((run / "online" / "state.json").read_text())["iteration"]


def setting_checkpoint(ckpt: Path, setting: Setting, world: str, quick: bool) -> Path:
    """The folder a setting sweeps: ``ckpt`` itself, the offline checkpoint of its run, or for an online
    variant (``ckpt`` is then its run folder) the last iteration's policy or the named folder of the run."""
    if setting.checkpoint == "offline":  # beside the final model of a demo run, in an online variant's run
        return (ckpt if setting.variant.online else ckpt.parent) / offline_name(world, quick)
    if not setting.variant.online:
        return ckpt
    if setting.checkpoint == "final":
        return ckpt / "online" / f"iter{_iterations(setting.variant) - 1}" / "policy"
    return ckpt / setting.checkpoint


def text_world(out: Path, seed: int, quick: bool, variant: Variant):
    from ric_demo.text_world import build_world

    root = settings.world_dir(out, "text", seed, quick)
    with exclusive(root.with_name(f"{root.name}.lock")):  # the rho worlds share the base model of root
        return build_world(root, seed, quick, variant.rho, variant.pair)
