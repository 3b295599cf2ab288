"""The example scripts run as documented: on tiny synth data with Slurm variables set by hand,
or in their dry-run mode."""

import os
import subprocess
import sys
from pathlib import Path

import h5py

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra):
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", **extra}


def _bash(script, *args, **env):
    res = subprocess.run(["bash", str(ROOT / script), *map(str, args)], capture_output=True,
                         text=True, env=_env(**env), timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res


def _videos(path):
    with h5py.File(path) as f:
        return sorted(f["videos"])


def test_slurm_pose_array_two_tasks_then_merge(synth_small, tmp_path):
    _, videos = synth_small
    for i in range(2):
        _bash("examples/slurm/pose_array.sh", videos, tmp_path, SLURM_ARRAY_TASK_ID=str(i),
              SLURM_ARRAY_TASK_COUNT="2")
    _bash("examples/slurm/pose_array.sh", "--merge", tmp_path)
    expected = sorted(p.stem for p in videos.glob("*.mp4"))
    for stage in ("detect", "pose3d", "phys"):
        assert _videos(tmp_path / f"{stage}.h5") == expected


def test_slurm_detect_array_task(synth_small, tmp_path):
    _, videos = synth_small
    _bash("examples/slurm/detect_array.sh", videos, tmp_path / "d.h5",
          SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2")
    assert len(_videos(tmp_path / "d.shard-1-of-2.h5")) == 1


def test_pipeline_script(synth_small, tmp_path):
    _, videos = synth_small
    _bash("examples/pipeline.sh", videos, tmp_path)
    for name in ("detect.h5", "pose3d.h5", "phys.h5", "heatmaps.h5", "skeletons.png"):
        assert (tmp_path / name).is_file()


def test_multigpu_train_lora_launch_lines(tmp_path):
    res = _bash("examples/train_lora_multigpu.sh", "c.h5", "runs", "--steps", "10",
                DRY_RUN="1", NPROC="4")
    line = res.stdout.strip()
    assert "torch.distributed.run --standalone --nproc_per_node 4 -m finephys_cli train-lora" \
        in line and "--resume auto" in line and line.endswith("--steps 10")
    res = _bash("examples/train_lora_multigpu.sh", "c.h5", "runs", DRY_RUN="1", NPROC="2",
                LAUNCH="accelerate")
    assert res.stdout.startswith("accelerate launch --multi_gpu --num_processes 2 -m "
                                 "finephys_cli train-lora")
