#!/usr/bin/env bash
# Skeleton benchmark, device part B (one GPU): PhysNet pre-training (eq. 19) for the noise
# ablation and the MLP, 3 seeds each, on S_dd of the chosen lifter; then eq. 20 fine-tuning on
# detected 2D; then the synth Table 2 per seed and the lift+PhysNet throughput.
#   bash benchmarks/skeletons/device_b.sh SK A_BUNDLE LIFTER OUT PHYS_SECONDS FT_SECONDS
set -euo pipefail
sk=${1:?SK}; a=${2:?device_a bundle}; lifter=${3:?lifter folder}; out=${4:?OUT}
phys_s=${5:-200}; ft_s=${6:-60}
fp() { ${PYTHON:-python3} -m finephys_cli "$@"; }
work=${WORK:-/tmp/skw}; rm -rf "$work/runs"; mkdir -p "$work/runs"   # a call: its own runs
t0=$(date +%s)
. "$(dirname "$0")/training_data.sh"
fp synth --per-class 4 --seed 1000 -o "$work/synth_test.h5" --progress none 2>/dev/null &
make_training_data "$sk" "$a" "$work"
common=(--lifter "$lifter" --runs "$work/runs" --batch-size 256 --device "${DEVICE:-cuda}" --progress plain
        --set eval_every=500)
# variants: SPD M^-1 with the paper's noise (σ = 1), eq. 13's plain symmetric M^-1 (σ = 1), a
# learned σ (v0.1), no noise (σ = 0: the shipped model, seed 0), and the MLP of Table 2
for seed in 0 1 2; do
  run() { name=$1; shift; OMP_NUM_THREADS=1 fp train-physnet "${data[@]}" --name "${name}_seed$seed" \
            "${common[@]}" --steps 3000 --set "time_limit_s=$phys_s" --set "seed=$seed" "$@" \
            > "$work/${name}_seed$seed.log" 2>&1; }
  run physnet --set physnet.noise_std=1.0 &
  run physnet_sym --set physnet.positive_definite=false --set physnet.noise_std=1.0 &
  run physnet_learned --set physnet.noise_std=none &
  run physnet_nonoise --set physnet.noise_std=0.0 &
  run mlp --model-type mlp &
done
wait
echo "pretrain done at $(( $(date +%s) - t0 )) s"
# eq. 20: fine-tune PhysNet + projection on the detector's 2D of the training renders.
for seed in 0 1 2; do
  init="$work/runs/train-physnet/physnet_seed$seed/model-best"
  [ -d "$init" ] || init="$work/runs/train-physnet/physnet_sym_seed$seed/model-best"
  echo "finetune_seed$seed from $init" >> "$work/finetune_init.log"
  OMP_NUM_THREADS=1 fp train-physnet --data "$a/train_hum_r4.h5" --data "$a/train_mqdm_r4.h5" \
     --data "$a/train_mqfx_r4.h5" --data "$a/train_hum_r1.h5" --data "$a/train_mqdm_r1.h5" \
     --data "$a/train_mqfx_r1.h5" --stage finetune --init "$init" \
     --name "finetune_seed$seed" "${common[@]}" --steps 1500 --set "time_limit_s=$ft_s" \
     --set "seed=$seed" > "$work/finetune_seed$seed.log" 2>&1 &
done
wait
echo "finetune done at $(( $(date +%s) - t0 )) s"
mkdir -p "$work/bundle"
cp "$work"/*.log "$work/synth_test.h5" "$work/bundle/"
for d in "$work"/runs/train-physnet/*/; do
  n=$(basename "$d"); cp "$d/metrics.csv" "$work/bundle/metrics_$n.csv" || true
  [ -d "$d/model-best" ] && cp -r "$d/model-best" "$work/bundle/$n" || echo "$n: no model-best"
done
${PYTHON:-python3} benchmarks/skeletons/throughput.py "$lifter" "$work/bundle/finetune_seed0" "${DEVICE:-cuda}" \
   > "$work/bundle/throughput.json" || echo "throughput failed"
tar -czf "$out/device_b.tar.gz" -C "$work" bundle
echo "total $(( $(date +%s) - t0 )) s"
