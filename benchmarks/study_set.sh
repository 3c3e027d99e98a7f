#!/bin/bash
# The whole `ric study` set (3 seeds, both worlds) on a 2-core machine: two worker processes, one thread
# each, pull the studies in order. Phase 1 builds every world once (the demo's text world and the rho
# worlds share a base model, so no two workers build one at the same time); phase 2 shares what it built.
#
#   bash benchmarks/study_set.sh [OUT]        # default runs/study; then: ric study all --out OUT
#
# Writes OUT/start (epoch seconds), OUT/times (one line per finished part) and OUT/log_<part>.log;
# `python -m ric_demo.study_cost --out OUT` reads the elapsed time from them. Resumable: rerun it.
set -u
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-runs/study}")
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
mkdir -p "$OUT/queue"
[ -e "$OUT/start" ] || date +%s > "$OUT/start"

run() {  # a part runs once, in whichever worker claims it first
  local name=$1 w=$2; shift 2
  mkdir "$OUT/queue/$name" 2>/dev/null || return 0
  local s=$(date +%s)
  python -c 'from ric_demo.cli import cli; raise SystemExit(cli())' study "$@" --out "$OUT" \
    --docs "$OUT/docs_parts/$name" > "$OUT/log_$name.log" 2>&1
  echo "$name rc=$? $(( $(date +%s) - s ))s worker$w end $(date +%T)" >> "$OUT/times"
}

barrier() { touch "$OUT/$1_$2"; while [ ! -e "$OUT/$1_1" ] || [ ! -e "$OUT/$1_2" ]; do sleep 5; done; }

worker() {
  local w=$1
  if [ "$w" = 1 ]; then run ood_image 1 ood --worlds image; else run correlation_text 2 correlation --worlds text; fi
  barrier phase1a "$w"
  if [ "$w" = 1 ]; then run ood_text 1 ood --worlds text; else run correlation_image 2 correlation --worlds image; fi
  barrier phase1b "$w"
  run compute0 "$w" compute --seeds 0
  run objectives "$w" objectives
  run compute1 "$w" compute --seeds 1
  run mors "$w" mors
  run compute2 "$w" compute --seeds 2
  run mapping_image "$w" mapping --worlds image
  run mapping_text "$w" mapping --worlds text
}

worker 1 & worker 2 & wait
echo "done: $(( $(date +%s) - $(cat "$OUT/start") )) s since $OUT/start; now: ric study all --out $OUT"
