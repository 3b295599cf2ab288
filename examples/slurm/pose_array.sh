#!/usr/bin/env bash
# detect -> lift -> physnet as one Slurm array: task I of N detects its 1/N slice of the videos
# (--shard I/N) and runs that slice through lift and physnet. Every stage skips finished work,
# so a requeued task resumes. Then, once, merge the shards of each stage (merge checks that the
# detect shards cover the videos exactly once, and refuses duplicates):
#   sbatch --array=0-15 examples/slurm/pose_array.sh videos.txt out/
#   bash examples/slurm/pose_array.sh --merge out/
#SBATCH --job-name=finephys-poses
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --requeue
set -euo pipefail
FINEPHYS=${FINEPHYS:-finephys}
if [ "${1:-}" = "--merge" ]; then
  out=${2:?output folder}
  for stage in detect pose3d phys; do
    $FINEPHYS merge "$out"/$stage.shard-*-of-*.h5 -o "$out/$stage.h5"
  done
  exit 0
fi
videos=${1:?videos folder or manifest (.txt/.csv)}
out=${2:?output folder}
i=${SLURM_ARRAY_TASK_ID:?run under sbatch --array (or set SLURM_ARRAY_TASK_ID)}
n=${SLURM_ARRAY_TASK_COUNT:?}
mkdir -p "$out"
shard="$i/$n"
tag="shard-$i-of-$n"   # lift and physnet take this task's detect shard as it is
# Exit 3 is a partial failure (listed on stderr, the rest saved): go on. Exit 4 (CUDA OOM, no
# GPU) is a resource error: requeue the task.
step() { "$@" || { rc=$?; [ "$rc" -eq 3 ] && return 0
                   [ "$rc" -eq 4 ] && [ -n "${SLURM_JOB_ID:-}" ] && scontrol requeue "$SLURM_JOB_ID"
                   exit "$rc"; }; }
step $FINEPHYS detect "$videos" -o "$out/detect.h5" --shard "$shard" --progress plain
step $FINEPHYS lift "$out/detect.$tag.h5" -o "$out/pose3d.$tag.h5" --progress plain
step $FINEPHYS physnet "$out/pose3d.$tag.h5" -o "$out/phys.$tag.h5" --progress plain
