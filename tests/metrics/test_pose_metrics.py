import numpy as np
import pytest

from finephys_cli.metrics.pose import (accel_error, bone_std, mpjpe, mpjve, n_mpjpe, p_mpjpe,
                                       pck)


def _pose(t=5, seed=0):
    return np.random.default_rng(seed).normal(size=(t, 17, 3))


def test_errors_zero_on_truth_and_invariances():
    gt = _pose()
    for f in (mpjpe, n_mpjpe, p_mpjpe, mpjve, accel_error):
        assert f(gt, gt) == pytest.approx(0.0, abs=1e-9)
    assert n_mpjpe(2.0 * gt, gt) == pytest.approx(0.0, abs=1e-9)          # scale aligned
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0],
                    [0, 0, 1]])
    assert p_mpjpe(1.5 * gt @ rot.T + 3.0, gt) == pytest.approx(0.0, abs=1e-9)
    assert mpjpe(gt + np.array([0.0, 0.0, 0.5]), gt) == pytest.approx(0.5)
    assert mpjve(gt + 1.0, gt) == pytest.approx(0.0, abs=1e-12)            # offsets cancel


def test_nan_predictions_are_skipped_and_bone_std():
    gt = _pose()
    pred = gt.copy()
    pred[0, 3] = np.nan
    assert mpjpe(pred, gt) == 0
    rigid = np.repeat(gt[:1], 5, axis=0)
    assert bone_std(rigid) == pytest.approx(0.0, abs=1e-12)
    # nobody in any frame: undefined, without numpy's empty-slice RuntimeWarning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(bone_std(np.full_like(gt, np.nan)))


def test_pck():
    gt = np.zeros((1, 17, 2))
    gt[0, :, 0] = np.arange(17) * 10.0          # a 160 px wide frame: threshold 16 px
    pred = gt.copy()
    pred[0, :4, 1] += 15.0                       # inside
    pred[0, 4:8, 1] += 17.0                      # outside
    pred[0, 8] = np.nan                          # missing = miss
    assert pck(pred, gt) == pytest.approx(12 / 17)      # 4 + 8 exact hits; 4 out, 1 missing


def test_2d_n_mpjpe_is_root_relative_and_below_mpjpe():
    """Bug: the scale was fitted about the pixel origin, so 2D N-MPJPE could exceed MPJPE."""
    from finephys_cli.metrics.pose import n_mpjve

    rng = np.random.default_rng(3)
    gt = rng.normal(0, 40, size=(6, 17, 2)) + np.array([900.0, 500.0])   # far from the origin
    pred = 1.1 * (gt - gt[:, :1]) + gt[:, :1] + np.array([12.0, -7.0]) \
        + rng.normal(0, 2, size=gt.shape)
    # Reference, written out: root-relative, then the least-squares scale per frame.
    errs = []
    for p, g in zip(pred, gt):
        p0, g0 = p - p[0], g - g[0]
        s = (p0 * g0).sum() / (p0 * p0).sum()
        errs.append(np.linalg.norm(s * p0 - g0, axis=-1))
    assert n_mpjpe(pred, gt) == pytest.approx(float(np.mean(errs)), rel=1e-9)
    assert n_mpjpe(pred, gt) < 0.5 * mpjpe(pred, gt)
    pred[2, 5] = np.nan                                     # NaN joints do not vote in the scale
    assert np.isfinite(n_mpjpe(pred, gt)) and np.isfinite(n_mpjve(pred, gt))
    assert n_mpjve(3.0 * gt, gt) == pytest.approx(0.0, abs=1e-9)
