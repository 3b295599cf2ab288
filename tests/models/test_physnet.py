import pytest
import torch

from finephys_cli.models.physnet import (D, MLPRefiner, PhysNet, PhysNetConfig, Projection,
                                         symmetric_from_upper)

CFG = PhysNetConfig(hidden=32, global_layers=1, heads=2)


def _physics_only(cfg=CFG, accel=0.0):
    """A PhysNet whose heads give a constant acceleration (J = a·dt², C = 0, M^-1 = I, N = 0)."""
    m = PhysNet(cfg)
    for head in (m.head_j, m.head_c, m.head_m, m.head_n):
        torch.nn.init.zeros_(head.weight)
    with torch.no_grad():
        m.head_j.bias.fill_(accel * cfg.dt ** 2)
        m.head_c.bias.zero_()
        m.head_n.bias[:D] = 0.0
        m.head_n.bias[D:] = -30.0
    return m.eval()


def test_minv_is_exactly_symmetric():
    vals = torch.randn(3, 5, D * (D + 1) // 2)
    m = symmetric_from_upper(vals)
    assert torch.equal(m, m.transpose(-1, -2))
    out = PhysNet(CFG).terms(torch.randn(2, D), torch.randn(2, D), torch.randn(2, D), True)
    assert torch.equal(out["minv"], out["minv"].transpose(-1, -2))
    pd = PhysNet(PhysNetConfig(hidden=32, global_layers=1, heads=2, positive_definite=True))
    ev = torch.linalg.eigvalsh(pd.terms(torch.randn(2, D), torch.randn(2, D),
                                        torch.randn(2, D), False)["minv"])
    assert (ev > 0).all()


def test_zero_heads_give_constant_velocity_exactly():
    m = _physics_only(accel=0.0)
    t = torch.arange(16, dtype=torch.float64)[:, None, None]
    traj = (0.3 + 0.05 * t * torch.linspace(-1, 1, 51).reshape(17, 3)).float()[None]
    traj[:, 8:] += 0.5     # a kink: the rollout must ignore it and keep each seed's velocity
    out = m(traj)["s_pp"][0]
    tt = torch.arange(16.0)
    fwd_expected = traj[0, 2] + (traj[0, 2] - traj[0, 1]) * (tt[5:11] - 2)[:, None, None]
    bwd_expected = traj[0, 13] + (traj[0, 13] - traj[0, 14]) * (13 - tt[5:11])[:, None, None]
    torch.testing.assert_close(out[5:11], 0.5 * (fwd_expected + bwd_expected), atol=1e-5,
                               rtol=0)


def test_ballistic_toy_forward_and_backward_agree_with_truth():
    g = -9.81
    m = _physics_only(accel=g)
    t = torch.arange(16, dtype=torch.float32) * CFG.dt
    base = torch.linspace(-0.5, 0.5, 51)
    traj = (base + 1.2 * t[:, None] + 0.5 * g * t[:, None] ** 2).reshape(1, 16, 17, 3)
    out = m(traj)
    torch.testing.assert_close(out["s_pp"], traj, atol=2e-5, rtol=0)


def test_eval_is_deterministic_training_samples_noise():
    torch.manual_seed(0)
    m = PhysNet(CFG)
    x = torch.randn(2, 16, 17, 3)
    m.eval()
    a, b = m(x)["s_pp"], m(x)["s_pp"]
    assert torch.equal(a, b)
    m.train()
    with torch.no_grad():
        m.head_n.bias[D:] = 0.0
        m.head_j.bias.fill_(0.1)
    assert not torch.equal(m(x)["s_pp"], m(x)["s_pp"])


def test_gradient_reaches_every_head_and_training_lowers_loss():
    torch.manual_seed(1)
    m = PhysNet(CFG)
    x = torch.randn(4, 16, 17, 3) * 0.1
    target = x + 0.05 * torch.sin(torch.arange(16.0))[None, :, None, None]
    out = m(x)
    loss = ((0.5 * (x + out["s_pp"]) - target) ** 2).mean() + 1e-3 * out["noise_fro"].mean()
    loss.backward()
    for name in ("head_j", "head_c", "head_m", "head_n", "g_out", "l_enc", "fuse", "decoder"):
        grads = [p.grad for p in getattr(m, name).parameters()]
        assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0, name
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        out = m(x)
        loss = ((0.5 * (x + out["s_pp"]) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_teacher_forced_and_mlp_and_projection():
    x = torch.randn(2, 12, 17, 3)
    tf = PhysNet(PhysNetConfig(hidden=32, global_layers=1, heads=2, rollout="teacher")).eval()
    assert tf(x)["s_pp"].shape == x.shape
    assert MLPRefiner()(x)["s_pp"].shape == x.shape
    torch.testing.assert_close(MLPRefiner()(x)["s_pp"], x)   # zero-initialised residual
    torch.testing.assert_close(Projection()(x), x[..., :2])
    with pytest.raises(ValueError, match="at least 6"):
        PhysNet(CFG)(torch.randn(1, 5, 17, 3))
