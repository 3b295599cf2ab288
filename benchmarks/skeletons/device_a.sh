#!/usr/bin/env bash
# Skeleton benchmark, device part A (one GPU): detect the rendered clips with rotation TTA, then
# train the two lifters of the prompt ablation on synth + DeepMimic + detected-2D pairs.
#   bash benchmarks/skeletons/device_a.sh SK OUT LIFT_SECONDS
# SK holds make_renders.sh's output plus dm_train.h5 (synth --motion deepmimic, noise model);
# OUT receives one archive (detections, lifters, metrics).
set -euo pipefail
sk=${1:?SK}; out=${2:?OUT}; lift_s=${3:-240}
fp() { ${PYTHON:-python3} -m finephys_cli "$@"; }
work=${WORK:-/tmp/skw}; rm -rf "$work/runs"   # a call is its own experiment (a rerun into a
# run folder is refused); its inputs are the arguments
mkdir -p "$work/det" "$work/runs"
t0=$(date +%s)
# 1. detect, one pass and with rotation TTA, one process per set and setting so the decoding
#    and Ultralytics' CPU work overlap; each timed.
for rot in 0 0,90,180,270; do
  tag=r$(( $(echo "$rot" | tr ',' '\n' | wc -l) ))
  for set in train/hum train/mqdm train/mqfx val; do
    name=${set//\//_}_$tag
    ( s=$EPOCHREALTIME; fp detect "$sk/$set/videos" -o "$work/det/$name.h5" --frames all \
        --rotations "$rot" --reader opencv --device "${DEVICE:-cuda}" --progress none \
        --batch-size 64 2> "$work/det/$name.log"
      echo "$name $(awk "BEGIN{print $EPOCHREALTIME - $s}") s" >> "$work/det/times.txt" ) &
  done
done
wait
echo "detect done at $(( $(date +%s) - t0 )) s"
tar -czf "$out/detections.tar.gz" -C "$work" det     # kept even if the training runs out of time
# 2. the training set (training_data.sh).
. "$(dirname "$0")/training_data.sh"
make_training_data "$sk" "$work/det" "$work"
echo "data ready at $(( $(date +%s) - t0 )) s"
# 3. the prompt ablation: the paper's prompting (random ground-truth pairs, no shortcut) vs none.
common=(--runs "$work/runs" --steps "${LIFT_STEPS:-2400}" --batch-size 256 --device "${DEVICE:-cuda}" --progress plain
        --set "time_limit_s=$lift_s" --set eval_every=500)
fp train-lift "${data[@]}" --name lift_prompt "${common[@]}" --set train_prompt=random \
   --set model.use_prompt=true > "$work/lift_prompt.log" 2>&1 &
fp train-lift "${data[@]}" --name lift_noprompt "${common[@]}" \
   --set model.use_prompt=false > "$work/lift_noprompt.log" 2>&1 &
wait
echo "lift done at $(( $(date +%s) - t0 )) s"
mkdir -p "$work/bundle"
cp "$work"/det/*.h5 "$work"/det/*.log "$work"/det/times.txt "$work"/*.log "$work/bundle/"
for r in lift_prompt lift_noprompt; do
  cp -r "$work/runs/train-lift/$r/model-best" "$work/bundle/$r"
  cp "$work/runs/train-lift/$r/metrics.csv" "$work/bundle/metrics_$r.csv"
done
tar -czf "$out/device_a.tar.gz" -C "$work" bundle
echo "total $(( $(date +%s) - t0 )) s"
