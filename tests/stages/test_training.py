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
