#!/usr/bin/env bash
# Skeleton benchmark, device part C (one GPU): eq. 20 fine-tuning with a 3D anchor. Starting
# from the shipped recipe's PhysNet (σ = 0, eq. 19, seeds 0-2), fine-tune on the detector's 2D of
# the training renders (eq. 20) plus eq. 19 on the 3D training set at every step.
#   bash benchmarks/skeletons/device_c.sh SK A_BUNDLE LIFTER INIT_DIR OUT SECONDS [WEIGHT]
# INIT_DIR holds physnet_nonoise_seed{0,1,2}/ (device_b.sh's runs).
set -euo pipefail
sk=${1:?SK}; a=${2:?device_a bundle}; lifter=${3:?lifter}; init=${4:?INIT_DIR}; out=${5:?OUT}
secs=${6:-150}; weight=${7:-1.0}
fp() { ${PYTHON:-python3} -m finephys_cli "$@"; }
work=${WORK:-/tmp/skw}; rm -rf "$work/runs" "$work/bundle_c"; mkdir -p "$work/runs"   # a call: its own runs
. "$(dirname "$0")/training_data.sh"
make_training_data "$sk" "$a" "$work"
anchor=$(printf '"%s",' "${data[@]/--data/}" | sed 's/"",//g; s/,$//')
for seed in 0 1 2; do
  OMP_NUM_THREADS=1 fp train-physnet --data "$a/train_hum_r4.h5" --data "$a/train_mqdm_r4.h5" \
     --data "$a/train_mqfx_r4.h5" --data "$a/train_hum_r1.h5" --data "$a/train_mqdm_r1.h5" \
     --data "$a/train_mqfx_r1.h5" --stage finetune --init "$init/physnet_nonoise_seed$seed" \
     --lifter "$lifter" --name "anchored_seed$seed" --runs "$work/runs" --batch-size 256 \
     --device "${DEVICE:-cuda}" --progress plain --steps 1500 --set eval_every=250 \
     --set "time_limit_s=$secs" --set "seed=$seed" --set "anchor_data=[$anchor]" \
     --set "anchor_weight=$weight" > "$work/anchored_seed$seed.log" 2>&1 &
done
wait
mkdir -p "$work/bundle_c"
for seed in 0 1 2; do
  d="$work/runs/train-physnet/anchored_seed$seed"
  cp "$d/metrics.csv" "$work/bundle_c/metrics_anchored_seed$seed.csv" || true
  cp "$work/anchored_seed$seed.log" "$work/bundle_c/" || true
  [ -d "$d/model-best" ] && cp -r "$d/model-best" "$work/bundle_c/anchored_seed$seed" || true
done
tar -czf "$out/device_c.tar.gz" -C "$work" bundle_c
ls -la "$out"
