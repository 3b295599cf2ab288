#!/usr/bin/env bash
# The videos behind the skeleton benchmark ([13]), rendered on the CPU (pybullet's renderer):
#   val/        the validation set: the DeepMimic humanoid body doing roll, kick and jump, each
#               from 3 broadcast-like cameras (seed 500). Never trained on, never tuned on.
#   train/hum   the humanoid doing the 9 other non-reserved clips, 6 cameras each (seed 600)
#   train/mqdm  our mannequin doing the same 9 clips, 4 cameras each (seed 601)
#   train/mqfx  our mannequin doing all 35 FX classes, 3 samples each (seed 602)
#   train/tuma, train/tumb  the humanoid doing the 9 clips spun head over heels (synth --tumble 1,
#               8 samples each, seed 610), for the renders detector v0.2 and lifter v0.4
# The reserved clips (backflip, cartwheel, spinkick) are in none of them.
# Usage: bash benchmarks/skeletons/make_renders.sh OUT
set -euo pipefail
out=${1:?usage: make_renders.sh OUT}
train_clips=crawl,dance_a,dance_b,getup_facedown,getup_faceup,punch,run,spin,walk
fp() { finephys "$@" --progress none; }
fp synth --motion deepmimic --clips roll,kick,jump --per-class 3 --seed 500 \
   --mannequin humanoid --videos "$out/val/videos" -o "$out/val/truth.h5" &
fp synth --motion deepmimic --clips "$train_clips" --per-class 6 --seed 600 \
   --mannequin humanoid --videos "$out/train/hum/videos" -o "$out/train/hum/truth.h5" &
wait
fp synth --motion deepmimic --clips "$train_clips" --per-class 4 --seed 601 \
   --videos "$out/train/mqdm/videos" -o "$out/train/mqdm/truth.h5"
fp synth --per-class 3 --seed 602 --videos "$out/train/mqfx/videos" -o "$out/train/mqfx/truth.h5"
# (two halves of the clip list, in parallel)
fp synth --motion deepmimic --clips crawl,dance_a,dance_b,getup_facedown,getup_faceup \
   --per-class 8 --seed 610 --tumble 1 --mannequin humanoid --videos "$out/train/tuma/videos" \
   -o "$out/train/tuma/truth.h5" &
fp synth --motion deepmimic --clips punch,run,spin,walk --per-class 8 --seed 610 --tumble 1 \
   --mannequin humanoid --videos "$out/train/tumb/videos" -o "$out/train/tumb/truth.h5" &
wait
du -sh "$out"/*/ "$out"/train/*/
# The same 9 clips with the synthetic detector-noise model instead of a detector (no videos).
fp synth --motion deepmimic --clips "$train_clips" --per-class 10 --seed 1 -o "$out/dm_train.h5"
