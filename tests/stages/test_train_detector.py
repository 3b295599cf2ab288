import json

import numpy as np
import pytest

from finephys_cli.app import app
from finephys_cli.io.poses_h5 import PoseFile


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """Six small mannequin clips with exact 2D (two train, four validation videos)."""
    from finephys_cli.stages.synth import SynthConfig, run_synth

    root = tmp_path_factory.mktemp("renders")
    path = run_synth(SynthConfig(classes="6,7,33", per_class=2, seed=3, size=128),
                     root / "s.h5", videos=root / "v", progress="none")
    return path


ARGS = ["--epochs", "1", "--imgsz", "64", "--batch-size", "4", "--device", "cpu", "--set",
        "val_fraction=0.4", "--set", "workers=0", "--set", "frame_stride=8", "--progress",
        "none"]


def test_train_detector_fine_tunes_exports_and_detect_loads_it(runner, renders, tmp_path):
    runs = tmp_path / "runs"
    res = runner.invoke(app, ["train-detector", "--data", str(renders), "--runs", str(runs),
                              *ARGS, "--set", "lr0=2e-4", "--set", "warmup_epochs=0"])
    assert res.exit_code == 0, res.output
    model = runs / "train-detector" / "detector" / "model-best.pt"
    import yaml   # Ultralytics' own record of the arguments it trained with

    used = yaml.safe_load((model.parent / "yolo" / "args.yaml").read_text())
    assert used["lr0"] == 2e-4 and used["warmup_epochs"] == 0
    assert res.stdout.strip() == str(model) and model.stat().st_size > 1e6
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["dataset"]["videos"] == {"train": 2, "val": 4}
    metrics = card["last_epoch_metrics"]
    assert metrics["epoch"] == 1 and "metrics/mAP50(P)" in metrics
    # frames of one video are never in both splits
    ds = next((runs / "train-detector" / "detector").glob("dataset-*"))
    train = {p.stem.rsplit("_", 1)[0] for p in (ds / "images" / "train").iterdir()}
    val = {p.stem.rsplit("_", 1)[0] for p in (ds / "images" / "val").iterdir()}
    assert train and val and not train & val
    # a finished run resumed is exported again, not retrained
    before = (runs / "train-detector" / "detector" / "yolo" / "results.csv").read_text()
    res = runner.invoke(app, ["train-detector", "--data", str(renders), "--runs", str(runs),
                              "--resume", "auto", *ARGS, "--set", "lr0=2e-4", "--set",
                              "warmup_epochs=0"])
    assert res.exit_code == 0, res.output
    assert (runs / "train-detector" / "detector" / "yolo" / "results.csv").read_text() == before
    assert json.loads(model.with_suffix(".json").read_text()) == card
    video = renders.parent / "v" / "fx06_s3_000.mp4"
    out = tmp_path / "d.h5"
    res = runner.invoke(app, ["detect", str(video), str(out), "--model", str(model), "--imgsz",
                              "64", "--device", "cpu", "--progress", "none"])
    assert res.exit_code == 0, res.output
    with PoseFile(out) as pf:
        assert "model-best.pt" in pf.attrs["detector_weights"]


def test_bad_values_and_files_without_exact_2d_are_refused(runner, renders, tmp_path):
    res = runner.invoke(app, ["train-detector", "--data", str(renders), "--runs",
                              str(tmp_path), "--set", "degrees=270"])
    assert res.exit_code == 2 and "degrees=270" in res.output
    res = runner.invoke(app, ["train-detector", "--data", str(renders), "--runs",
                              str(tmp_path), "--set", "warmup_epochs=-1"])
    assert res.exit_code == 2 and "warmup_epochs=-1" in res.output
    for bad in ("lr0=inf", "lr0=nan", "warmup_epochs=inf"):   # once accepted
        res = runner.invoke(app, ["train-detector", "--data", str(renders), "--runs",
                                  str(tmp_path), "--set", bad])
        assert res.exit_code == 2 and bad.split("=")[0] in res.output, bad
    from finephys_cli.io.poses_h5 import PoseFileWriter

    plain = tmp_path / "plain.h5"
    with PoseFileWriter(plain, format="finephys.pose2d", config={}, config_hash="x") as w:
        w.write_video("a", {"fps": 25.0, "source_path": "a.mp4"},
                      {"keypoints2d": np.zeros((4, 17, 2), np.float32),
                       "scores": np.ones((4, 17), np.float32)})
        w.finish()
    res = runner.invoke(app, ["train-detector", "--data", str(plain), "--runs", str(tmp_path)])
    assert res.exit_code == 1 and "keypoints2d_exact" in res.output
    assert "Traceback" not in res.output
