# Sourced by device_a.sh and device_b.sh: the one training set of the skeleton benchmark.
#   make_training_data SK DETDIR WORK  ->  fills the array `data` with --data arguments
# synth FX seeds 1-8 (detector-noise model), the DeepMimic clips with that noise, and the 2D
# that detect produced on the renders (one pass r1, rotations r4) paired with their truth. The
# truth of the FX mannequin renders is regenerated when missing (synth is deterministic).
make_training_data() {
  local sk=$1 det=$2 work=$3 s tag set
  for s in ${SYNTH_SEEDS:-1 2 3 4 5 6 7 8}; do
    fp synth --per-class 3 --seed "$s" -o "$work/synth_s$s.h5" --progress none 2>/dev/null &
  done
  [ -f "$det/mqfx_truth.h5" ] || fp synth --per-class 3 --seed 602 -o "$det/mqfx_truth.h5" \
    --progress none 2>/dev/null &
  wait
  data=()
  for s in ${SYNTH_SEEDS:-1 2 3 4 5 6 7 8}; do data+=(--data "$work/synth_s$s.h5"); done
  data+=(--data "$sk/dm_train.h5")
  for tag in r1 r4; do
    for set in hum mqdm; do data+=(--data "$det/train_${set}_$tag.h5+$sk/train/$set/truth.h5"); done
    data+=(--data "$det/train_mqfx_$tag.h5+$det/mqfx_truth.h5")
  done
}
