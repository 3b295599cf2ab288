#!/usr/bin/env bash
# A Slurm array over a video manifest: each task detects its 1/N slice, then one job merges.
#   sbatch --array=0-15 examples/slurm/detect_array.sh videos.txt out/detect.h5
#   finephys merge out/detect.shard-*-of-16.h5 -o out/detect.h5   (after the array finishes;
#   merge refuses missing or overlapping shards)
#SBATCH --job-name=finephys-detect
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time=02:00:00
#SBATCH --requeue
set -euo pipefail
manifest=${1:?manifest (.txt or .csv of video paths)}
output=${2:?output .h5}
# Exit code 4 (CUDA OOM / no GPU) is a resource error: let Slurm requeue the task.
finephys detect "$manifest" -o "$output" \
    --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" --progress plain \
    || { rc=$?; [ "$rc" -eq 4 ] && scontrol requeue "${SLURM_JOB_ID}"; exit "$rc"; }
