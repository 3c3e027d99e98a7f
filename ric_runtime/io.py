"""Atomic file writes (a crash mid-write never leaves a half-written file behind) and the prompt reader."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``.

    Example:
        >>> import tempfile, pathlib
        >>> p = atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "hi")
        >>> p.read_text()
        'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically (see :func:`atomic_write_text`)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_write_folder(final: str | os.PathLike, writers: Sequence[Callable[[Path], None]]) -> Path:
    """Run each ``writer(tmp_dir)`` into a temp folder beside ``final``, then rename it into place.

    A crash leaves either the old folder or the new one, never a half-written one.

    Example:
        >>> import tempfile, pathlib
        >>> d = atomic_write_folder(pathlib.Path(tempfile.mkdtemp()) / "ckpt", [lambda t: (t / "a").write_text("1")])
        >>> (d / "a").read_text()
        '1'
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = final.with_name(f".{final.name}.tmp"), final.with_name(f".{final.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for write in writers:
        write(tmp)
    if final.exists():  # replacing (e.g. the final step == the last periodic one): swap, then drop the old
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old)
    else:
        tmp.rename(final)
    return final


def read_prompts(
    path: str | os.PathLike | None, dataset: str | None = None, column: str = "prompt", split: str = "test"
) -> list[str]:
    """Prompts from a text file (one per line; blank lines and lines starting with ``#`` skipped), a
    JSONL file (``column`` of each row) or a ``datasets`` name/path + column. The one prompt reader of
    the toolkit: the online stage and every sweep read prompt files through it.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.txt"
        >>> _ = f.write_text("# captions\\na cat\\n\\na dog\\n")
        >>> read_prompts(f)
        ['a cat', 'a dog']
    """
    if dataset:
        from datasets import load_dataset

        ds = load_dataset(dataset, split=split)
        if column not in ds.column_names:
            raise ValueError(f"{dataset} has no column {column!r}; it has {ds.column_names}: pass --prompts-column")
        return [str(x) for x in ds[column]]
    if path is None:
        raise ValueError("give a prompt file (one prompt per line) or a datasets name")
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if str(path).endswith(".jsonl"):
        rows = [json.loads(ln) for ln in lines if ln.strip()]
        missing = [i for i, r in enumerate(rows) if column not in r]
        if missing:
            raise ValueError(f"{path}: row {missing[0] + 1} has no {column!r} field; pass --prompts-column")
        return [str(r[column]) for r in rows]
    prompts = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not prompts:
        raise ValueError(f"{path}: no prompts; write one prompt per line (lines starting with # are comments)")
    return prompts


def fingerprint(parts: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able dict: names a cache folder after what it was built from.

    Example:
        >>> fingerprint({"a": 1}) == fingerprint({"a": 1}) != fingerprint({"a": 2})
        True
    """
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def finished_run(folder: str | os.PathLike, settings: dict[str, Any]) -> Path | None:
    """The checkpoint a finished run in ``folder`` recorded (``done.json``, by ``mark_finished``), or None
    when it has not finished. A run finished with other ``settings`` is refused, not silently reused.

    Example:
        >>> import tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> finished_run(run, {"epochs": 20}) is None
        True
        >>> _ = mark_finished(run, run / "checkpoint-40", {"epochs": 20})
        >>> finished_run(run, {"epochs": 20}).name
        'checkpoint-40'
    """
    done = Path(folder) / "done.json"
    if not done.is_file():
        return None
    record = json.loads(done.read_text())
    if record.get("settings", fingerprint(settings)) != fingerprint(settings):  # runs before 2026-12-02: no key
        raise ValueError(
            f"{folder} holds a run finished with other settings than this one's (a changed preset or flag); "
            f"delete {folder} to train it again with these, or pass another --out"
        )
    return Path(record["checkpoint"])


def mark_finished(folder: str | os.PathLike, checkpoint: str | os.PathLike, settings: dict[str, Any]) -> Path:
    """Write ``done.json``: the run's final checkpoint and a fingerprint of the settings it was trained with."""
    return atomic_write_json(
        Path(folder) / "done.json", {"checkpoint": str(checkpoint), "settings": fingerprint(settings)}
    )


_HELD: set[str] = set()  # the locks this process holds: a nested ``exclusive`` of the same file passes through


@contextmanager
def exclusive(path: str | os.PathLike) -> Iterator[None]:
    """Run the block while holding the lock file ``path`` (created with its folder): a second process that
    asks for it waits until the first is done, so two workers never build the same thing at once.

    Example:
        >>> import tempfile
        >>> lock = Path(tempfile.mkdtemp()) / "world.lock"
        >>> with exclusive(lock), exclusive(lock):  # re-entered by the process that holds it
        ...     lock.is_file()
        True
    """
    from filelock import FileLock

    key = str(Path(path).resolve())
    if key in _HELD:
        yield
        return
    Path(key).parent.mkdir(parents=True, exist_ok=True)
    with FileLock(key):
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
