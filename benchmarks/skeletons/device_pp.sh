#!/usr/bin/env bash
# [13] session 20 (one GPU, one call): the λ_pp ablation. Fresh training renders are detected
# with the validation recipe and scored by the views' agreement (device_agreement.sh), then
# PhysNet is continued from v0.4 on the shipped lifter's S_dd, 3 seeds for each λ_pp in
# PP_WEIGHTS (eq. 19 + λ_v 16, then eq. 20 + anchor; device_d.sh). The bundle returned keeps the
# fine-tuned models and every run's metrics (the pre-trained models are dropped: the device
# returns at most 8 files).
#   bash benchmarks/skeletons/device_pp.sh FRESH DM.h5.xz OUT
# FRESH holds SET_truth.h5 (or SET_truth.h5.xz) and videos/SET/; a missing mqfx4_truth.h5 is
# regenerated (synth is deterministic: the same truth as the rendered set's). DETECTIONS=
# detections.tar.xz (an earlier call's OUT) skips the detection, so FRESH needs no videos;
# SYNTH_SEEDS goes to device_d.sh. Session 20:
#   FRESH = tum4, hum4 (synth --motion deepmimic --clips <the 9 training clips> --per-class 6
#   --mannequin humanoid, seed 800 with --tumble 1, seed 810) and mqfx4 (synth --per-class 2
#   --seed 820), 178 videos.
set -uo pipefail
fresh=${1:?FRESH}; dm=${2:?DM.h5.xz}; out=${3:?OUT}
here=$(cd "$(dirname "$0")" && pwd)
for f in "$fresh"/*_truth.h5.xz; do [ -e "$f" ] && xz -d "$f"; done
{ [ -d "$fresh/videos/mqfx4" ] || [ -n "${DETECTIONS:-}" ]; } && [ ! -f "$fresh/mqfx4_truth.h5" ] &&
  ${PYTHON:-python3} -m finephys_cli synth --per-class 2 --seed 820 -o "$fresh/mqfx4_truth.h5" \
    --progress none -q
work=/tmp/pp; mkdir -p "$work"
TAU=0.05 PHYSNET_LIFTER=${LIFTER:-finephys_cli/assets/lifter} PHYSNET_DATA=agree \
  PHYS_STEPS=${PHYS_STEPS:-800} FT_STEPS=${FT_STEPS:-300} VELOCITY_WEIGHTS=16 MLP=0 \
  PP_WEIGHTS=${PP_WEIGHTS:-0 1} PHYS_S=${PHYS_S:-180} FT_S=${FT_S:-100} \
  bash "$here/device_agreement.sh" "$fresh" "$dm" "$work/agree" - 0
mkdir -p "$work/final" && cd "$work/final" || exit 1
cat "$work"/agree/phys/device_d.tar.xz.* | xz -dc | tar -xf - || exit 1
rm -rf bundle/pre_*/ && cp "$work"/agree/*.log bundle/ 2>/dev/null
mkdir -p "$out" && tar -cf - bundle | xz -T0 -6 | split -b 15M - "$out/pp_bundle.tar.xz."
cp "$work/agree/detections.tar.xz" "$out/" 2>/dev/null
ls -la "$out"
