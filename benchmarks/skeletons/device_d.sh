#!/usr/bin/env bash
# [13] device part D (one GPU, one 10-minute call): the lifter fine-tuned on both detectors'
# 2D, then PhysNet continued on that lifter's S_dd with the eq. 19
# velocity term λ_v ∈ VELOCITY_WEIGHTS (3 seeds each) and the MLP ablation (3 seeds), then
# eq. 20 + anchor on the detectors' 2D for every PhysNet, then the GPU throughput.
#   bash benchmarks/skeletons/device_d.sh DATA OUT [LIFT_S PHYS_S FT_S]
# LIFT_INIT, PHYS_INIT and MLP_INIT (default: the shipped models) are the starting weights.
# The shipped v0.3 models came from two calls (session 9), started from v0.2, the assets of
# commit 27d8cc8 (git worktree add v02 27d8cc8; LIFT_INIT=v02/finephys_cli/assets/lifter ...):
#   bash benchmarks/skeletons/device_d.sh DATA OUT 120 130 70
#       (lifter v0.3, λ_v 0/1/4 and the MLP, 3 seeds each)
#   LIFTER=<lifter v0.3> MLP=0 VELOCITY_WEIGHTS="16 64" \
#       bash benchmarks/skeletons/device_d.sh DATA OUT 0 180 80    (λ_v 16/64; 16 seed 0 shipped)
# DATA holds data.tar.xz (pack_lift_pairs.py: SET_truth.h5 with its SET_det_*.h5) and
# dm_train.h5.xz (the DeepMimic training clips with synthetic noise, as training_data.sh uses). Each phase leaves its bundle in OUT as it
# ends (as device_d.tar.xz.aa, .ab, ...: cat them), so a call cut short still returns what
# finished. LIFTER=folder skips the lift fine-tuning and uses that lifter; MLP=0 skips the MLP;
# VELOCITY_WEIGHTS= (empty) skips PhysNet, so VELOCITY_WEIGHTS= MLP=0 fine-tunes the lifter only.
# LIFT_STEPS, PHYS_STEPS and FT_STEPS (default 1600, 3000, 1500) are the cosine schedules' lengths:
# set them to what the time limits allow, so that a schedule ends instead of being cut.
# MLP_VELOCITY_WEIGHT=λ_v and MLP_FINETUNE=1 train the MLP like PhysNet (λ_v, then eq. 20).
# ROLLOUTS (default autoregressive) lists PhysNet rollouts to train side by side; a run of
# rollout R other than autoregressive is named ..._R_seedS and starts from PHYS_INIT with R in
# its config (the weights are the same shape). The session 18 teacher ablation:
#   LIFTER=finephys_cli/assets/lifter ROLLOUTS="autoregressive teacher" PHYS_STEPS=1100 \
#       FT_STEPS=340 MLP_VELOCITY_WEIGHT=16 MLP_FINETUNE=1 VELOCITY_WEIGHTS=16 \
#       bash benchmarks/skeletons/device_d.sh DATA OUT 0 200 150
# SYNTH_SEEDS (default "1 2 3 4") are the synth FX sets made here for the 3D data; the shipped
# lifters since v0.3 were trained on seeds 1-4 and DM.h5 of seed 1, so other seeds (and a DM of
# another seed) give PhysNet S_dd the lifter has not seen.
# PHYS_SETS ("key=value ...") adds train-physnet --set values to every PhysNet and MLP run
# (e.g. "lr=1e-4").
# PP_WEIGHTS (default 0) lists λ_pp values (train-physnet's pp_weight: eq. 19's term on S_pp
# too) to train side by side; a run with λ_pp ≠ 0 is named ..._ppW_seedS.
# STOCK_VIDEOS=DIR runs the bundled yolo11n-pose on each DIR/SET/ of videos first (opencv
# reader), so its SET_det_stock.h5 pairs with SET_truth.h5 like the packed detections. v0.5
# (session 11) came from one call:
#   STOCK_VIDEOS=.carry/videos MLP_VELOCITY_WEIGHT=16 MLP_FINETUNE=1 VELOCITY_WEIGHTS=16 \
#       bash benchmarks/skeletons/device_d.sh .carry OUT 100 105 55
# Lifter v0.7 (session 16; DATA from device_detect_sets.sh + pack_lift_pairs.py) came from two:
#   LIFT_STEPS=2800 PHYS_STEPS=1100 FT_STEPS=340 MLP_VELOCITY_WEIGHT=16 MLP_FINETUNE=1 \
#       VELOCITY_WEIGHTS=16 bash benchmarks/skeletons/device_d.sh DATA OUT 200 110 60   (v0.6)
#   LIFT_INIT=<v0.6> LIFT_STEPS=3300 VELOCITY_WEIGHTS= MLP=0 \
#       bash benchmarks/skeletons/device_d.sh DATA OUT 230 0 0                          (v0.7)
set -uo pipefail
shopt -s nullglob
data=${1:?DATA}; out=${2:?OUT}; lift_s=${3:-140}; phys_s=${4:-140}; ft_s=${5:-80}
lift_steps=${LIFT_STEPS:-1600}; phys_steps=${PHYS_STEPS:-3000}; ft_steps=${FT_STEPS:-1500}
fp() { ${PYTHON:-python3} -m finephys_cli "$@"; }
work=${WORK:-/tmp/skd}; rm -rf "$work/runs" "$work/bundle"   # a call: its own runs and bundle
mkdir -p "$work/runs" "$work/bundle" "$out"   # pack() moves into OUT
t0=$(date +%s); stamp() { echo "$1 at $(( $(date +%s) - t0 )) s" | tee -a "$work/bundle/times.log"; }
# the device returns files of at most 16 MiB: the bundle goes back as 15 MiB parts, written
# beside OUT first so that a call cut short mid-pack still returns the previous bundle
pack() { rm -rf "$work/pack" && mkdir -p "$work/pack"
         tar -cf - -C "$work" bundle | xz -T0 -6 | split -b 15M - "$work/pack/device_d.tar.xz." &&
         rm -f "$out"/device_d.tar.xz.* && mv "$work"/pack/device_d.tar.xz.* "$out/"; }
tar -xJf "$data/data.tar.xz" -C "$work" && xz -dc "$data/dm_train.h5.xz" > "$work/dm_train.h5"
if [ -n "${STOCK_VIDEOS:-}" ]; then   # each STOCK_VIDEOS/SET/ -> SET_det_stock.h5, before pairing
  for dir in "$STOCK_VIDEOS"/*/; do
    name=$(basename "$dir")
    fp detect "$dir" -o "$work/${name}_det_stock.h5" --frames all --reader opencv \
      --progress none > "$work/bundle/detect_stock_$name.log" 2>&1 &&
      cp "$work/${name}_det_stock.h5" "$work/bundle/"
  done
  stamp "stock detect done"
fi
synth_seeds=(${SYNTH_SEEDS:-1 2 3 4})
for s in "${synth_seeds[@]}"; do fp synth --per-class "${SYNTH_PER_CLASS:-3}" --seed "$s" -o "$work/s$s.h5" --progress none & done
wait
threed=(); anchor_specs=()
for s in "${synth_seeds[@]}"; do threed+=(--data "$work/s$s.h5"); anchor_specs+=("$work/s$s.h5"); done
threed+=(--data "$work/dm_train.h5"); anchor_specs+=("$work/dm_train.h5")
twod=()
for det in "$work"/*_det_*.h5; do     # SET_det_DETECTOR.h5 pairs with SET_truth.h5
  set_name=$(basename "$det"); truth="$work/${set_name%%_det_*}_truth.h5"
  threed+=(--data "$det+$truth"); twod+=(--data "$det")
  anchor_specs+=("$det+$truth")
done
[ ${#twod[@]} -gt 0 ] || { echo "no SET_det_*.h5 in $data/data.tar.xz" >&2; exit 1; }
stamp "data ready"
common=(--runs "$work/runs" --batch-size 256 --device "${DEVICE:-cuda}" --progress plain)

if [ -n "${LIFTER:-}" ]; then
  lifter=$LIFTER    # a lifter given: no lift fine-tuning
else
  fp train-lift "${threed[@]}" "${common[@]}" --name lift_ft --steps "$lift_steps" \
    --set init_from="${LIFT_INIT:-finephys_cli/assets/lifter}" --set lr=2e-4 --set eval_every=200 \
    --set time_limit_s="$lift_s" > "$work/bundle/lift_ft.log" 2>&1
  lifter="$work/runs/train-lift/lift_ft/model-best"
  cp -r "$lifter" "$work/bundle/lifter" && cp "$work/runs/train-lift/lift_ft/metrics.csv" \
    "$work/bundle/metrics_lift_ft.csv"
  stamp "lift done"; pack
fi
[ -d "$lifter" ] || exit 1

phys_sets=(); for kv in ${PHYS_SETS:-}; do phys_sets+=(--set "$kv"); done
phys() {  # name init extra...
  local name=$1 init=$2; shift 2
  OMP_NUM_THREADS=1 fp train-physnet "$@" --lifter "$lifter" --init "$init" --name "$name" \
    "${common[@]}" --set eval_every=250 "${phys_sets[@]}" > "$work/bundle/$name.log" 2>&1
}
rollouts=(${ROLLOUTS:-autoregressive})
for ro in "${rollouts[@]}"; do
  case $ro in autoregressive|teacher) ;; *) echo "ROLLOUTS: unknown rollout $ro" >&2; exit 1;; esac
done
tag() { [ "$1" = autoregressive ] || echo "_$1"; }
pps=(${PP_WEIGHTS:-0})
ppt() { [ "$1" = 0 ] || echo "_pp$1"; }
phys_init() {  # rollout -> PHYS_INIT, or a copy of it with that rollout in its config
  local src=${PHYS_INIT:-finephys_cli/assets/physnet}
  [ "$1" = autoregressive ] && { echo "$src"; return; }
  local dst="$work/phys_init_$1"
  [ -d "$dst" ] || { cp -r "$src" "$dst" && ${PYTHON:-python3} -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c['rollout']=sys.argv[2]; json.dump(c,open(p,'w'),indent=2)" "$dst/config.json" "$1"; } || return 1
  echo "$dst"
}
declare -A init_of
for ro in "${rollouts[@]}"; do init_of[$ro]=$(phys_init "$ro") || exit 1; done
for seed in 0 1 2; do
  for vw in ${VELOCITY_WEIGHTS-0 1 4}; do
    for ro in "${rollouts[@]}"; do
      for pp in "${pps[@]}"; do
        phys "pre_v${vw}$(tag "$ro")$(ppt "$pp")_seed$seed" "${init_of[$ro]}" "${threed[@]}" \
          --steps "$phys_steps" --set "time_limit_s=$phys_s" --set "seed=$seed" \
          --set "velocity_weight=$vw" --set "pp_weight=$pp" &
      done
    done
  done
  [ "${MLP:-1}" != 0 ] && phys "mlp_seed$seed" "${MLP_INIT:-finephys_cli/assets/physnet_mlp}" "${threed[@]}" --model-type mlp \
    --steps "$phys_steps" --set "time_limit_s=$phys_s" --set "seed=$seed" \
    --set "velocity_weight=${MLP_VELOCITY_WEIGHT:-0}" &
done
wait
stamp "pretrain done"
keep() { local d="$work/runs/train-physnet/$1"; cp "$d/metrics.csv" "$work/bundle/metrics_$1.csv"
         [ -d "$d/model-best" ] && cp -r "$d/model-best" "$work/bundle/$1"; }
for d in "$work"/runs/train-physnet/*/; do keep "$(basename "$d")"; done
pack

anchor=$(printf '"%s",' "${anchor_specs[@]}"); anchor=${anchor%,}
for seed in 0 1 2; do
  for vw in ${VELOCITY_WEIGHTS-0 1 4}; do
    for ro in "${rollouts[@]}"; do
      for pp in "${pps[@]}"; do
        run="v${vw}$(tag "$ro")$(ppt "$pp")_seed$seed"
        init="$work/runs/train-physnet/pre_$run/model-best"
        [ -d "$init" ] || continue
        phys "ft_$run" "$init" "${twod[@]}" --stage finetune --steps "$ft_steps" \
          --set "time_limit_s=$ft_s" --set "seed=$seed" --set "velocity_weight=$vw" \
          --set "pp_weight=$pp" --set "anchor_data=[$anchor]" &
      done
    done
  done
  init="$work/runs/train-physnet/mlp_seed$seed/model-best"
  [ "${MLP_FINETUNE:-0}" != 0 ] && [ -d "$init" ] && phys "ft_mlp_seed$seed" "$init" "${twod[@]}" --model-type mlp \
    --stage finetune --steps "$ft_steps" --set "time_limit_s=$ft_s" --set "seed=$seed" \
    --set "velocity_weight=${MLP_VELOCITY_WEIGHT:-0}" --set "anchor_data=[$anchor]" &
done
wait
stamp "finetune done"
for d in "$work"/runs/train-physnet/ft_*/; do keep "$(basename "$d")"; done
pack
# the first rollout's seed 0 (the weights' shapes are the same for every λ_v and rollout)
for d in "$work"/bundle/ft_v*"$(tag "${rollouts[0]}")"_seed0; do
  p=$(basename "$d")
  ${PYTHON:-python3} benchmarks/skeletons/throughput.py "$lifter" "$d" \
    "${DEVICE:-cuda}" > "$work/bundle/throughput_$p.json" 2> "$work/bundle/throughput_$p.log"
  break
done
stamp "throughput done"; pack
