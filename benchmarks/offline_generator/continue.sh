#!/usr/bin/env bash
# Continue training the shipped offline generator on fresh synth motions (another seed), rendered
# on the training machine itself (prepare-clips --render parts: no videos, no PyAV needed), then
# redo the short LoRA step and rebuild the bundle. One ~10-minute H100 call.
#
# Usage: WORK=work/continue bash benchmarks/offline_generator/continue.sh
set -euo pipefail
WORK=${WORK:-work/offline_continue}
SEED=${SEED:-200}
UNET_S=${UNET_S:-330}
LORA_S=${LORA_S:-25}
JOBS=${JOBS:-16}
PRECISION=${PRECISION:-bf16}
FP="python3 -m finephys_cli"
G=${GENERATOR:-finephys_cli/assets/generator}
R="$WORK/runs"
mkdir -p "$WORK/data"
seq 6 40 | xargs -P "$JOBS" -I{} sh -c "$FP synth --classes {} --per-class 12 --seed $SEED \
  -o $WORK/data/s{}.h5 --progress none >/dev/null && $FP prepare-clips $WORK/data/s{}.h5 \
  --render parts --size 128 --frames 16 -o $WORK/data/c{}.h5 --progress none >/dev/null"
CLIPS=()
for c in $(seq 6 40); do CLIPS+=(--clips "$WORK/data/c$c.h5"); done
$FP train-lora --resume auto --mode unet "${CLIPS[@]}" --sd15 "$G/sd15" --heatmap-encoder "$G/heatmap_encoder" \
  --runs "$R" --name base --steps 100000 --batch-size 32 --set lr=3e-4 \
  --set time_limit_s="$UNET_S" --set eval_every=1000 --set mixed_precision="$PRECISION" \
  --progress plain
$FP train-lora --resume auto --mode lora "${CLIPS[@]}" --sd15 "$R/train-lora/base/model-last/sd15" \
  --heatmap-encoder "$R/train-lora/base/model-last/heatmap_encoder" --runs "$R" --name lora \
  --steps 100000 --batch-size 8 --set rank=16 --set time_limit_s="$LORA_S" \
  --set eval_every=1000 --set mixed_precision="$PRECISION" --progress plain
python3 benchmarks/offline_generator/build_bundle.py --base "$R/train-lora/base/model-last" \
  --lora "$R/train-lora/lora/model-last" -o "$WORK/bundle"
