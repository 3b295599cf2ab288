#!/usr/bin/env bash
# Offline generator v2: continue the generator in finephys_cli/assets/generator on fresh synth
# motions with pose-conditioning dropout, EMA weights and a warm-up + cosine schedule, then
# the short LoRA step (also with pose dropout), rebuild the bundle and evaluate it. One
# ~10-minute H200 call; run it again (another SEEDS) to continue from the bundle it made.
#
# Usage: SEEDS="300 400" WORK=/tmp/v2 OUT=out/ bash benchmarks/offline_generator/v2.sh
#   BASELINE=1 also evaluates the generator it starts from (before training);
#   ABLATION=1 runs guidance_ablation.py on the new bundle.
# OUT receives bundle.tar.part-* (cat them | tar -x) and results.tar (evaluations, metrics,
# strips): few files, as a device call returns at most 8.
set -euo pipefail
WORK=${WORK:-work/offline_v2}
OUT=${OUT:-$WORK/out}
RES="$WORK/results"
CLASS_IDS=${CLASS_IDS:-$(seq 6 40)}
EVAL_CLASSES=${EVAL_CLASSES:-all}
EVAL_STEPS=${EVAL_STEPS:-25}
BATCH=${BATCH:-32}
DEVICE=${DEVICE:-cuda}
EVAL_CACHE=${EVAL_CACHE:-$RES/eval_poses}   # the held-out skeletons (phys files), if made
DEADLINE=${DEADLINE:-0}     # seconds: skip the ablation when it would end past this (0: run it)
SEEDS=${SEEDS:-"300 400"}
PER_CLASS=${PER_CLASS:-12}
UNET_S=${UNET_S:-280}
UNET_STEPS=${UNET_STEPS:-1000}
LORA_S=${LORA_S:-20}
JOBS=${JOBS:-16}
POSE_DROPOUT=${POSE_DROPOUT:-0.2}
EMA=${EMA:-0.995}
LR=${LR:-3e-4}
PRECISION=${PRECISION:-bf16}
FP="python3 -m finephys_cli"
G=finephys_cli/assets/generator
R="$WORK/runs"
mkdir -p "$WORK/data" "$OUT" "$RES"
t0=$(date +%s)
stamp() { echo "[v2 $(( $(date +%s) - t0 )) s] $*" >&2; }

if [ "${BASELINE:-0}" = 1 ]; then
  python3 benchmarks/offline_generator/evaluate.py --device "$DEVICE" --strips 0 \
    --classes "$EVAL_CLASSES" --steps "$EVAL_STEPS" --poses-cache "$EVAL_CACHE" \
    --out "$RES/eval_before.json" > /dev/null
  stamp "baseline evaluated"
fi

bash benchmarks/offline_generator/make_clips.sh "$WORK/data" "$PER_CLASS" "$JOBS" "$SEEDS" "$CLASS_IDS"
CLIPS=()
for f in "$WORK"/data/c*.h5; do CLIPS+=(--clips "$f"); done
stamp "data: ${#CLIPS[@]} clip files"

COMMON=(--set pose_dropout="$POSE_DROPOUT" --set ema_decay="$EMA" --set eval_every=250
        --set mixed_precision="$PRECISION" --set val_steps=25 --progress plain)
$FP train-lora --resume auto --mode unet "${CLIPS[@]}" --sd15 "$G/sd15" --heatmap-encoder "$G/heatmap_encoder" \
  --runs "$R" --name base --steps "$UNET_STEPS" --batch-size "$BATCH" --set lr="$LR" \
  --set lr_schedule=cosine --set warmup_steps=50 --set time_limit_s="$UNET_S" "${COMMON[@]}"
stamp "unet trained"
$FP train-lora --resume auto --mode lora "${CLIPS[@]}" --sd15 "$R/train-lora/base/model-last/sd15" \
  --heatmap-encoder "$R/train-lora/base/model-last/heatmap_encoder" --runs "$R" --name lora \
  --steps 100000 --batch-size "$(( BATCH < 8 ? BATCH : 8 ))" --set rank=16 --set time_limit_s="$LORA_S" "${COMMON[@]}"
stamp "lora trained"
python3 benchmarks/offline_generator/build_bundle.py --base "$R/train-lora/base/model-last" \
  --lora "$R/train-lora/lora/model-last" -o "$WORK/bundle" > /dev/null
cp "$R/train-lora/base/metrics.csv" "$RES/metrics_base.csv"
cp "$R/train-lora/lora/metrics.csv" "$RES/metrics_lora.csv"
cp -r "$R/train-lora/base/val" "$RES/val_base"
tar -C "$WORK/bundle" -cf - . | split -b 15M - "$OUT/bundle.tar.part-"
cp "$G/README.md" "$WORK/bundle/" 2>/dev/null || true   # the model card stays
rm -rf "$G" && cp -r "$WORK/bundle" "$G"
stamp "bundle built and installed"
tar -C "$RES" -cf "$OUT/results.tar" .   # the training record, should the evaluation not finish
eval_t0=$(date +%s)
python3 benchmarks/offline_generator/evaluate.py --device "$DEVICE" --strips 8 \
  --classes "$EVAL_CLASSES" --steps "$EVAL_STEPS" --poses-cache "$EVAL_CACHE" \
  --out "$RES/eval.json" > /dev/null
stamp "evaluated"
tar -C "$RES" --exclude eval_poses -cf "$OUT/results.tar" .
now=$(date +%s)
# the ablation samples 4 videos per class to the evaluation's 3, at the same cost each
ablation_s=$(( (now - eval_t0) * 4 / 3 + 10 ))
if [ "${ABLATION:-0}" = 1 ] && { [ "$DEADLINE" = 0 ] || [ $(( now - t0 + ablation_s )) -lt "$DEADLINE" ]; }; then
  python3 benchmarks/offline_generator/guidance_ablation.py --device "$DEVICE" \
    --classes "$EVAL_CLASSES" --steps "$EVAL_STEPS" --poses-cache "$EVAL_CACHE" \
    --out "$RES/ablation.json" > /dev/null
  stamp "ablation done"
elif [ "${ABLATION:-0}" = 1 ]; then
  stamp "ablation skipped: it would end past DEADLINE=$DEADLINE s"
fi
tar -C "$RES" --exclude eval_poses --exclude ablation_poses -cf "$OUT/results.tar" .
