#!/usr/bin/env bash
# Offline generator v3: the decoder of the shipped autoencoder fine-tuned alone with the
# foreground-weighted loss (its latent space, so the UNet, stays valid), and the UNet continued
# from the shipped one (the v2 recipe: pose dropout, EMA, cosine), once with the plain ε loss
# and once with the latent foreground weight 4 (FGS): three trainings at once on one GPU. Each UNet
# gets the short LoRA step and the new decoder; both bundles are evaluated (evaluate.py, each
# condition in its own process, with --pose-cfg; guided also without it) and the better by
# guided PCK with --pose-cfg is returned. One ~9.5-minute H200 call.
#
# Usage: OUT=out/ bash benchmarks/offline_generator/v3.sh
#   START: the bundle to continue (default: the shipped one); FGS: the UNet variants' latent
#   foreground weights ("0 4"); UNET_STEPS: the cosine's horizon in steps (default 100000, so a
#   time-limited run keeps lr nearly constant); BASELINE=0 skips evaluating START.
# OUT receives bundle.tar.part-* (cat them | tar -x) and results.tar.
set -euo pipefail
WORK=${WORK:-/tmp/v3}
OUT=${OUT:-$WORK/out}
RES="$WORK/results"
SEEDS=${SEEDS:-"400 500"}
TRAIN_S=${TRAIN_S:-240}
LORA_S=${LORA_S:-15}
BATCH=${BATCH:-64}
FGS=${FGS:-"0 4"}
UNET_STEPS=${UNET_STEPS:-100000}
DEC_LR=${DEC_LR:-2e-4}
BASELINE=${BASELINE:-1}
PRECISION=${PRECISION:-bf16}
DEC_BATCH=${DEC_BATCH:-64}
JOBS=${JOBS:-16}
CLASS_IDS=${CLASS_IDS:-$(seq 6 40)}
EVAL_CLASSES=${EVAL_CLASSES:-all}
EVAL_STEPS=${EVAL_STEPS:-25}
DEVICE=${DEVICE:-cuda}
FP="python3 -m finephys_cli"
G=finephys_cli/assets/generator
START=${START:-$G}
R="$WORK/runs"
mkdir -p "$WORK/data" "$OUT" "$RES"
t0=$(date +%s)
stamp() { echo "[v3 $(( $(date +%s) - t0 )) s] $*" | tee -a "$RES/log.txt" >&2; }
evaluate() {  # out name, bundle, then evaluate.py options
  local name=$1 bundle=$2; shift 2
  python3 benchmarks/offline_generator/evaluate.py --device "$DEVICE" --strips 0 \
    --classes "$EVAL_CLASSES" --steps "$EVAL_STEPS" --generator "$bundle" --poses-cache "$WORK/eval_poses" --out "$RES/eval_$name.json" "$@" \
    > /dev/null 2> "$RES/eval_$name.log"
}

# the held-out skeletons first (the evaluations below run in parallel and share them)
if [ "$BASELINE" = 1 ]; then
  evaluate start_posecfg "$START" --conditions guided --pose-cfg &
else
  evaluate skeletons "$START" --skeletons-only &
fi
base_eval=$!
bash benchmarks/offline_generator/make_clips.sh "$WORK/data" 12 "$JOBS" "$SEEDS" "$CLASS_IDS"
CLIPS=(); for f in "$WORK"/data/c*.h5; do CLIPS+=(--clips "$f"); done
stamp "data: ${#CLIPS[@]} clip files"

$FP train-autoencoder --resume auto "${CLIPS[@]}" --device "$DEVICE" --runs "$R" --name decoder --steps 100000 --batch-size "$DEC_BATCH" \
  --set init_from="$START/sd15" --set train_encoder=false --set lr="$DEC_LR" --set foreground_weight=20 \
  --set time_limit_s="$TRAIN_S" --set eval_every=200 --set mixed_precision="$PRECISION" --progress none \
  > /dev/null 2> "$RES/train_decoder.log" &
p_dec=$!
unet() {  # name, foreground weight
  $FP train-lora --resume auto --mode unet "${CLIPS[@]}" --device "$DEVICE" --sd15 "$START/sd15" \
    --heatmap-encoder "$START/heatmap_encoder" --runs "$R" --name "unet_$1" \
    --steps "$UNET_STEPS" --batch-size "$BATCH" --set lr=3e-4 \
    --set lr_schedule=cosine --set warmup_steps=50 --set time_limit_s="$TRAIN_S" \
    --set pose_dropout=0.2 --set ema_decay=0.995 --set eval_every=250 --set val_steps=10 \
    --set mixed_precision="$PRECISION" --set foreground_weight="$2" --progress none \
    > /dev/null 2> "$RES/train_unet_$1.log"
  $FP train-lora --resume auto --mode lora "${CLIPS[@]}" --device "$DEVICE" --sd15 "$R/train-lora/unet_$1/model-last/sd15" \
    --heatmap-encoder "$R/train-lora/unet_$1/model-last/heatmap_encoder" --runs "$R" \
    --name "lora_$1" --steps 100000 --batch-size 8 --set rank=16 --set time_limit_s="$LORA_S" \
    --set pose_dropout=0.2 --set ema_decay=0.995 --set eval_every=250 --set val_steps=10 \
    --set mixed_precision="$PRECISION" --set foreground_weight="$2" --progress none \
    > /dev/null 2> "$RES/train_lora_$1.log"
}
unet_pids=()
for fg in $FGS; do unet "fg$fg" "$fg" & unet_pids+=($!); done
fail() { stamp "$1"; tar -C "$RES" -cf "$OUT/results.tar" .; exit 1; }
wait $p_dec || fail "the decoder training failed"
stamp "decoder trained"
for p in "${unet_pids[@]}"; do wait "$p" || fail "a UNet training failed"; done
stamp "UNets and LoRAs trained"
PRIOR=$(python3 -c "import json; print(json.load(open('$START/finephys_generator.json')).get('steps', 0))")
wait "$base_eval" || stamp "the starting bundle's evaluation failed"
cp "$R/train-autoencoder/decoder/metrics.csv" "$RES/metrics_decoder.csv"
pids=()
for fg in $FGS; do
  n="fg$fg"
  cp "$R/train-lora/unet_$n/metrics.csv" "$RES/metrics_unet_$n.csv"
  cp "$R/train-lora/lora_$n/metrics.csv" "$RES/metrics_lora_$n.csv"
  b="$WORK/bundle_$n"
  python3 benchmarks/offline_generator/build_bundle.py --base "$R/train-lora/unet_$n/model-last" \
    --lora "$R/train-lora/lora_$n/model-last" --vae "$R/train-autoencoder/decoder/model-best/vae" \
    --prior-steps "$PRIOR" \
    -o "$b" > /dev/null
  for cond in guided unguided mismatched; do
    evaluate "${n}_${cond}_posecfg" "$b" --conditions "$cond" --pose-cfg & pids+=($!)
  done
  evaluate "${n}_guided" "$b" --conditions guided --no-pose-cfg & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || stamp "an evaluation failed"; done
stamp "evaluated"
best=$(python3 - "$RES" $FGS <<'PY'
import json, sys
res = sys.argv[1]
pck = {f"fg{w}": json.load(open(f"{res}/eval_fg{w}_guided_posecfg.json"))["table"]["guided"]["pck"]
       for w in sys.argv[2:]}
print(max(pck, key=pck.get))
PY
)
stamp "returned bundle: $best"
echo "$best" > "$RES/best.txt"
cp "$G/README.md" "$WORK/bundle_$best/"
tar -C "$WORK/bundle_$best" -cf - . | split -b 15M - "$OUT/bundle.tar.part-"
tar -C "$RES" -cf "$OUT/results.tar" .
