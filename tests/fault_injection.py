"""A kill -9 harness: run a command, SIGKILL it at given moments, restart the same command each time, and
report what every kill left behind. Used by the crash-safety tests (imported as `fault_injection`)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class KillReport:
    """What the harness did: kills sent, and per kill what it cut short and where the run was."""

    kills: int = 0
    cut_short: list[list[str]] = field(default_factory=list)  # per kill: folders a resume must not pick
    landed: list[str] = field(default_factory=list)  # per kill: where the run was (the caller's ``where()``)
    last_run_seconds: float = 0.0  # the run that finished (after the kills)

    @property
    def kills_during_writes(self) -> int:
        return sum(bool(c) for c in self.cut_short)


def timed_run(
    cmd: Sequence[str], env: dict[str, str], watch: Callable[[], bool], timeout: float
) -> tuple[float, float]:
    """Run to completion; returns (seconds until ``watch()`` first held, total seconds). Raises on failure."""
    start, first = time.monotonic(), None
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None:
        if first is None and watch():
            first = time.monotonic() - start
        if time.monotonic() - start > timeout:
            proc.kill()
            raise TimeoutError(f"{cmd} took over {timeout} s")
        time.sleep(0.05)
    err = proc.stderr.read().decode()
    if proc.returncode:
        raise RuntimeError(f"exit {proc.returncode}: {err[-3000:]}")
    total = time.monotonic() - start
    return (first if first is not None else total), total


def kill_and_restart(
    cmd: Sequence[str],
    env: dict[str, str],
    delays: Sequence[float],
    incomplete: Callable[[], list[str]],
    where: Callable[[], str] = lambda: "",
    changed: Callable[[], object] | None = None,
    timeout: float = 600,
) -> KillReport:
    """For each delay: start ``cmd``, SIGKILL it after that many seconds and record ``incomplete()`` (what the
    kill left half-written) and ``where()`` (how far the run had got). The first run that ends before its
    kill is the last; if none does, ``cmd`` runs once more to completion. With ``changed`` (a snapshot of
    the run's files, say), a delay counts from the moment the snapshot first differs from the one taken at
    the start: each restart then makes a little progress past its start-up before it is killed, whatever
    the start-up costs, and the kills walk through the whole run.

    Example:
        >>> import sys
        >>> r = kill_and_restart([sys.executable, "-c", "import time; time.sleep(5)"], dict(os.environ), [0.2], list)
        ... # doctest: +SKIP
    """
    report = KillReport()
    for delay in delays:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if changed is not None:
            before = changed()
            while proc.poll() is None and changed() == before and time.monotonic() - start < timeout:
                time.sleep(0.02)
        try:
            _, err = proc.communicate(timeout=delay)
            if proc.returncode:
                raise RuntimeError(f"a restarted run failed (exit {proc.returncode}): {err.decode()[-3000:]}")
            report.last_run_seconds = time.monotonic() - start
            return report
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
        report.kills += 1
        report.cut_short.append(incomplete())
        report.landed.append(where())
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"the run after the kills failed (exit {proc.returncode}): {proc.stderr.decode()[-3000:]}")
    report.last_run_seconds = time.monotonic() - start
    return report


def file_names(root: Path) -> frozenset[str]:
    """Every path under ``root`` (a cheap "has the run written anything yet" snapshot)."""
    # os.walk, not Path.rglob: the run renames and deletes folders while we look, and walk skips those
    return frozenset(os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files)


def checkpoint_folders_cut_short(root: Path, complete: Callable[[Path], bool]) -> list[str]:
    """``checkpoint-*`` folders anywhere under ``root`` that ``complete`` rejects (relative paths)."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("checkpoint-*") if p.is_dir() and not complete(p))
