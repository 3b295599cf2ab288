#!/usr/bin/env bash
# End to end through the CLI, as a user runs it: detect -> lift -> physnet -> eval-poses on a
# set of rendered videos with truth, for each PhysNet/MLP seed.
#   bash benchmarks/skeletons/validate.sh VIDEOS TRUTH.h5 OUTDIR LIFTER "PHYS0 PHYS1 .." "MLP0 MLP1 .." [DETECT.h5]
# With DETECT.h5 given, detection is taken from it (e.g. run on the GPU) instead of run here.
set -euo pipefail
videos=${1:?}; truth=${2:?}; out=${3:?}; lifter=${4:?}; phys=(${5:?}); mlps=(${6:?})
det=${7:-$out/detect.h5}
mkdir -p "$out"
fp() { finephys "$@" --progress none; }
# The renders recipe of lifter v0.8 (its card): renders detector, averaged rotations, scored by
# the views' agreement.
[ -f "$det" ] || fp detect "$videos" "-o" "$det" --frames all --model renders \
  --rotations 0,90,180,270 --rotation-merge average --rotation-scores agreement
fp lift "$det" -o "$out/pose3d.h5" --model "$lifter" --overwrite
for i in "${!phys[@]}"; do
  fp physnet "$out/pose3d.h5" -o "$out/phys.seed$i.h5" --model "${phys[$i]}" \
     --mlp-model "${mlps[$i]}" --overwrite
  finephys eval-poses "$out/phys.seed$i.h5" --truth "$truth" -o "$out/eval.seed$i.json" \
     > /dev/null 2>&1
done
echo "$out"
