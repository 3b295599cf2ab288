import csv

import numpy as np
from safetensors.numpy import load_file

from finephys_cli.app import app

TINY = ["--set", "model.dim=16", "--set", "model.heads=2", "--set", "model.depth=2",
        "--set", "model.dim_rep=16", "--set", "model.bank_size=8", "--set", "eval_every=3",
        "--device", "cpu", "--progress", "none", "--batch-size", "8"]


def _metrics(run):
    with open(run / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_train_lift_lowers_loss_and_resume_is_exact(runner, synth_small, tmp_path):
    synth, _ = synth_small
    base = ["train-lift", "--data", str(synth), "--runs", str(tmp_path / "runs")]
    res = runner.invoke(app, [*base, "--name", "full", "--steps", "12", *TINY])
    assert res.exit_code == 0, res.output
    full = tmp_path / "runs" / "train-lift" / "full"
    assert (full / "config.toml").exists() and (full / "checkpoints" / "last").is_symlink()
    losses = [float(r["loss"]) for r in _metrics(full)]
    assert losses[-1] < losses[0]
    # Resume the same config from its step-6 checkpoint (as after a kill): the final weights
    # equal the uninterrupted run's (model, optimizer, scheduler and RNG are restored).
    step6 = full / "checkpoints" / "step-00000006"
    assert step6.exists()
    res = runner.invoke(app, [*base, "--name", "split", "--steps", "12", "--resume", str(step6),
                              *TINY])
    assert res.exit_code == 0, res.output
    split = tmp_path / "runs" / "train-lift" / "split"
    a = load_file(str(full / "model-last" / "model.safetensors"))
    b = load_file(str(split / "model-last" / "model.safetensors"))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_train_physnet_pretrain_and_finetune(runner, synth_small, tiny_pose_models, tmp_path):
    synth, _ = synth_small
    common = ["--data", str(synth), "--lifter", str(tiny_pose_models / "lifter"), "--runs",
              str(tmp_path / "runs"), "--steps", "4", "--batch-size", "4", "--device", "cpu",
              "--progress", "none", "--set", "eval_every=2", "--set", "physnet.hidden=32",
              "--set", "physnet.global_layers=1", "--set", "physnet.heads=2"]
    res = runner.invoke(app, ["train-physnet", *common, "--name", "pre"])
    assert res.exit_code == 0, res.output
    pre = tmp_path / "runs" / "train-physnet" / "pre" / "model-last"
    assert (pre / "projection.safetensors").exists()
    res = runner.invoke(app, ["train-physnet", *common, "--name", "ft", "--stage", "finetune",
                              "--init", str(pre)])
    assert res.exit_code == 0, res.output
    rows = _metrics(tmp_path / "runs" / "train-physnet" / "ft")
    assert float(rows[-1]["data"]) > 0
