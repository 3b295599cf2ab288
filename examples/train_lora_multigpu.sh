#!/usr/bin/env bash
# Paper step 4 (train-lora) data-parallel over the GPUs of one node, through torchrun or
# accelerate launch. The global batch is --batch-size (split over the processes); rank 0 alone
# writes checkpoints, metrics and the exported LoRA; `--resume auto` continues a run.
#   NPROC=4 bash examples/train_lora_multigpu.sh clips.h5 runs/
#   LAUNCH=accelerate NPROC=4 bash examples/train_lora_multigpu.sh clips.h5 runs/
# Under Slurm: srun --gres=gpu:4 --ntasks=1 bash examples/train_lora_multigpu.sh ...
# Extra arguments go to train-lora (e.g. --sd15 DIR --motion-adapter DIR --steps 8000).
set -euo pipefail
clips=${1:?clips file from finephys prepare-clips}
runs=${2:?runs folder}
shift 2
NPROC=${NPROC:-$(nvidia-smi -L 2>/dev/null | wc -l)}
NPROC=$(( NPROC > 0 ? NPROC : 1 ))
LAUNCH=${LAUNCH:-torchrun}
DEVICE=${DEVICE:-cuda}
args=(train-lora --clips "$clips" --runs "$runs" --device "$DEVICE" --resume auto
      --progress plain "$@")
case "$LAUNCH" in
  torchrun) cmd=(python -m torch.distributed.run --standalone --nproc_per_node "$NPROC"
                 -m finephys_cli "${args[@]}") ;;
  accelerate) cmd=(accelerate launch --num_processes "$NPROC" -m finephys_cli "${args[@]}") ;;
  *) echo "LAUNCH must be torchrun or accelerate" >&2; exit 2 ;;
esac
[ "$DEVICE" = cuda ] && [ "$LAUNCH" = accelerate ] && cmd=("${cmd[@]:0:2}" --multi_gpu "${cmd[@]:2}")
if [ -n "${DRY_RUN:-}" ]; then printf '%q ' "${cmd[@]}"; echo; exit 0; fi
exec "${cmd[@]}"
