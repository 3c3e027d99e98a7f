#!/bin/bash
# The whole `ric study` set (3 seeds, both worlds) on a 2-core machine: two worker processes, one thread
# each, pull parts (one study, one world, one seed) from one queue, the longest first. A world or model two
# parts need is built by whichever asks first while the other waits on its lock (ric_runtime.io.exclusive).
#
#   bash benchmarks/study_set.sh [OUT] [WORKERS]    # defaults runs/study, 2; then: ric study all --out OUT
#
# Writes OUT/times (a `session start=EPOCH` line per call, then a line per finished part with its end=EPOCH)
# and OUT/log_<part>.log; `python -m ric_demo.study_cost --out OUT` sums each session's start to its last
# part's end. Resumable: rerun it, and only the parts not yet done run (a part's studies resume too).
# SEEDS, PARTS and STUDY_FLAGS (e.g. --quick) narrow it, as tests/test_study_set.py does at smoke size.
set -u
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-runs/study}")
WORKERS=${2:-2}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
mkdir -p "$OUT/queue" "$OUT/done"
echo "session start=$(date +%s)" >> "$OUT/times"
rm -rf "$OUT/queue"/*  # claims of a killed session: those parts run again (and resume)

# study:world, longest first (per seed on this machine, 2026-12-02, docs/study/study_set_times.txt: compute
# image ~29 min, mors image ~10, objectives image and text ~8.5, correlation image ~7, mors text ~6,
# correlation text ~5, mapping image ~4, compute text ~2, the rest under 2)
PARTS=${PARTS:-"compute:image mors:image objectives:image correlation:image objectives:text correlation:text
mors:text compute:text mapping:image ood:image mapping:text ood:text"}
SEEDS=${SEEDS:-"0 1 2"}

run() {  # a part runs once, in whichever worker claims it first
  local study=$1 world=$2 seed=$3 w=$4 name="$1_$2_s$3"
  [ -e "$OUT/done/$name" ] && return 0
  mkdir "$OUT/queue/$name" 2>/dev/null || return 0
  local s=$(date +%s)
  python -c 'from ric_demo.cli import cli; raise SystemExit(cli())' study "$study" --worlds "$world" \
    --seeds "$seed" ${STUDY_FLAGS:-} --out "$OUT" --docs "$OUT/docs_parts/$name" > "$OUT/log_$name.log" 2>&1
  local rc=$?
  [ $rc = 0 ] && touch "$OUT/done/$name"
  echo "$name rc=$rc $(( $(date +%s) - s ))s worker$w end=$(date +%s)" >> "$OUT/times"
}

worker() {
  for part in $PARTS; do
    for seed in $SEEDS; do run "${part%%:*}" "${part##*:}" "$seed" "$1"; done
  done
}

for w in $(seq "$WORKERS"); do worker "$w" & done
wait
python -m ric_demo.study_cost --out "$OUT" | tail -2
echo "now: ric study all --out $OUT   (the tables from every part)"
