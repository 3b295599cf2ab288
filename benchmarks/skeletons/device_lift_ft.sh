#!/usr/bin/env bash
# [13] device part E (one GPU): fine-tune the shipped lifter on the 2D that detectors produced
# on the humanoid training renders, paired with their truth, plus synth FX seeds 1-4
# (detector-noise model), inside a time limit.
#   bash benchmarks/skeletons/device_lift_ft.sh DATA OUT SECONDS
# DATA holds data.tar.xz (made by pack_lift_pairs.py): hum_truth.h5 (the renders' truth) and
# one or more hum_det_*.h5, each a detector's output on those renders (hum_det_renders.h5:
# detect --model renders; hum_det_stock.h5: the default detector), all paired with the truth;
# training on one detector's pairs alone forgot the other's errors (lifter card). OUT receives
# the model and its metrics.
set -euo pipefail
data=${1:?DATA}; out=${2:?OUT}; seconds=${3:-150}
fp() { ${PYTHON:-python3} -m finephys_cli "$@"; }
work=${WORK:-/tmp/lftw}; mkdir -p "$work"
tar -xJf "$data/data.tar.xz" -C "$work"
for s in 1 2 3 4; do fp synth --per-class 3 --seed "$s" -o "$work/s$s.h5" --progress none & done
wait
pairs=(); for det in "$work"/hum_det_*.h5; do pairs+=(--data "$det+$work/hum_truth.h5"); done
fp train-lift "${pairs[@]}" \
  --data "$work/s1.h5" --data "$work/s2.h5" --data "$work/s3.h5" --data "$work/s4.h5" \
  --runs "$work/runs" --name lift_ft --steps 800 --batch-size 256 --device "${DEVICE:-cuda}" \
  --set init_from=finephys_cli/assets/lifter --set lr=2e-4 --set eval_every=100 \
  --set time_limit_s="$seconds" --progress plain
cp -r "$work/runs/train-lift/lift_ft/model-best" "$out/"
cp "$work/runs/train-lift/lift_ft/metrics.csv" "$out/"
