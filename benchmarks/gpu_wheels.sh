#!/usr/bin/env bash
# Download the wheels the GPU machine lacks (CPython 3.12, manylinux x86-64) into .whl/ (git-ignored), at the
# versions this checkout's environment runs its tests with. The machine has torch, transformers, peft,
# accelerate, safetensors, pandas, pyarrow, timm, regex, rich, xxhash; everything else the suite imports is here.
#   bash benchmarks/gpu_wheels.sh            # then see benchmarks/README.md for the one device command
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
mkdir -p .whl
PACKAGES="diffusers open_clip_torch trl datasets moocore ftfy wcwidth dill multiprocess cffi pycparser importlib_metadata"
for name in $PACKAGES; do
  version=$(python -m pip show "$name" 2>/dev/null | sed -n "s/^Version: //p" || true)
  if [ -z "$version" ]; then echo "$name is not installed here: pip install -e '.[dev]' first" >&2; exit 1; fi
  python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$name==$version"
done
du -sh .whl
