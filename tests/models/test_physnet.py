import dataclasses

import pytest
import torch

from finephys_cli.models.physnet import (D, MLPRefiner, PhysNet, PhysNetConfig, Projection,
                                         refine_fuse_project, symmetric_from_upper)

CFG = PhysNetConfig(hidden=32, global_layers=1, heads=2)


def _physics_only(cfg=CFG, accel=0.0):
    """A PhysNet whose heads give a constant acceleration (J = a·dt², C = 0, M^-1 = I, N = 0)."""
    m = PhysNet(dataclasses.replace(cfg, positive_definite=False))
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
    sym = PhysNet(dataclasses.replace(CFG, positive_definite=False))
    out = sym.terms(torch.randn(2, D), torch.randn(2, D), torch.randn(2, D), True)
    assert torch.equal(out["minv"], out["minv"].transpose(-1, -2))


def test_minv_is_spd_by_default_on_random_inputs_and_weights():
    torch.manual_seed(1)
    m = PhysNet(CFG)
    assert m.config.positive_definite
    for head in (m.head_m, m.trunk[0]):           # far from the near-identity init
        torch.nn.init.normal_(head.weight, std=0.5)
    out = m.terms(3 * torch.randn(64, D), 3 * torch.randn(64, D), torch.randn(64, D), False)
    minv = out["minv"].double()
    torch.testing.assert_close(minv, minv.transpose(-1, -2))
    assert (torch.linalg.eigvalsh(minv) > 0).all()
    # The symmetric fill of eq. 13 with the same weights is indefinite: the reason for the default.
    sym = PhysNet(dataclasses.replace(CFG, positive_definite=False))
    sym.load_state_dict(m.state_dict())
    ev = torch.linalg.eigvalsh(sym.terms(3 * torch.randn(64, D), 3 * torch.randn(64, D),
                                         torch.randn(64, D), False)["minv"])
    assert (ev.min(-1).values < 0).all()


def test_local_encoder_sees_the_previous_frame():
    """Bug: the local window was {t−2, t−2, t}, so S(t−1) never reached the local branch."""
    torch.manual_seed(0)
    m = PhysNet(CFG).eval()
    torch.nn.init.normal_(m.l_enc[-1].weight, std=0.1)   # zero-initialised: make it live
    s = torch.randn(1, 16, D)
    prev, prev2 = m.local_window(s)
    assert torch.equal(prev[0, 5], s[0, 4]) and torch.equal(prev2[0, 5], s[0, 3])
    moved = s.clone()
    moved[0, 4] += 1.0                                    # S(t−1) for t = 5 only
    with torch.no_grad():
        a, b = m.encode(s), m.encode(moved)
    assert not torch.allclose(a[0, 5], b[0, 5])           # t = 5 sees S(4) as S(t−1)
    legacy = PhysNet(dataclasses.replace(CFG, legacy_local_window=True)).eval()
    legacy.load_state_dict(m.state_dict())
    with torch.no_grad():   # the v0.1 window at t = 5 is {S3, S3, S5}: S4 does not reach it
        la, lb = legacy.l_enc(torch.cat([*legacy.local_window(s)[::-1], s], -1)), \
            legacy.l_enc(torch.cat([*legacy.local_window(moved)[::-1], moved], -1))
    assert torch.allclose(la[0, 5], lb[0, 5])


def test_noise_is_sampled_with_the_papers_unit_variance():
    torch.manual_seed(0)
    m = PhysNet(dataclasses.replace(CFG, noise_std=1.0))
    out = m.terms(torch.randn(256, D), torch.randn(256, D), torch.randn(256, D), True)
    centred = out["noise"] - out["noise"].mean(0, keepdim=True)
    assert abs(float(centred.std()) - 1.0) < 0.02       # G has σ² = 1 (eq. 14)
    learned = PhysNet(dataclasses.replace(CFG, noise_std=None))
    out = learned.terms(torch.randn(256, D), torch.randn(256, D), torch.randn(256, D), True)
    assert float((out["noise"] - out["noise"].mean(0, keepdim=True)).std()) < 0.1
    shipped_default = PhysNet(CFG).terms(torch.randn(8, D), torch.randn(8, D), torch.randn(8, D),
                                         True)
    # σ = 0 (our default, by ablation): the noise is the predicted mean, the same every draw.
    assert torch.equal(shipped_default["noise"][..., :, 0], shipped_default["noise"][..., :, 1])


def test_v01_configs_load_with_the_behaviour_they_were_trained_with(tmp_path):
    import json

    m = PhysNet(CFG)
    m.save_pretrained(tmp_path / "p")
    raw = json.loads((tmp_path / "p" / "config.json").read_text())
    for key in ("positive_definite", "noise_std", "legacy_local_window"):
        raw.pop(key)
    (tmp_path / "p" / "config.json").write_text(json.dumps(raw))
    old = PhysNet.from_pretrained(tmp_path / "p")
    assert old.config.legacy_local_window and not old.config.positive_definite
    assert old.config.noise_std is None


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
    m = PhysNet(dataclasses.replace(CFG, noise_std=1.0))
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


def test_refine_fuse_project_is_the_mean_then_the_learnt_camera():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 17, 3)
    model, proj = PhysNet(CFG).eval(), Projection()
    with torch.no_grad():
        proj.weight.add_(0.1 * torch.randn(2, 3))
        proj.bias.add_(torch.randn(2))
        out = refine_fuse_project(model, proj, x)
        s_pp = model(x)["s_pp"]
    torch.testing.assert_close(out["s_pp"], s_pp)
    torch.testing.assert_close(out["fused"], 0.5 * (x + s_pp))
    torch.testing.assert_close(out["xy"], 0.5 * (x + s_pp) @ proj.weight.T + proj.bias)
    assert not torch.allclose(out["xy"], out["fused"][..., :2])
    torch.testing.assert_close(refine_fuse_project(model, None, x)["xy"], out["fused"][..., :2])


def test_an_unknown_rollout_is_refused():
    import pytest

    from finephys_cli.errors import InputError
    from finephys_cli.models.physnet import PhysNet, PhysNetConfig

    with pytest.raises(InputError, match="rollout"):
        PhysNet(PhysNetConfig(rollout="teachr"))
