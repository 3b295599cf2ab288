import csv

import torch

from finephys_cli.app import app
from finephys_cli.stages.train_physnet import eq19_data_term


def _one_step(data, lifter, tmp_path):
    """train-physnet arguments for one CPU step on `data`, validated every step."""
    return ["--data", str(data), "--lifter", str(lifter), "--runs", str(tmp_path / "runs"),
            "--steps", "1", "--batch-size", "4", "--device", "cpu", "--progress", "none",
            "--set", "eval_every=1", "--set", "val_fraction=0.5"]


def _first_rows(runner, common, prefix, key, values, runs):
    """One run per value of the config key `key` (named PREFIX+value): their first metrics rows."""
    for value in values:
        res = runner.invoke(app, ["train-physnet", *common, "--name", f"{prefix}{value}",
                                  "--set", f"{key}={value}"])
        assert res.exit_code == 0, res.output
    return [_rows(runs / f"{prefix}{value}")[0] for value in values]


def _rows(run):
    with open(run / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_eq19_velocity_term_sees_jitter_but_not_a_constant_offset():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(2, 6, 17, 3, generator=g)
    valid = torch.ones(2, 6, dtype=torch.bool)
    valid[0, 2] = False                      # a gap inside a window, and padding at the end
    valid[1, 4:] = False
    offset = target + 0.3
    assert torch.isclose(eq19_data_term(offset, target, valid, 5.0),
                         eq19_data_term(offset, target, valid, 0.0))
    jitter = target + 0.1 * torch.randn(2, 6, 17, 3, generator=g)
    plain = eq19_data_term(jitter, target, valid, 0.0)
    # by hand: the mean over valid frames and over steps between two valid frames, per joint
    pos = [((jitter[b, t] - target[b, t]) ** 2).sum() for b in range(2) for t in range(6)
           if valid[b, t]]
    steps = [(((jitter[b, t + 1] - jitter[b, t]) - (target[b, t + 1] - target[b, t])) ** 2).sum()
             for b in range(2) for t in range(5) if valid[b, t] and valid[b, t + 1]]
    assert len(steps) == 5 + 3 - 2 and torch.isclose(plain, sum(pos) / len(pos) / 17)
    assert torch.isclose(eq19_data_term(jitter, target, valid, 2.0),
                         plain + 2.0 * sum(steps) / len(steps) / 17)
    far = jitter.clone()
    far[0, 2] += 100.0                        # invalid frames do not count
    far[1, 4:] += 100.0
    assert torch.isclose(eq19_data_term(far, target, valid, 2.0),
                         eq19_data_term(jitter, target, valid, 2.0))


def test_velocity_weight_reaches_the_loss_the_anchor_and_validation(runner, synth_small,
                                                                    tiny_pose_models, tmp_path):
    synth, _ = synth_small
    common = _one_step(synth, tiny_pose_models / "lifter", tmp_path) + [
        "--set", "physnet.hidden=32", "--set", "physnet.global_layers=1",
        "--set", "physnet.heads=2"]
    runs = tmp_path / "runs" / "train-physnet"
    plain, heavy = _first_rows(runner, common, "pre", "velocity_weight", (0, 1000), runs)
    # the same initial weights and batch: only the velocity term differs
    assert float(heavy["data"]) > float(plain["data"]) + 1e-3
    assert float(heavy["val_data"]) > float(plain["val_data"]) + 1e-3
    init = str(runs / "pre0" / "model-last")
    anchored = []
    for lam in (0, 1000):
        res = runner.invoke(app, ["train-physnet", *common, "--name", f"ft{lam}", "--stage",
                                  "finetune", "--init", init, "--set", f'anchor_data=["{synth}"]',
                                  "--set", f"velocity_weight={lam}"])
        assert res.exit_code == 0, res.output
        row = _rows(runs / f"ft{lam}")[0]
        anchored.append(float(row["loss"]) - float(row["data"]))  # the anchor and L_noise
    assert float(_rows(runs / "ft1000")[0]["data"]) == float(_rows(runs / "ft0")[0]["data"])
    assert anchored[1] > anchored[0] + 1e-3


def test_an_unknown_rollout_is_refused_before_any_work(runner, tmp_path):
    res = runner.invoke(app, ["train-physnet", "--data", str(tmp_path / "none.h5"), "--runs",
                              str(tmp_path / "runs"), "--set", "physnet.rollout=teecher"])
    assert res.exit_code == 2 and "physnet.rollout" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "runs").exists()


def _lifter32(root, synth):
    from finephys_cli.data.lift_data import read_pose_file
    from finephys_cli.models.lifter import InContextLifter, LifterConfig
    from finephys_cli.stages.train_lift import build_bank, windows_of

    torch.manual_seed(0)
    lifter = InContextLifter(LifterConfig(dim=16, depth=2, heads=2, merge_idx=1, dim_rep=16,
                                          bank_size=8, frames=32))
    build_bank(lifter, windows_of(read_pose_file(synth), 32, 8), 0)
    lifter.save_pretrained(root / "lifter32")
    return root / "lifter32"


def test_lifted_windows_cut_lifter_windows_into_the_refiners_length(synth_small, tmp_path):
    from finephys_cli.data.lift_data import read_pose_file, windows_of
    from finephys_cli.models.lifter import InContextLifter
    from finephys_cli.stages.train_physnet import lifted_windows, precompute_dd

    lifter = InContextLifter.from_pretrained(_lifter32(tmp_path, synth_small[0]))
    win = windows_of(read_pose_file(synth_small[0]), 32, 8)
    cut = lifted_windows(lifter, win, 16, "cpu")
    assert cut["dd"].shape == (2 * len(win["query"]), 16, 17, 3)
    assert set(cut) == {"query", "target", "valid", "dd"}
    # piece 2i+1 is the second half of window i, lifted with the window's whole 32 frames
    dd = precompute_dd(lifter, win["query"], "cpu")
    assert (cut["dd"][3] == dd[1, 16:]).all() and (cut["target"][3] == win["target"][1, 16:]).all()
    assert (cut["valid"][2] == win["valid"][1, :16]).all()
    assert lifted_windows(lifter, win, 10, "cpu")["dd"].shape[:2] == (3 * len(win["query"]), 10)


def test_physnet_trains_on_its_own_window_length_not_the_lifters(runner, synth_small, tmp_path):
    """A 32-frame lifter (the shipped v0.8's length) with a 16-frame PhysNet: training cuts 16-
    frame windows, so the model keeps frames=16, what `physnet` runs it on; a PhysNet longer
    than the lifter's windows is refused."""
    import json

    synth = synth_small[0]
    lifter = _lifter32(tmp_path, synth)
    common = _one_step(synth, lifter, tmp_path) + [
        "--set", "physnet.hidden=32", "--set", "physnet.global_layers=1",
        "--set", "physnet.heads=2"]
    res = runner.invoke(app, ["train-physnet", *common, "--name", "p16"])
    assert res.exit_code == 0, res.output
    model = tmp_path / "runs" / "train-physnet" / "p16" / "model-last"
    assert json.loads((model / "config.json").read_text())["frames"] == 16
    res = runner.invoke(app, ["train-physnet", *common, "--name", "p64",
                              "--set", "physnet.frames=64"])
    assert res.exit_code == 2 and "64-frame windows, longer than the lifter's 32" in res.output


def test_pp_weight_reaches_the_loss_but_not_the_ranked_fusion_term(runner, synth_small,
                                                                    tiny_pose_models, tmp_path):
    synth = synth_small[0]
    common = _one_step(synth, tiny_pose_models / "lifter", tmp_path) + [
        "--init", str(tiny_pose_models / "physnet")]
    runs = tmp_path / "runs" / "train-physnet"
    plain, heavy = _first_rows(runner, common, "pp", "pp_weight", (0, 10), runs)
    # one step from the same weights and batch: the logged loss of step 1 differs only by
    # λ_pp·(S_pp's term); `data` (and validation, which ranks checkpoints) is the fusion's
    assert float(heavy["loss"]) > float(plain["loss"]) + 1e-4
    assert float(heavy["data"]) == float(plain["data"])


def test_joint_lift_is_refused_for_finetuning_before_any_work(runner, tmp_path):
    res = runner.invoke(app, ["train-physnet", "--data", str(tmp_path / "none.h5"), "--runs",
                              str(tmp_path / "runs"), "--stage", "finetune",
                              "--set", "joint_lift=true"])
    assert res.exit_code == 2 and "joint_lift" in res.output
    assert not (tmp_path / "runs").exists()


def test_a_refused_config_leaves_the_runs_config_toml_alone(runner, synth_small, tmp_path):
    """train-physnet wrote config.toml before its own checks, so a refused --resume replaced
    the run's record with the refused config."""
    synth = synth_small[0]
    lifter = _lifter32(tmp_path, synth)
    common = _one_step(synth, lifter, tmp_path) + ["--set", "physnet.hidden=32",
                                                   "--set", "physnet.global_layers=1",
                                                   "--set", "physnet.heads=2", "--name", "r"]
    assert runner.invoke(app, ["train-physnet", *common]).exit_code == 0
    record = (tmp_path / "runs" / "train-physnet" / "r" / "config.toml").read_text()
    res = runner.invoke(app, ["train-physnet", *common, "--resume", "auto",
                              "--set", "physnet.frames=64"])
    assert res.exit_code == 2 and "longer than the lifter's 32" in res.output
    assert (tmp_path / "runs" / "train-physnet" / "r" / "config.toml").read_text() == record
    res = runner.invoke(app, ["train-physnet", *common, "--set", "joint_lift=true"])
    assert res.exit_code == 2 and "already holds a run" in res.output
    res = runner.invoke(app, ["train-physnet", *common[:-1], "j", "--set", "joint_lift=true"])
    assert res.exit_code == 2 and "joint_lift trains the lifter on the refiner's 16" in res.output
