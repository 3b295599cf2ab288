#!/usr/bin/env bash
# The cost of detect --rotations against one pass, one process, on one GPU:
#   bash benchmarks/skeletons/detect_tta_bench.sh VIDEOS OUT.json
set -euo pipefail
videos=${1:?}; out=${2:?}
fp() { ${PYTHON:-python3} -m finephys_cli "$@"; }
frames=0
warm=$(ls "$videos"/*.mp4 | head -1)
fp detect "$warm" -o /tmp/tta_warm.h5 --frames all --reader opencv --device "${DEVICE:-cuda}" \
   --progress none --overwrite > /dev/null 2>&1
declare -A took
for rot in 0 0,90,180,270; do
  s=$EPOCHREALTIME
  fp detect "$videos" -o "/tmp/tta_${rot//,/_}.h5" --frames all --rotations "$rot" \
     --reader opencv --device "${DEVICE:-cuda}" --progress none --overwrite > /dev/null 2>&1
  took[$rot]=$(awk "BEGIN{print $EPOCHREALTIME - $s}")
done
frames=$(${PYTHON:-python3} -c "
import sys; from finephys_cli.io.poses_h5 import PoseFile
pf = PoseFile('/tmp/tta_0.h5'); print(sum(len(pf.read(v, 'scores')) for v in pf.video_ids))")
device=$(${PYTHON:-python3} -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')")
cat > "$out" <<JSON
{"benchmark": "detect --rotations cost, one process, whole command incl. model load",
 "device": "$device", "videos": "$(ls "$videos"/*.mp4 | wc -l)", "frames": $frames,
 "seconds_one_pass": ${took[0]}, "seconds_rotations_0_90_180_270": ${took[0,90,180,270]},
 "ratio": $(awk "BEGIN{print ${took[0,90,180,270]} / ${took[0]}}")}
JSON
cat "$out"
