import math

import numpy as np
import pytest
import torch

from finephys_cli.generation.conditioning import crop_box, from_crop, to_crop
from finephys_cli.generation.heatmaps import render_heatmaps, render_segments, sigma_for
from finephys_cli.skeleton import H36M_BONES


def reference_limbs(kp, scores, size, sigma):
    """The oracle: a per-limb, per-pixel Python loop."""
    h, w = size
    out = np.zeros((len(kp), len(H36M_BONES), h, w))
    for t in range(len(kp)):
        for li, (a, b) in enumerate(H36M_BONES):
            pa, pb = kp[t, a], kp[t, b]
            if np.isnan(pa).any() or np.isnan(pb).any():
                continue
            c = min(scores[t, a], scores[t, b])
            ab = pb - pa
            l2 = ab @ ab
            for y in range(h):
                for x in range(w):
                    p = np.array([x, y], float)
                    u = 0.0 if l2 == 0 else min(max((p - pa) @ ab / l2, 0.0), 1.0)
                    d = p - (pa + u * ab)
                    out[t, li, y, x] = c * math.exp(-(d @ d) / (2 * sigma * sigma))
    return out


def _random_pose(rng, t, size):
    kp = rng.uniform(-4, size + 4, size=(t, 17, 2))
    sc = rng.uniform(0.1, 1.0, size=(t, 17))
    kp[0, 5] = np.nan
    kp[1, 2] = kp[1, 1]          # a zero-length limb
    return kp, sc


def test_parity_with_reference_loop():
    rng = np.random.default_rng(0)
    size = (24, 28)
    kp, sc = _random_pose(rng, 3, 24)
    sigma = 2.0
    ref = reference_limbs(kp, sc, size, sigma)
    for window in (True, False):
        got = render_heatmaps(torch.tensor(kp), torch.tensor(sc), size, sigma=sigma,
                              window=window).numpy()
        np.testing.assert_allclose(got, ref, atol=1e-3)


def test_peak_on_segment_equals_min_score():
    kp = np.full((1, 17, 2), np.nan)
    kp[0, 0], kp[0, 7] = (10.0, 10.0), (30.0, 10.0)   # pelvis -> spine, horizontal
    sc = np.zeros((1, 17))
    sc[0, 0], sc[0, 7] = 0.9, 0.4
    hm = render_heatmaps(torch.tensor(kp), torch.tensor(sc), (20, 40), sigma=1.5)
    limb = [i for i, b in enumerate(H36M_BONES) if b == (0, 7)][0]
    assert hm[0, limb, 10, 10:31].numpy() == pytest.approx(0.4, abs=1e-6)
    others = [i for i in range(16) if i != limb]
    assert hm[0, others].abs().max() == 0  # missing joints give zero limbs, not a smear


def test_zero_length_and_off_frame():
    kp = np.full((1, 17, 2), 5.0)
    kp[0, 1] = kp[0, 0]                          # zero-length pelvis->r_hip: a round blob
    kp[0, 2] = (500.0, 500.0)                    # far off-frame knee
    sc = np.ones((1, 17))
    hm = render_heatmaps(torch.tensor(kp), torch.tensor(sc), (16, 16), sigma=1.0)
    assert torch.isfinite(hm).all()
    assert hm[0, 0, 5, 5] == pytest.approx(1.0)
    assert hm[0, 0, 5, 7] == pytest.approx(math.exp(-4 / 2), rel=1e-5)
    # r_hip -> r_knee leaves the frame: only the part inside is drawn.
    assert hm[0, 1].max() == pytest.approx(1.0, abs=1e-3) and hm[0, 1, 15, 0] == 0


def test_gradcheck_in_joint_coordinates():
    rng = np.random.default_rng(1)
    kp = torch.tensor(rng.uniform(2, 10, size=(1, 17, 2)), dtype=torch.float64,
                      requires_grad=True)
    sc = torch.tensor(rng.uniform(0.5, 1, size=(1, 17)), dtype=torch.float64)

    def f(x):
        return render_heatmaps(x, sc, (12, 12), sigma=1.5)

    assert torch.autograd.gradcheck(f, (kp,), eps=1e-6, atol=1e-5)


def test_crop_round_trip_and_sigma():
    rng = np.random.default_rng(2)
    kp = rng.uniform(100, 300, size=(5, 17, 2))
    kp[2, 3] = np.nan
    box = crop_box(kp, pad=0.1)
    inside = to_crop(kp, box, 384)
    assert np.nanmin(inside) >= 0 and np.nanmax(inside) <= 384
    np.testing.assert_allclose(from_crop(inside, box, 384), kp)
    assert sigma_for(64) == pytest.approx(0.6) and sigma_for(384) == pytest.approx(3.6)


def test_out_buffer_is_reused_and_equal():
    rng = np.random.default_rng(3)
    kp, sc = _random_pose(rng, 2, 32)
    kp_t, sc_t = torch.tensor(kp, dtype=torch.float32), torch.tensor(sc, dtype=torch.float32)
    a = render_heatmaps(kp_t, sc_t, (32, 32))
    idx_a = torch.tensor([b[0] for b in H36M_BONES])
    idx_b = torch.tensor([b[1] for b in H36M_BONES])
    from finephys_cli.generation.heatmaps import _segments

    pa, pb, wgt = _segments(kp_t, sc_t, H36M_BONES)
    buf = torch.full((2, 16, 32, 32), 7.0)
    b = render_segments(pa, pb, wgt, (32, 32), sigma_for(32), out=buf)
    assert b.data_ptr() == buf.data_ptr()
    torch.testing.assert_close(a, b)
    assert idx_a.shape == idx_b.shape
