import torch

from finephys_cli.stages.training import TrainState, make_accelerator, optimizer_step


def test_a_non_finite_gradient_is_not_applied():
    """A rollout that overflows once must not turn every weight into NaN (seen training the
    SPD PhysNet on a GPU: 8 of 12 runs ended in NaN before this guard)."""
    acc = make_accelerator("cpu", 0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    model, opt, sched = acc.prepare(model, opt, sched)
    before = [p.detach().clone() for p in model.parameters()]
    state = TrainState()
    bad = model(torch.tensor([[1.0, float("inf"), 0.0]])).sum()
    optimizer_step(acc, bad, list(model.parameters()), opt, sched, state, 0)
    assert state.step == 1 and state.skipped == 1
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    good = model(torch.ones(1, 3)).sum()
    optimizer_step(acc, good, list(model.parameters()), opt, sched, state, 1)
    assert state.skipped == 1 and not torch.equal(before[0], next(model.parameters()))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_metrics_rows_with_different_keys_stay_in_their_columns(tmp_path):
    """Regression: a row without the spatial loss (a step that skipped that pass) was written
    under the first row's header, so every later value sat one column to the left."""
    import csv

    from finephys_cli.stages.training import RunDir

    run = RunDir(tmp_path, "train-lora", "r")
    run.path.mkdir(parents=True)
    run.log_metrics({"step": 5, "loss_spat": 0.5, "loss_temp": 0.9, "step_s": 1.1}, True)
    run.log_metrics({"step": 10, "loss_temp": 0.8, "step_s": 1.2}, True)
    run.log_metrics({"step": 15, "loss_temp": 0.7, "step_s": 1.3, "val_loss": 2.0}, True)
    with open(run.path / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step_s"] for r in rows] == ["1.1", "1.2", "1.3"]
    assert [r["loss_spat"] for r in rows] == ["0.5", "", ""]
    assert [r["val_loss"] for r in rows] == ["", "", "2.0"]


def test_a_rerun_into_a_finished_run_is_refused_and_config_toml_follows_a_resume(tmp_path):
    """A plain rerun restarted from scratch and appended to metrics.csv, and config.toml kept
    the first run's settings whatever the later runs used."""
    from dataclasses import dataclass

    import pytest

    from finephys_cli.errors import UsageError
    from finephys_cli.stages.training import RunDir

    @dataclass
    class Cfg:
        steps: int = 1

    run = RunDir(tmp_path, "train-x", "a")
    run.start(Cfg(1), True)
    run.log_metrics({"step": 1, "loss": 0.5}, True)
    with pytest.raises(UsageError, match="already holds a run; continue it with --resume auto"):
        RunDir(tmp_path, "train-x", "a").start(Cfg(2), True)
    RunDir(tmp_path, "train-x", "a").start(Cfg(2), True, resume="auto")
    assert "steps = 2" in (run.path / "config.toml").read_text()
    RunDir(tmp_path, "train-x", "b").start(Cfg(3), True)           # a new run is fine
    RunDir(tmp_path, "train-x", "a").start(Cfg(4), True, refuse_existing=False)
    # --resume auto with metrics but nothing saved starts over, its old metrics set aside
    assert not (run.checkpoints / "last").exists()
    RunDir(tmp_path, "train-x", "a").start(Cfg(5), True, resume="auto")
    assert not (run.path / "metrics.csv").exists()
    assert (run.path / "metrics.before-restart.csv").read_text().startswith("step,loss")
