"""Nested dataclass configs from YAML plus dotted ``key=value`` overrides, validated, saved as JSON.

Both trainers use it: ``--config configs/diffusion/sd15.yaml train.max_steps=100 lora.rank=8``.
Unknown keys are errors that list the valid ones, so a typo never silently does nothing.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _unwrap_optional(tp: Any) -> Any:
    """``X | None`` -> X when X is a dataclass, so nested optional sections still build."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check a value against its field's type. Numbers written as YAML strings ("1e-3" is a string in YAML
    1.1) become the field's type; anything else of the wrong type (``ema=abc``, ``max_steps=2.5``) is an error."""
    base = _unwrap_optional(tp)
    if value is None and base is not tp:  # an Optional field
        return value
    kind = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}.get(base)
    try:
        if base is float and not isinstance(value, bool):
            return float(value)
        if base is int and not isinstance(value, (bool, float)):
            return int(value)
    except (TypeError, ValueError):
        pass
    ok = {bool: isinstance(value, bool), str: isinstance(value, str)}.get(base, base not in (float, int))
    if typing.get_origin(base) is list and not isinstance(value, list):
        kind, ok = "a list", False
    if not ok:
        raise ValueError(f"config key '{where}' must be {kind}; got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any] | None, path: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict; unknown keys raise with the valid names."""
    data = data or {}
    if not isinstance(data, dict):
        raise ValueError(f"config section '{path or cls.__name__}' must be a mapping; got {data!r}")
    types_ = _field_types(cls)
    unknown = set(data) - set(types_)
    if unknown:
        where = f"section '{path}'" if path else "the top level"
        raise ValueError(f"unknown config key(s) {sorted(unknown)} in {where}; valid keys: {sorted(types_)}")
    kwargs = {}
    for name, value in data.items():
        tp, where = _unwrap_optional(types_[name]), f"{path}.{name}" if path else name
        if _is_dataclass_type(tp) and isinstance(value, dict):
            value = from_dict(tp, value, where)
        kwargs[name] = _coerce(value, types_[name], where)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a dataclass config."""
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.max_steps=10"`` -> (["train", "max_steps"], 10); the value is read as YAML."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like key.subkey=value")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def merge_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {text!r}: '{k}' is not a section")
        node[keys[-1]] = value
    return data


def load_config(cls: type[T], path: str | os.PathLike | None, overrides: list[str] | None = None) -> T:
    """Read a YAML file (or nothing), apply dotted overrides, and build ``cls``.

    Example:
        >>> from ric_core.online import OnlineConfig
        >>> load_config(OnlineConfig, None, ["steps=3", "quantile=0.5"]).steps
        3
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {p} not found")
        data = yaml.safe_load(p.read_text()) or {}
    return from_dict(cls, merge_overrides(data, overrides or []))


def parse_cli(cls: type[T], argv: list[str] | None, description: str, example_preset: str) -> T:
    """The trainers' command line: ``--config YAML``, ``--resume latest|DIR`` and dotted overrides."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--config", help=f"YAML preset, e.g. {example_preset}")
    ap.add_argument("--resume", help="'latest' or a checkpoint folder (same as train.resume=...)")
    ap.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.max_steps=100")
    args = ap.parse_args(argv)
    overrides = list(args.overrides) + ([f"train.resume={args.resume}"] if args.resume else [])
    return load_config(cls, args.config, overrides)


# The errors a user can cause (bad config, missing file, wrong input): one line on stderr and a non-zero exit,
# never a traceback. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, KeyError)


def require_at_least_one(values: Any, *names: str) -> None:
    """Refuse a command-line count below 1 (``None`` = not given), naming the flag: ``values`` is the
    parsed arguments or a settings object with those attributes.

    Example:
        >>> import argparse
        >>> require_at_least_one(argparse.Namespace(steps=0), "steps")
        Traceback (most recent call last):
        ValueError: --steps must be >= 1; got 0
    """
    for name in names:
        value = getattr(values, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1; got {value}")


def console(entry: Any, argv: list[str] | None = None, prog: str = "ric") -> int:
    """Run ``entry(argv)`` for a console script: 0 on success, 2 with ``prog: error: ...`` on bad input.

    Example:
        >>> console(lambda argv: None, [])
        0
        >>> console(lambda argv: int("x"), [], prog="demo")  # doctest: +ELLIPSIS
        2
    """
    import sys

    try:
        entry(argv)
    except USER_ERRORS as e:
        close_progress_bars()  # the error starts its own line, not the end of a half-drawn bar
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"{prog}: error: {message}".splitlines()[0], file=sys.stderr)
        return 2
    return 0


def close_progress_bars() -> None:
    """Close every tqdm bar an exception left open (each ends its line), so what follows starts a new line."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def check_launch(num_processes: int, env: dict[str, str] | None = None) -> None:
    """Refuse at start-up the launches that would otherwise fail or go wrong hours later.

    Example:
        >>> check_launch(1, env={"WORLD_SIZE": "1"})
        >>> check_launch(1, env={"WORLD_SIZE": "2"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: launched as 2 processes but accelerate set up 1 ...
    """
    import importlib.util

    env = dict(os.environ) if env is None else env
    world = int(env.get("WORLD_SIZE", "1"))
    if world > 1 and num_processes == 1:  # e.g. a multi-GPU accelerate config on a machine with no visible GPU
        raise ValueError(
            f"launched as {world} processes but accelerate set up 1 (no visible CUDA device?): each copy would train "
            f"alone into the same folder. On CPUs: ACCELERATE_USE_CPU=1 accelerate launch --num_processes {world} ..."
        )
    if (
        env.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true")
        and importlib.util.find_spec("deepspeed") is None
    ):
        raise ValueError("this accelerate config uses DeepSpeed, which is not installed: pip install -e '.[deepspeed]'")
