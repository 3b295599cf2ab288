#!/usr/bin/env bash
# [13] device part E (one GPU): detect several sets of rendered videos the way the validation
# set is detected, fast enough for one call: every set in SHARDS shards (`detect --shard`), all
# shards at once, then `finephys merge`.
#   bash benchmarks/skeletons/device_detect_sets.sh VIDEOS OUT
# VIDEOS/SET/ holds each set's videos. OUT receives detections.tar with SET_det_renders.h5 (the
# detector MODEL, default the bundled renders detector, with RENDERS_ARGS, default the averaged
# rotations) and, for the sets in STOCK_SETS (unset: all; empty: none), SET_det_stock.h5 (the
# bundled yolo11n-pose, one pass: averaging makes the stock detector worse), and times.txt
# (appended to). pack_lift_pairs.py pairs them with the truth for device_d.sh. On one H200
# (session 16) the three training sets below and the validation set (187 videos) took 110.8 s
# in 32 processes; the training sets made lifters v0.6 and v0.7:
#   tc=crawl,dance_a,dance_b,getup_facedown,getup_faceup,punch,run,spin,walk
#   finephys synth --motion deepmimic --clips $tc --per-class 8 --seed 650 --tumble 1 \
#       --mannequin humanoid --videos V/tum -o tum_truth.h5            (72 videos)
#   finephys synth --motion deepmimic --clips $tc --per-class 4 --seed 660 \
#       --mannequin humanoid --videos V/hum -o hum_truth.h5            (36 videos)
#   finephys synth --per-class 2 --seed 670 --videos V/mqfx -o mqfx_truth.h5   (70 videos)
#   finephys synth --motion deepmimic --clips roll,kick,jump --per-class 3 --seed 500 \
#       --mannequin humanoid --videos V/val -o val_truth.h5            (the validation set)
#   bash benchmarks/skeletons/device_detect_sets.sh V OUT
set -euo pipefail
videos=${1:?VIDEOS}; out=${2:?OUT}; shards=${SHARDS:-4}
renders_args=${RENDERS_ARGS---rotations 0,90,180,270 --rotation-merge average}
model=${MODEL:-renders}
mkdir -p "$out" && out=$(cd "$out" && pwd)   # the tar below runs in another directory
work=${WORK:-/tmp/dets}; rm -rf "$work/shards" "$work/sets"; mkdir -p "$work/shards" "$work/sets"
fp() { OMP_NUM_THREADS=1 ${PYTHON:-python3} -m finephys_cli "$@"; }
common=(--frames all --reader opencv --device "${DEVICE:-cuda}" --progress none)
s=$EPOCHREALTIME
pids=()
for dir in "$videos"/*/; do
  name=$(basename "$dir")
  for ((i = 0; i < shards; i++)); do
    # shellcheck disable=SC2086  # RENDERS_ARGS is a list of options
    fp detect "$dir" -o "$work/shards/${name}_renders_$i.h5" --model "$model" $renders_args \
      "${common[@]}" --shard "$i/$shards" 2> "$work/shards/${name}_renders_$i.log" & pids+=($!)
    case " ${STOCK_SETS-$name} " in *" $name "*)
      fp detect "$dir" -o "$work/shards/${name}_stock_$i.h5" "${common[@]}" --shard "$i/$shards" \
        2> "$work/shards/${name}_stock_$i.log" & pids+=($!);; esac
  done
done
failed=0; for p in "${pids[@]}"; do wait "$p" || failed=1; done
echo "detect: $(awk "BEGIN{print $EPOCHREALTIME - $s}") s, ${#pids[@]} processes" | tee -a "$out/times.txt"
[ "$failed" = 0 ] || { tail -n 5 "$work"/shards/*.log >&2; exit 1; }
for dir in "$videos"/*/; do
  name=$(basename "$dir")
  for det in renders stock; do
    parts=("$work"/shards/"${name}_${det}"_*.h5)
    if [ -f "${parts[0]}" ]; then fp merge "${parts[@]}" -o "$work/sets/${name}_det_$det.h5" > /dev/null; fi
  done
done
(cd "$work/sets" && tar -cf "$out/detections.tar" ./*_det_*.h5)
ls -l "$work/sets"
