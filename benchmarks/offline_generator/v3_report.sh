#!/usr/bin/env bash
# The shipped offline generator's report, on one GPU, processes in parallel (~3 minutes on an
# H200): the guidance ablation (guidance_ablation.py, 35 classes in 5 chunks), the strips of 8
# classes (evaluate.py --strips 8) and a sampling sweep (guided: pose-scale 1.5, guidance 5 and
# 10). All with --pose-cfg, the shipped default. Each process makes its own held-out skeletons.
# Usage: OUT=out/ bash benchmarks/offline_generator/v3_report.sh   (OUT receives report.tar)
set -euo pipefail
WORK=${WORK:-/tmp/v3_report}
OUT=${OUT:-$WORK/out}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-25}
CHUNKS=${CHUNKS:-"6,7,8,9,10,11,12 13,14,15,16,17,18,19 20,21,22,23,24,25,26 27,28,29,30,31,32,33 34,35,36,37,38,39,40"}
STRIP_CLASSES=${STRIP_CLASSES:-6,7,8,9,10,11,12,13}
SWEEP_CLASSES=${SWEEP_CLASSES:-all}
B=benchmarks/offline_generator
G=${G:-finephys_cli/assets/generator}
RES="$WORK/report"
mkdir -p "$RES" "$OUT"
pids=()
i=0
for chunk in $CHUNKS; do
  python3 $B/guidance_ablation.py --generator "$G" --device "$DEVICE" --steps "$STEPS" --pose-cfg --classes "$chunk" \
    --poses-cache "$WORK/cache_ablation_$i" --out "$RES/ablation_$i.json" > /dev/null \
    2> "$RES/ablation_$i.log" & pids+=($!)
  i=$((i + 1))
done
mkdir -p "$RES/strips"
python3 $B/evaluate.py --generator "$G" --device "$DEVICE" --steps "$STEPS" --pose-cfg --classes "$STRIP_CLASSES" \
  --strips 8 --poses-cache "$WORK/cache_strips" --out "$RES/strips/eval_strip_classes.json" \
  > /dev/null 2> "$RES/strips.log" & pids+=($!)
sweep() {  # name, then evaluate.py options
  local name=$1; shift
  python3 $B/evaluate.py --generator "$G" --device "$DEVICE" --steps "$STEPS" --pose-cfg --conditions guided \
    --strips 0 --classes "$SWEEP_CLASSES" --poses-cache "$WORK/cache_$name" --out "$RES/sweep_$name.json" "$@" > /dev/null \
    2> "$RES/sweep_$name.log"
}
sweep pose1.5 --pose-scale 1.5 & pids+=($!)
sweep cfg5 --guidance-scale 5 & pids+=($!)
sweep cfg10 --guidance-scale 10 & pids+=($!)
for p in "${pids[@]}"; do wait "$p" || echo "a report process failed" >&2; done
python3 - "$RES" <<'PY'
import glob, json, sys
import numpy as np
res = sys.argv[1]
rows = [r for f in sorted(glob.glob(f"{res}/ablation_*.json")) for r in json.load(open(f))["rows"]]
keys = ("pck", "px_error", "velocity_px", "detected", "mannequin_frames", "input_px_error")
table = {s: {k: float(np.nanmean([r[k] for r in rows if r["source"] == s])) for k in keys}
         for s in ("detect", "lift", "fused", "exact")}
first = json.load(open(sorted(glob.glob(f"{res}/ablation_*.json"))[0]))
meta = {k: first.get(k) for k in ("device", "generator", "size", "steps", "seed", "pose_cfg",
                                  "guidance_scale")}
json.dump({**meta, "classes": len({r["class"] for r in rows}), "table": table, "rows": rows},
          open(f"{res}/ablation.json", "w"), indent=1)
print(json.dumps(table, indent=1))
PY
tar -C "$RES" -cf "$OUT/report.tar" .
