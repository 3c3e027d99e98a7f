"""Wall time of the diffusion online stage on 1 vs 2 processes, measured side by side in one run:

    python benchmarks/online_processes.py --samples 32

The same tiny run (tiny SD, 12 images, toy rewards) is trained offline once per setting, then one online
iteration of ``--samples`` generations is timed from the ``online/`` folder's first file to the final
checkpoint: 1 process x batch 4 vs ``accelerate launch`` 2 processes x batch 2 (gloo on CPUs), the same
global batch and the same samples. On a 2-core machine the two processes share the cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def run(cmd: list[str], env: dict[str, str], out: Path) -> float:
    """Seconds from the online stage's first write to the end of the command."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = None
    while proc.poll() is None:
        if first is None and (out / "online").exists():
            first = time.monotonic()
        time.sleep(0.05)
    if proc.returncode:
        raise RuntimeError(proc.stderr.read()[-3000:])
    return time.monotonic() - (first or time.monotonic())


def main(argv: list[str] | None = None) -> None:
    from helpers import tiny_train_args, write_image_folder

    from ric_diffusion.tiny import make_tiny_sd

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=32, help="generations in the online iteration")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp())
    sd, images = make_tiny_sd(tmp / "sd"), write_image_folder(tmp / "images")
    online = [f"online.num_samples={args.samples}", "online.iterations=1", "online.shard_size=4"]
    online += ["online.steps=8", "online.num_origin_samples=8", "inference.num_inference_steps=8"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    one = tiny_train_args(sd, images, tmp / "one", "train.batch_size=4", *online)
    t1 = run([sys.executable, "-m", "ric_diffusion.train", *map(str, one)], env, tmp / "one")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "ric_diffusion.train"]
    two = tiny_train_args(sd, images, tmp / "two", "train.batch_size=2", *online)
    env2 = {**env, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // 2))}
    t2 = run([*launch, *map(str, two)], env2, tmp / "two")
    print(
        f"online iteration ({args.samples} samples): 1 process {t1:.1f} s, 2 processes {t2:.1f} s, "
        f"speed-up {t1 / t2:.2f}x on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
