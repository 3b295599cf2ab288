"""The one normalisation for 2D and image-aligned 3D poses.

Root-relative per frame (the pelvis), then one clip-level scale, in image-aligned axes (x right,
y down). Image-aligned 3D is (u, v, depth offset) in pixels, so a 3D pose projects to 2D by taking
x, y; `root2d` and `scale` map it back to pixels.
"""

from __future__ import annotations

import numpy as np


def root_track(kp: np.ndarray) -> np.ndarray:
    """(T,17,2) -> (T,2) pelvis per frame; the hips' mean where the pelvis is missing, then
    linear interpolation over time. All-NaN clips give NaN."""
    root = kp[:, 0].copy()
    miss = np.isnan(root).any(-1)
    hips = 0.5 * (kp[:, 1] + kp[:, 4])
    root[miss] = hips[miss]
    miss = np.isnan(root).any(-1)
    if miss.all():
        return root
    t = np.arange(len(kp))
    for d in range(2):
        root[miss, d] = np.interp(t[miss], t[~miss], root[~miss, d])
    return root


def normalize_2d(kp: np.ndarray, scale: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """(T,17,2) px -> (normalised (T,17,2), root2d (T,2) px, scale px)."""
    root = root_track(kp)
    rel = kp - root[:, None]
    if scale is None:
        ext = np.nanmax(np.abs(rel)) if not np.isnan(rel).all() else np.nan
        scale = float(ext) if np.isfinite(ext) and ext > 0 else 1.0
    return rel / scale, root, float(scale)


def denormalize_2d(xy: np.ndarray, root2d: np.ndarray, scale: float) -> np.ndarray:
    return xy * scale + root2d[:, None]


def image_aligned_3d(cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame joints (T,17,3) m -> (u, v, (Z - Z_root)·f/Z_root) in pixels."""
    from .camera import project_points

    uv = project_points(cam, K)
    z_root = cam[:, :1, 2:3]
    depth = (cam[..., 2:3] - z_root) * K[0, 0] / z_root
    return np.concatenate([uv, depth], -1)


def normalize_3d(aligned: np.ndarray, root2d: np.ndarray, scale: float) -> np.ndarray:
    """Image-aligned 3D px -> the normalised frame of the matching 2D."""
    out = aligned.copy()
    out[..., :2] -= root2d[:, None]
    return out / scale


def to_metric(pose_n: np.ndarray, root2d: np.ndarray, scale: float, K: np.ndarray,
              z_root: np.ndarray) -> np.ndarray:
    """Normalised image-aligned 3D -> root-relative camera-frame metres: the exact inverse of
    `image_aligned_3d` (Z = Z_root·(1 + d/f), X = (u − cx)·Z/f). Up to the per-frame factor
    Z_root/f the result depends on the intrinsics alone, so scale-aligned metrics of it need no
    true depth; MPJPE in metres does (an oracle)."""
    px = pose_n * scale
    px[..., :2] += root2d[:, None]
    f, c = np.array([K[0, 0], K[1, 1]]), np.array([K[0, 2], K[1, 2]])
    z = z_root[:, None, None] * (1.0 + px[..., 2:3] / K[0, 0])
    cam = np.concatenate([(px[..., :2] - c) * z / f, z], -1)
    return cam - cam[:, :1]
