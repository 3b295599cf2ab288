#!/usr/bin/env bash
# [13] session 19 (one GPU, one call): fresh training renders detected the way the validation
# set is (renders detector, averaged rotations, `rotation_spread` kept), scored by the views'
# agreement (`rescore_agreement.py` at TAU, what `detect --rotation-scores agreement` gives),
# paired with their truth, then lifters fine-tuned on them side by side (device_d.sh, the lift
# only), one per NAME=INIT, each with its own LIFT_STEPS_NAME (default LIFT_STEPS or 1600) and
# DATA_NAME: agree (default) or raw (the same pairs with the detector's own scores: the control).
#   TAU=0.05 bash benchmarks/skeletons/device_agreement.sh FRESH DM.h5.xz OUT "NAME=INIT .." [LIFT_S]
# FRESH holds SET_truth.h5 and videos/SET/ for each set; DM.h5.xz is the DeepMimic training
# clips with synthetic noise (device_d.sh's dm_train.h5.xz). OUT gets detections.tar.xz (the
# detections with their spread, before re-scoring, so another TAU needs no GPU) and OUT/NAME/
# with device_d.sh's bundle of each lifter. DETECTIONS=detections.tar.xz (from an earlier call)
# skips the detection. PHYSNET_LIFTER=DIR also trains PhysNet and the MLP on that lifter
# (device_d.sh with LIFTER=DIR, PHYS_S/FT_S seconds) on the PHYSNET_DATA (agree or raw) pairs,
# into OUT/phys/ (a NAME=INIT list of "-" trains no lifter). Session 19's first call (fresh = tum3, hum3, mqfx3):
#   TAU=0.05 LIFT_STEPS=2800 LIFT_STEPS_l32=2000 DATA_raw16=raw bash \
#     benchmarks/skeletons/device_agreement.sh .carry/fresh .carry/dm/dm_train.h5.xz $OUT \
#     "l16=finephys_cli/assets/lifter raw16=finephys_cli/assets/lifter l32=.carry/inits/lift32" 250
set -uo pipefail
fresh=${1:?FRESH}; dm=${2:?DM.h5.xz}; out=${3:?OUT}; runs=(${4:?NAME=INIT ... or -}); lift_s=${5:-230}
[ "${runs[*]}" = - ] && runs=()   # "-": no lifter runs (PHYSNET_LIFTER alone)
tau=${TAU:?TAU}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd)
work=${WORK:-/tmp/agree}; rm -rf "$work"; mkdir -p "$work/sets" "$work/data"
t0=$(date +%s)
if [ -n "${DETECTIONS:-}" ]; then      # a previous call's detections.tar.xz: no detection
  tar -xJf "$DETECTIONS" -C "$work/sets"
else
  STOCK_SETS= WORK="$work/detect" bash "$here/device_detect_sets.sh" "$fresh/videos" "$work/det" \
    > "$out/detect.log" 2>&1 || { tail -n 20 "$out/detect.log"; exit 1; }
  echo "detect done at $(( $(date +%s) - t0 )) s" | tee -a "$out/times.log"
  tar -xf "$work/det/detections.tar" -C "$work/sets"
  tar -cf - -C "$work/sets" . | xz -T0 -6 > "$out/detections.tar.xz"
fi
agree_pairs=(); raw_pairs=()
for det in "$work"/sets/*_det_renders.h5; do
  set_name=$(basename "$det" _det_renders.h5)
  ${PYTHON:-python3} "$here/rescore_agreement.py" "$det" "$work/${set_name}_det_agree.h5" "$tau" ||
    exit 1
  agree_pairs+=("$fresh/${set_name}_truth.h5=$work/${set_name}_det_agree.h5")
  raw_pairs+=("$fresh/${set_name}_truth.h5=$det")
done
for kind in agree raw; do
  pairs_var="${kind}_pairs[@]"; mkdir -p "$work/data_$kind"
  ${PYTHON:-python3} "$here/pack_lift_pairs.py" "$work/data_$kind" "${!pairs_var}" \
    > "$out/pack_$kind.log" 2>&1 || { cat "$out/pack_$kind.log"; exit 1; }
  cp "$dm" "$work/data_$kind/dm_train.h5.xz"
done
echo "data ready at $(( $(date +%s) - t0 )) s" | tee -a "$out/times.log"
for spec in "${runs[@]}"; do
  name=${spec%%=*}; init=${spec#*=}; mkdir -p "$out/$name"
  steps_var="LIFT_STEPS_$name"; data_var="DATA_$name"
  LIFT_INIT=$init LIFT_STEPS=${!steps_var:-${LIFT_STEPS:-1600}} VELOCITY_WEIGHTS= MLP=0 \
    WORK="$work/run_$name" bash "$here/device_d.sh" "$work/data_${!data_var:-agree}" \
    "$out/$name" "$lift_s" 0 0 \
    > "$out/$name.log" 2>&1 &
done
if [ -n "${PHYSNET_LIFTER:-}" ]; then  # PhysNet and the MLP on that lifter (device_d.sh's
  # PHYS_STEPS, FT_STEPS, VELOCITY_WEIGHTS, ... from the environment), on PHYSNET_DATA's pairs
  mkdir -p "$out/phys"
  LIFTER=$PHYSNET_LIFTER WORK="$work/run_phys" bash "$here/device_d.sh" \
    "$work/data_${PHYSNET_DATA:-agree}" "$out/phys" 0 "${PHYS_S:-200}" "${FT_S:-100}" \
    > "$out/phys.log" 2>&1 &
fi
wait
echo "lifters done at $(( $(date +%s) - t0 )) s" | tee -a "$out/times.log"
