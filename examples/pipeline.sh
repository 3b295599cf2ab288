#!/usr/bin/env bash
# The pose pipeline on a folder of videos, stage by stage. Every stage skips finished outputs
# (same config) and resumes interrupted ones, so rerunning this script is cheap.
# Usage: examples/pipeline.sh VIDEOS_DIR OUT_DIR
set -euo pipefail
videos=${1:?videos folder}
out=${2:?output folder}
mkdir -p "$out"
# Exit code 3 is a partial batch failure (e.g. a clip with nobody detected): the other clips
# were saved, so go on; any other failure stops the script.
run() { "$@" || { rc=$?; [ "$rc" -eq 3 ] || exit "$rc"; echo "partial failure, continuing" >&2; }; }
run finephys detect "$videos" -o "$out/detect.h5"
run finephys lift "$out/detect.h5" -o "$out/pose3d.h5"
run finephys physnet "$out/pose3d.h5" -o "$out/phys.h5"
run finephys render-heatmaps "$out/phys.h5" -o "$out/heatmaps.h5"
run finephys viz "$out/phys.h5" --pose-sources detect,fused -o "$out/skeletons.png"
