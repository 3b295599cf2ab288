"""Data-parallel training with 2 CPU processes (torchrun, gloo): the ranks stay identical after
every step, only rank 0 writes, and resume continues the run (issue: multi-GPU, CPU part)."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("ddp_probe.py")


def _torchrun(args: list[str], probe_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2]),
           "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", str(PROBE), json.dumps(args), str(probe_dir)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def _digests(probe_dir: Path) -> dict[int, list[dict]]:
    return {r: [json.loads(line) for line in (probe_dir / f"rank{r}.jsonl").read_text()
                .splitlines()] for r in (0, 1)}


def _check_ranks_and_files(probe_dir: Path, run: Path, steps: list[int]) -> None:
    d = _digests(probe_dir)
    assert [x["step"] for x in d[0]] == steps and [x["world"] for x in d[0]] == [2] * len(steps)
    assert [x["digest"] for x in d[0]] == [x["digest"] for x in d[1]]   # in sync every time
    assert len({x["digest"] for x in d[0]}) == len(steps)               # and training moved
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step") and [int(r.split(",")[0]) for r in rows[1:]] == steps
    assert not list(run.rglob("*.partial"))


def test_train_lift_two_gloo_processes(synth_small, tmp_path):
    runs = tmp_path / "runs"
    args = ["train-lift", "--data", str(synth_small[0]), "--runs", str(runs), "--steps", "4",
            "--batch-size", "8", "--device", "cpu", "--progress", "none",
            "--set", "eval_every=2", "--set", "model.dim=16", "--set", "model.depth=1",
            "--set", "model.heads=2", "--set", "model.dim_rep=16", "--set", "model.bank_size=8"]
    _torchrun(args, tmp_path, tmp_path)
    run = runs / "train-lift" / "lift"
    _check_ranks_and_files(tmp_path, run, [2, 4])
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "best", "last", "step-00000002", "step-00000004"]
    # Resume: two more steps continue from step 4 on both ranks.
    probe2 = tmp_path / "resume"
    probe2.mkdir()
    _torchrun([*args[:6], "6", *args[7:], "--resume", "auto"], probe2, tmp_path)
    d = _digests(probe2)
    assert [x["step"] for x in d[0]] == [6] and d[0][0]["digest"] == d[1][0]["digest"]


def test_train_lora_two_gloo_processes(synth_small, tmp_path):
    from finephys_cli.generation.components import build_tiny
    from finephys_cli.stages.clips import ClipsConfig, run_prepare_clips

    sd, motion = build_tiny(tmp_path / "gen", words=("salto", "leap"))
    clips = run_prepare_clips(ClipsConfig(size=64, frames=4), synth_small[0],
                              tmp_path / "clips.h5", progress="none")
    runs = tmp_path / "runs"
    args = ["train-lora", "--clips", str(clips), "--sd15", str(sd), "--motion-adapter",
            str(motion), "--runs", str(runs), "--steps", "4", "--batch-size", "2", "--device",
            "cpu", "--progress", "none", "--set", "eval_every=2", "--set", "rank=4",
            "--set", "val_steps=1", "--set", "spatial_skip=0.5"]
    _torchrun(args, tmp_path, tmp_path)
    _check_ranks_and_files(tmp_path, runs / "train-lora" / "lora", [2, 4])
