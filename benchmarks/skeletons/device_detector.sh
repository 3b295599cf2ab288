#!/usr/bin/env bash
# [13] device part D (one GPU): fine-tune YOLO-pose on the rendered training clips with
# finephys train-detector, inside a time limit.
#   bash benchmarks/skeletons/device_detector.sh DATA OUT MINUTES
# DATA is pack_detector_data.py's output (truth.tar.xz, <set>/videos); OUT receives the model,
# its card and Ultralytics' results.csv.
set -euo pipefail
data=${1:?DATA}; out=${2:?OUT}; minutes=${3:-6}
work=${WORK:-/tmp/dtw}; mkdir -p "$work"
tar -xJf "$data/truth.tar.xz" -C "$data"
sets=(); for t in "$data"/*/truth.h5; do sets+=(--data "$t"); done
hours=$(awk "BEGIN{print $minutes / 60}")
s=$EPOCHREALTIME
${PYTHON:-python3} -m finephys_cli train-detector "${sets[@]}" --runs "$work/runs" \
  --name renders --epochs 200 --imgsz 640 --batch-size 64 --device "${DEVICE:-cuda}" \
  --set time_limit_h="$hours" --set workers=14 --set reader=opencv --progress plain
echo "train-detector: $(awk "BEGIN{print $EPOCHREALTIME - $s}") s" | tee "$out/times.txt"
run=$work/runs/train-detector/renders
cp "$run/model-best.pt" "$run/model-best.json" "$run/yolo/results.csv" "$out/"
