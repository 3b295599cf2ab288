"""Pose metrics in numpy (VideoPose3D conventions): MPJPE, N-MPJPE, P-MPJPE, MPJVE,
acceleration error, bone-length std. Inputs (T,J,D); NaN joints in the prediction are skipped."""

from __future__ import annotations

import numpy as np

from ..skeleton import bone_lengths


def _valid(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return ~(np.isnan(pred).any(-1) | np.isnan(gt).any(-1))


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    ok = _valid(pred, gt)
    return float(np.linalg.norm(pred - gt, axis=-1)[ok].mean()) if ok.any() else float("nan")


def root_relative(pose: np.ndarray, root: int = 0) -> np.ndarray:
    return pose - pose[:, root:root + 1]


def scale_aligned(pred: np.ndarray, gt: np.ndarray, root: int = 0) -> np.ndarray:
    """Root-relative prediction times its per-frame least-squares scale onto the root-relative
    ground truth (VideoPose3D's N-MPJPE alignment); NaN joints stay NaN and do not vote."""
    p, g = root_relative(pred, root), root_relative(gt, root)
    ok = _valid(p, g)[..., None]
    pz, gz = np.where(ok, p, 0.0), np.where(ok, g, 0.0)
    s = (pz * gz).sum((-1, -2), keepdims=True) / np.maximum(
        (pz * pz).sum((-1, -2), keepdims=True), 1e-12)
    return p * s


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, root: int = 0) -> float:
    """MPJPE after the per-frame scale alignment about the root. Scale-free: it needs no true
    depth or focal, and it is below MPJPE for any root-aligned pose."""
    return mpjpe(scale_aligned(pred, gt, root), root_relative(gt, root))


def n_mpjve(pred: np.ndarray, gt: np.ndarray, root: int = 0) -> float:
    """MPJVE of the scale-aligned, root-relative poses: temporal error free of the scale."""
    return mpjve(scale_aligned(pred, gt, root), root_relative(gt, root))


def median_error(pred: np.ndarray, gt: np.ndarray) -> float:
    ok = _valid(pred, gt)
    return float(np.median(np.linalg.norm(pred - gt, axis=-1)[ok])) if ok.any() else float("nan")


def coverage(pred: np.ndarray) -> float:
    """The fraction of frames with at least one joint (e.g. frames where a person was found)."""
    return float((~np.isnan(pred).any(-1)).any(-1).mean()) if len(pred) else float("nan")


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Per frame, after the optimal similarity transform (Procrustes)."""
    errs = []
    for p, g in zip(pred, gt):
        ok = _valid(p, g)
        if ok.sum() < 3:
            continue
        p, g = p[ok], g[ok]
        mp, mg = p.mean(0), g.mean(0)
        p0, g0 = p - mp, g - mg
        np_, ng = np.linalg.norm(p0), np.linalg.norm(g0)
        if np_ < 1e-12 or ng < 1e-12:
            continue
        p0, g0 = p0 / np_, g0 / ng
        u, s, vt = np.linalg.svd(p0.T @ g0)
        r = u @ vt
        if np.linalg.det(r) < 0:
            vt[-1] *= -1
            s[-1] *= -1
            r = u @ vt
        aligned = (s.sum() * ng) * p0 @ r + mg
        errs.append(np.linalg.norm(aligned - g, axis=-1).mean())
    return float(np.mean(errs)) if errs else float("nan")


def mpjve(pred: np.ndarray, gt: np.ndarray) -> float:
    return mpjpe(np.diff(pred, axis=0), np.diff(gt, axis=0))


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    return mpjpe(np.diff(pred, 2, axis=0), np.diff(gt, 2, axis=0))


def bone_std(pred: np.ndarray) -> float:
    """Mean over bones of the std of its length over time (0 for a rigid skeleton)."""
    bl = bone_lengths(pred)
    seen = ~np.isnan(bl).all(0)
    if not seen.any():              # no pose in any frame (detect found nobody): undefined
        return float("nan")
    return float(np.nanmean(np.nanstd(bl[:, seen], axis=0)))


def all_metrics(pred: np.ndarray, gt: np.ndarray, *, three_d: bool) -> dict[str, float]:
    out = {"MPJPE": mpjpe(pred, gt), "N-MPJPE": n_mpjpe(pred, gt), "MPJVE": mpjve(pred, gt),
           "N-MPJVE": n_mpjve(pred, gt), "accel": accel_error(pred, gt)}
    if three_d:
        out.update({"P-MPJPE": p_mpjpe(pred, gt), "bone_std": bone_std(pred)})
    else:
        out.update({"median": median_error(pred, gt), "coverage": coverage(pred)})
    return out


def box_size(points: np.ndarray) -> np.ndarray:
    """(T,K,2) -> (T,1): the larger side of each frame's bounding box (NaN points ignored)."""
    span = np.nanmax(points, axis=1) - np.nanmin(points, axis=1)   # (T,2)
    return np.max(span, axis=-1)[:, None]


def pck(pred: np.ndarray, gt: np.ndarray, alpha: float = 0.1,
        box_of: np.ndarray | None = None) -> float:
    """PCK@alpha in 2D: the fraction of ground-truth points whose prediction lies within
    alpha × the larger side of the per-frame box of `box_of` (default: the ground truth). A
    missing (NaN) prediction counts as a miss; NaN ground truth is skipped. For `score`'s pose
    fidelity."""
    gt_ok = ~np.isnan(gt).any(-1)
    ref = box_size(gt if box_of is None else box_of)
    dist = np.linalg.norm(pred - gt, axis=-1)
    hit = np.where(np.isnan(dist), False, dist <= alpha * ref)
    return float(hit[gt_ok].mean()) if gt_ok.any() else float("nan")
