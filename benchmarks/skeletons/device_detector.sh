#!/usr/bin/env bash
# [13] device part D (one GPU): fine-tune YOLO-pose on the rendered training clips with
# finephys train-detector, inside a time limit.
#   bash benchmarks/skeletons/device_detector.sh DATA OUT MINUTES [TRAIN-DETECTOR OPTIONS...]
# (e.g. --set lr0=3e-4 --set warmup_epochs=0 to fine-tune an already tuned BASE gently).
# DATA is pack_detector_data.py's output (truth.tar.xz, <set>/videos); OUT receives the model,
# its card and Ultralytics' results.csv.
# BASE=model.pt starts from that model (default: the bundled yolo11n-pose). After training,
# every DATA/<name>/videos folder (training sets and any folder without a truth.h5, e.g. the
# validation videos) is detected with the new model into <name>_det_renders.h5, and with
# the bundled yolo11n-pose into <name>_det_stock.h5 for the names in STOCK_SETS, all in
# OUT/detections.tar.
# The renders detector v0.2 came from (session 10; DATA = pack_detector_data.py of the sets
# hum mqfx tuma tumb of make_renders.sh, plus the validation videos as val/videos):
#   BASE=<renders detector v0.1> STOCK_SETS="tuma tumb" \
#       bash benchmarks/skeletons/device_detector.sh DATA OUT 5.2
# DETECT_SETS (unset: all) names the folders to detect after training, e.g. "val" alone.
# DETECT_ARGS (e.g. "--rotations 0,90,180,270 --rotation-merge average") go to every detect
# call of the new model (not the stock one, which averaging makes worse), so the training
# renders can be re-detected the way the validation set is.
# Detection runs through device_detect_sets.sh (shards in parallel): one process with OpenCV
# decoding ran at only ~75 frames/s, and that call hit the 10-minute limit after hum, mqfx and
# tuma (tumb and val were detected on the CPU).
set -euo pipefail
data=${1:?DATA}; out=${2:?OUT}; minutes=${3:-6}; shift $(( $# < 3 ? $# : 3 ))
work=${WORK:-/tmp/dtw}; mkdir -p "$work"
tar -xJf "$data/truth.tar.xz" -C "$data"
sets=(); for t in "$data"/*/truth.h5; do sets+=(--data "$t"); done
hours=$(awk "BEGIN{print $minutes / 60}")
s=$EPOCHREALTIME
${PYTHON:-python3} -m finephys_cli train-detector "${sets[@]}" --runs "$work/runs" \
  --name renders --epochs 200 --imgsz 640 --batch-size 64 --device "${DEVICE:-cuda}" \
  --set time_limit_h="$hours" --set workers=14 --set reader=opencv --progress plain \
  ${BASE:+--set base="$BASE"} "$@"
echo "train-detector: $(awk "BEGIN{print $EPOCHREALTIME - $s}") s" | tee "$out/times.txt"
run=$work/runs/train-detector/renders
cp "$run/model-best.pt" "$run/model-best.json" "$run/yolo/results.csv" "$out/"
# detection as the validation set is detected, in parallel shards: VIDEOS/<name> -> DATA/<name>/videos
rm -rf "$work/videos" && mkdir -p "$work/videos"
for dir in "$data"/*/videos; do
  name=$(basename "$(dirname "$dir")")
  case " ${DETECT_SETS-$name} " in *" $name "*) ln -sfn "$(realpath "$dir")" "$work/videos/$name";; esac
done
MODEL="$run/model-best.pt" RENDERS_ARGS="${DETECT_ARGS:-}" STOCK_SETS="${STOCK_SETS:-}" \
  WORK="$work/detect" bash "$(dirname "$0")/device_detect_sets.sh" "$work/videos" "$out"
