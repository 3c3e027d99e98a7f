"""Relabelling at scale, measured side by side in one run:

    python benchmarks/relabel_scale.py --images 4096 --stream-sizes 2000 20000 --out docs/relabel-scale.md

1. Speed: ``--images`` generated 64 px images relabelled (``jpeg_compressibility`` + ``toy_colorfulness``: real
   JPEG encodes, no model weights) by 1 process and by ``accelerate launch`` on 2 processes (gloo), alternated
   ``--rounds`` times; images/s from the run's own report, median per setting, and the ratio.
2. Memory: WebDataset tar shards of each ``--stream-sizes`` images relabelled as a stream by one process; the
   peak resident memory of that process (``ru_maxrss``) per size. Flat in the size means bounded memory.

Each measurement runs in a fresh process (``--worker``) so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REWARDS = ["jpeg_compressibility", "toy_colorfulness"]


def worker(source: str, out: str, shard_size: int) -> None:
    """Relabel ``source`` into ``out`` on this launch's processes; the main one writes result.json."""
    from accelerate import PartialState

    from rewards import reward_set_from_config
    from rewards.score_shards import ScoreShards
    from ric_diffusion.config import DataConfig
    from ric_diffusion.data import load_records
    from ric_diffusion.relabel import relabel

    state = PartialState(cpu=True)
    source_records = load_records(DataConfig(source=source, resolution=64))
    store = ScoreShards(Path(out) / "scores", REWARDS)
    state.wait_for_everyone()
    start = time.monotonic()
    counts = relabel(source_records, lambda: reward_set_from_config(REWARDS), store, shard_size, state)
    state.wait_for_everyone()
    seconds = time.monotonic() - start
    scored = len(store.load()[0])
    if state.is_main_process:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        result = {"scored": scored, "seconds": seconds, "images_per_s": scored / seconds, "peak_rss_mb": peak_mb}
        (Path(out) / "result.json").write_text(json.dumps({**result, "main_counts": counts}))


def write_folder(root: Path, n: int, size: int = 64) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    rows = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"{i}.png")
        rows.append(json.dumps({"file_name": f"{i}.png", "text": f"image {i}"}))
    (root / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    return root


def write_tars(root: Path, n: int, per_tar: int = 1000, size: int = 32) -> Path:
    """WebDataset shards of ``n`` small noisy PNGs with captions."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for t in range(0, n, per_tar):
        with tarfile.open(root / f"{t // per_tar:05d}.tar", "w") as tar:
            for i in range(t, min(n, t + per_tar)):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
                for name, data in ((f"{i:07d}.png", buf.getvalue()), (f"{i:07d}.txt", f"image {i}".encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return root


def launch(source: Path, out: Path, processes: int, shard_size: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "true"}
    env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 2) // processes))
    me = [str(Path(__file__).resolve()), "--worker", str(source), str(out), str(shard_size)]
    if processes == 1:
        cmd = [sys.executable, *me]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes)]
        cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *me]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads((out / "result.json").read_text())


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stream-sizes", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--shard-size", type=int, default=64)
    ap.add_argument("--out", help="write the Markdown report here")
    ap.add_argument("--worker", nargs=3, metavar=("SOURCE", "OUT", "SHARD_SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return ""
    tmp = Path(tempfile.mkdtemp())
    folder = write_folder(tmp / "images", args.images)
    speed: dict[int, list[float]] = {1: [], 2: []}
    for r in range(args.rounds):
        for n in (1, 2):  # alternated, so drifts of a shared machine hit both settings
            speed[n].append(launch(folder, tmp / f"speed-{n}-{r}", n, args.shard_size)["images_per_s"])
    one, two = statistics.median(speed[1]), statistics.median(speed[2])
    memory = []
    for size in args.stream_sizes:
        tars = write_tars(tmp / f"tars-{size}", size)
        res = launch(tars, tmp / f"stream-{size}", 1, 1024)
        memory.append((size, res["scored"], res["peak_rss_mb"], res["images_per_s"]))
    lines = [
        "# Relabelling at scale",
        "",
        f"`python benchmarks/relabel_scale.py --images {args.images} --rounds {args.rounds} "
        f"--stream-sizes {' '.join(map(str, args.stream_sizes))}` on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} CPU cores, no GPU), {time.strftime('%Y-%m-%d')}. Rewards: {', '.join(REWARDS)}.",
        "",
        f"## Speed: {args.images} images (64 px), shards of {args.shard_size}, "
        f"median of {args.rounds} alternated rounds",
        "",
        "| processes | images/s (each round) | median images/s |",
        "|---|---|---|",
        f"| 1 | {', '.join(f'{x:.0f}' for x in speed[1])} | {one:.0f} |",
        f"| 2 | {', '.join(f'{x:.0f}' for x in speed[2])} | {two:.0f} |",
        "",
        f"2 processes / 1 process: **{two / one:.2f}x** (the processes share this machine's cores).",
        "",
        "## Memory: WebDataset tar shards relabelled as a stream (32 px PNGs, one process)",
        "",
        "| images | scored | peak resident memory (MB) | images/s |",
        "|---|---|---|---|",
        *[f"| {n} | {s} | {m:.0f} | {v:.0f} |" for n, s, m, v in memory],
        "",
        f"Peak memory at {memory[-1][0]} images / at {memory[0][0]}: "
        f"**{memory[-1][2] / memory[0][2]:.2f}x** for {memory[-1][0] / memory[0][0]:.0f}x the images.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    return report


if __name__ == "__main__":
    main()
