#!/usr/bin/env bash
# Rebuild the offline generator shipped in finephys_cli/assets/generator, with the project's own
# commands. On one H100 the whole script ran in one ~10-minute device call (times below are the
# per-stage wall-clock limits it used; --steps are upper bounds).
#
#   1. data (CPU, ~5 min here): synth mannequin clips of all 35 classes, cut to 16 frames at 128 px
#        finephys synth --classes all --per-class 12 --seed 100 --videos videos -o synth.h5
#        finephys prepare-clips synth.h5 --size 128 --frames 16 -o clips.h5
#   2. this script: VAE -> init -> UNet from scratch -> LoRA -> bundle
#
# Usage: CLIPS=clips.h5 WORK=work/ bash benchmarks/offline_generator/train.sh
set -euo pipefail
CLIPS=${CLIPS:?set CLIPS to a finephys.clips file}
WORK=${WORK:-work/offline_generator}
VAE_S=${VAE_S:-60}
UNET_S=${UNET_S:-360}
LORA_S=${LORA_S:-25}
PRECISION=${PRECISION:-bf16}
FP="python3 -m finephys_cli"
mkdir -p "$WORK"
R="$WORK/runs"

$FP train-autoencoder --resume auto --clips "$CLIPS" --runs "$R" --name vae --steps 20000 --batch-size 64 \
  --set time_limit_s="$VAE_S" --set mixed_precision="$PRECISION" --set eval_every=500 \
  --progress plain
$FP init-generator --vae "$R/train-autoencoder/vae/model-best/vae" --clips "$CLIPS" \
  -o "$WORK/init" --overwrite
$FP train-lora --resume auto --mode unet --clips "$CLIPS" --sd15 "$WORK/init/sd15" \
  --heatmap-encoder "$WORK/init/heatmap_encoder" --runs "$R" --name base --steps 100000 \
  --batch-size 32 --set lr=5e-4 --set time_limit_s="$UNET_S" --set eval_every=1000 \
  --set mixed_precision="$PRECISION" --set val_steps=25 --progress plain
$FP train-lora --resume auto --mode lora --clips "$CLIPS" --sd15 "$R/train-lora/base/model-last/sd15" \
  --heatmap-encoder "$R/train-lora/base/model-last/heatmap_encoder" --runs "$R" --name lora \
  --steps 100000 --batch-size 8 --set rank=16 --set time_limit_s="$LORA_S" \
  --set eval_every=1000 --set mixed_precision="$PRECISION" --set val_steps=25 --progress plain
python3 benchmarks/offline_generator/build_bundle.py --base "$R/train-lora/base/model-last" \
  --lora "$R/train-lora/lora/model-last" -o "$WORK/bundle"
