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
    lam = 1.0 / (16 * 17)                                   # the paper's L_noise weight
    rest = lambda r: float(r["loss"]) - float(r["data"]) - lam * float(r["noise"])
    assert abs(rest(rows[-1])) < 1e-4                        # eq. 20 alone
    res = runner.invoke(app, ["train-physnet", *common, "--name", "ft_anchor", "--stage",
                              "finetune", "--init", str(pre), "--set",
                              f'anchor_data=["{synth}"]', "--set", "anchor_weight=10"])
    assert res.exit_code == 0, res.output
    anchored = _metrics(tmp_path / "runs" / "train-physnet" / "ft_anchor")
    assert rest(anchored[-1]) > 1e-3                         # + 10 × eq. 19 on the 3D data
    res = runner.invoke(app, ["train-physnet", *common, "--name", "bad", "--set",
                              f'anchor_data=["{synth}"]'])
    assert res.exit_code == 2 and "finetune" in res.stderr   # a usage error


def test_view_augmentation_turns_2d_and_3d_together():
    import dataclasses

    import torch

    from finephys_cli.stages.train_lift import TrainLiftConfig, augment_views

    torch.manual_seed(0)
    q = torch.randn(64, 4, 17, 3)
    q[..., 2] = 1.0
    q[:, :, 5] = 0.0                                       # a missing joint stays missing
    t = torch.randn(64, 4, 17, 3)
    cfg = dataclasses.replace(TrainLiftConfig(), roll_prob=1.0, roll_deg=180.0, pitch_deg=0.0,
                              joint_drop=0.0, frame_drop=0.0)
    g = torch.Generator().manual_seed(1)
    q2, t2 = augment_views(q, t, g, cfg)
    torch.testing.assert_close(t2[..., 2], t[..., 2])       # roll keeps depth
    torch.testing.assert_close(t2[..., :2].norm(dim=-1), t[..., :2].norm(dim=-1))
    # The same rotation for the 2D and the truth: their inner product is kept per joint.
    inner = lambda a, b: (a[..., :2] * b[..., :2]).sum(-1)
    torch.testing.assert_close(inner(q2, t2)[:, :, :5], inner(q, t)[:, :, :5])
    assert torch.equal(q2[:, :, 5], q[:, :, 5])
    # Pitch only: x is untouched, the truth's projection moves the 2D by the same amount.
    cfg = dataclasses.replace(cfg, roll_prob=0.0, pitch_deg=30.0)
    q3, t3 = augment_views(q, t, torch.Generator().manual_seed(2), cfg)
    torch.testing.assert_close(q3[..., 0], q[..., 0])
    torch.testing.assert_close((q3 - q)[:, :, :5, 1], (t3 - t)[:, :, :5, 1])
    torch.testing.assert_close(t3.norm(dim=-1)[..., None].squeeze(-1)**2 - t3[..., 0]**2,
                               t.norm(dim=-1)**2 - t[..., 0]**2)
    cfg = dataclasses.replace(cfg, pitch_deg=0.0, frame_drop=1.0)
    q4, _ = augment_views(q, t, torch.Generator().manual_seed(3), cfg)
    assert (q4 == 0).all()                                  # dropped frames: (0, 0, 0)


def test_anchor_leaves_out_the_validation_clips(synth_small):
    """Bug: the eq. 19 anchor of a fine-tuning could hold the 3D of the very clips that pick
    the best checkpoint (a paired file shares its video ids with the 2D file)."""
    from finephys_cli.data.lift_data import load_training_clips
    from finephys_cli.stages.train_lift import split_clips
    from finephys_cli.stages.train_physnet import anchor_clips

    clips = load_training_clips([str(synth_small[0])])
    train, val = split_clips(clips, 0.5, 3)
    assert val and train
    kept = anchor_clips([str(synth_small[0])], val, 0)
    assert {c.video_id for c in kept} == {c.video_id for c in train}


def test_train_lift_init_from_fine_tunes_a_trained_lifter(runner, synth_small, tmp_path):
    """init_from starts from a trained folder: with lr 0 the export equals it, prior and bank
    included (the bank is not rebuilt from the new data); with lr > 0 the weights move."""
    synth, _ = synth_small
    base = ["train-lift", "--data", str(synth), "--runs", str(tmp_path / "runs"), *TINY]
    res = runner.invoke(app, [*base, "--name", "first", "--steps", "3"])
    assert res.exit_code == 0, res.output
    first = tmp_path / "runs" / "train-lift" / "first" / "model-last"
    runs = tmp_path / "runs" / "train-lift"
    for name, lr in (("still", "0"), ("moved", "0.01")):
        res = runner.invoke(app, [*base, "--name", name, "--steps", "3", "--set",
                                  f"init_from={first}", "--set", f"lr={lr}"])
        assert res.exit_code == 0, res.output
    a = load_file(str(first / "model.safetensors"))
    still = load_file(str(runs / "still" / "model-last" / "model.safetensors"))
    moved = load_file(str(runs / "moved" / "model-last" / "model.safetensors"))
    for k in a:
        np.testing.assert_allclose(still[k], a[k], rtol=0, atol=1e-7, err_msg=k)
    assert any(np.abs(moved[k] - a[k]).max() > 1e-4 for k in a if "bank" not in k)
    np.testing.assert_array_equal(moved["bank_2d"], a["bank_2d"])

