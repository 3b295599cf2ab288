#!/usr/bin/env bash
# Is the offline generator's autoencoder its ceiling? One ~8-minute H200 call:
#  1. fresh training clips (synth seeds $SEEDS, all 35 FX classes) and held-out ones (seed 1000);
#  2. three autoencoders, in parallel on the one GPU, $VAE_S seconds each:
#       dec_w0   the shipped VAE's decoder fine-tuned alone (latent space kept), plain loss
#       dec_w20  the same with foreground_weight=20
#       full_w20 a new VAE from scratch, foreground_weight=20 (a new latent space: ceiling only)
#  3. vae_ceiling.py on the held-out clips (the locator on true renders and on each VAE's
#     reconstructions), and evaluate.py (guided) with each kept-latent decoder swapped into the
#     shipped bundle, with and without --pose-cfg;
#  4. train-lora --mode unet step time at batch 32 / 128 / 256 (until DEADLINE seconds).
# Usage: OUT=out/ bash benchmarks/offline_generator/vae_probe.sh   (OUT receives probe.tar)
set -euo pipefail
WORK=${WORK:-/tmp/vae_probe}
OUT=${OUT:-$WORK/out}
SEEDS=${SEEDS:-"300 400"}
VAE_S=${VAE_S:-120}
DEADLINE=${DEADLINE:-500}
JOBS=${JOBS:-16}
FP="python3 -m finephys_cli"
G=${G:-finephys_cli/assets/generator}   # the generator probed (in the recorded run: v2, git df57c38)
mkdir -p "$WORK/data" "$WORK/held" "$OUT"
t0=$(date +%s)
stamp() { echo "[probe $(( $(date +%s) - t0 )) s] $*" >&2; }

python3 benchmarks/offline_generator/evaluate.py --device cuda --strips 0 --conditions guided \
  --generator "$G" --no-pose-cfg --poses-cache "$WORK/eval_poses" --out "$OUT/eval_shipped.json" > /dev/null 2> "$OUT/eval_shipped.log" &
base_eval=$!
bash benchmarks/offline_generator/make_clips.sh "$WORK/data" 12 "$JOBS" "$SEEDS" "$(seq 6 40)"
bash benchmarks/offline_generator/make_clips.sh "$WORK/held" 1 "$JOBS" 1000 "$(seq 6 40)"
CLIPS=(); for f in "$WORK"/data/c*.h5; do CLIPS+=(--clips "$f"); done
stamp "data: ${#CLIPS[@]} clip files, $(ls "$WORK"/held/c*.h5 | wc -l) held-out"

vae() {  # name, then --set options
  local name=$1; shift
  $FP train-autoencoder --resume auto "${CLIPS[@]}" --runs "$WORK/runs" --name "$name" --steps 100000 \
    --batch-size 64 --set time_limit_s="$VAE_S" --set eval_every=200 --set mixed_precision=bf16 \
    --progress none "$@" > /dev/null 2> "$OUT/vae_$name.log"
}
vae dec_w0 --set init_from="$G/sd15" --set train_encoder=false --set lr=2e-4 &
p1=$!
vae dec_w20 --set init_from="$G/sd15" --set train_encoder=false --set lr=2e-4 \
  --set foreground_weight=20 &
p2=$!
vae full_w20 --set foreground_weight=20 &
p3=$!
wait $p1; wait $p2; wait $p3
stamp "autoencoders trained"
wait $base_eval || echo "baseline evaluation failed" >&2
stamp "baseline evaluated"
A="$WORK/runs/train-autoencoder"
for n in dec_w0 dec_w20 full_w20; do cp "$A/$n/metrics.csv" "$OUT/vae_${n}_metrics.csv"; done
python3 benchmarks/offline_generator/vae_ceiling.py --device cuda --clips "$WORK"/held/c*.h5 \
  --vae "$G/sd15/vae" --vae "$A/dec_w0/model-best/vae" --vae "$A/dec_w20/model-best/vae" \
  --vae "$A/full_w20/model-best/vae" --out "$OUT/ceiling.json" > /dev/null
stamp "ceilings measured"

pids=()
for n in dec_w0 dec_w20; do
  b="$WORK/bundle_$n"; cp -r "$G" "$b"; rm -rf "$b/sd15/vae"; cp -r "$A/$n/model-best/vae" "$b/sd15/vae"
  python3 benchmarks/offline_generator/evaluate.py --device cuda --strips 0 --conditions guided \
    --generator "$b" --no-pose-cfg --poses-cache "$WORK/eval_poses" --out "$OUT/eval_$n.json" > /dev/null \
    2> "$OUT/eval_$n.log" & pids+=($!)
  python3 benchmarks/offline_generator/evaluate.py --device cuda --strips 0 --conditions guided \
    --generator "$b" --pose-cfg --poses-cache "$WORK/eval_poses" --out "$OUT/eval_${n}_posecfg.json" \
    > /dev/null 2> "$OUT/eval_${n}_posecfg.log" & pids+=($!)
done
python3 benchmarks/offline_generator/evaluate.py --device cuda --strips 0 --conditions guided \
  --generator "$G" --pose-cfg --poses-cache "$WORK/eval_poses" --out "$OUT/eval_shipped_posecfg.json" > /dev/null \
  2> "$OUT/eval_shipped_posecfg.log" & pids+=($!)
for p in "${pids[@]}"; do wait "$p" || echo "an evaluation failed" >&2; done
stamp "evaluations done"
cp -r "$A/dec_w20/model-best/vae" "$OUT/vae_dec_w20"

for bs in 32 128 256; do
  [ $(( $(date +%s) - t0 + 70 )) -lt "$DEADLINE" ] || { stamp "step-time probe stopped at DEADLINE"; break; }
  $FP train-lora --resume auto --mode unet --clips "$WORK/data/c300-6.h5" --clips "$WORK/data/c300-7.h5" \
    --clips "$WORK/data/c300-8.h5" --clips "$WORK/data/c300-9.h5" --sd15 "$G/sd15" \
    --heatmap-encoder "$G/heatmap_encoder" --runs "$WORK/runs" --name "bs$bs" --steps 30 \
    --batch-size "$bs" --set eval_every=30 --set val_steps=2 --set mixed_precision=bf16 \
    --progress none > /dev/null 2> "$OUT/unet_bs$bs.log" || echo "batch $bs failed" >&2
  cp "$WORK/runs/train-lora/bs$bs/metrics.csv" "$OUT/unet_bs${bs}_metrics.csv" 2>/dev/null || true
  stamp "batch $bs timed"
done
# a device call returns at most 8 files: one archive
tar -C "$OUT" -cf "$WORK/probe.tar" . && rm -rf "${OUT:?}"/* && mv "$WORK/probe.tar" "$OUT/"
