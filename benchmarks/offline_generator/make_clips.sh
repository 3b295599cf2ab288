#!/usr/bin/env bash
# Generator training clips: synth motions of each (seed, class), cut by prepare-clips
# (--render parts, 16 frames at 128 px), JOBS at a time. Writes DIR/s<seed>-<class>.h5 (synth)
# and DIR/c<seed>-<class>.h5 (clips).
# Usage: bash benchmarks/offline_generator/make_clips.sh DIR PER_CLASS JOBS "SEEDS" "CLASS_IDS"
set -euo pipefail
dir=$1 per_class=$2 jobs=$3 seeds=$4 classes=$5
mkdir -p "$dir"
for s in $seeds; do for c in $classes; do echo "$s:$c"; done; done |
  xargs -P "$jobs" -I{} sh -c 's=${1%%:*}; c=${1##*:}; d=$2; n=$3
    python3 -m finephys_cli synth --classes $c --per-class $n --seed $s -o $d/s$s-$c.h5 \
      --progress none >/dev/null 2>&1 &&
    python3 -m finephys_cli prepare-clips $d/s$s-$c.h5 --render parts --size 128 --frames 16 \
      -o $d/c$s-$c.h5 --progress none >/dev/null 2>&1' _ {} "$dir" "$per_class"
