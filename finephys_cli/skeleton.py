"""The one canonical skeleton module: H36M-17 and COCO-17."""

from __future__ import annotations

import numpy as np

H36M_NAMES = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine",
    "thorax", "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder",
    "r_elbow", "r_wrist",
)
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
# Each bone is (parent, child); the order is that of the child joints 1..16.
H36M_BONES = tuple((p, c) for c, p in enumerate(H36M_PARENTS) if p >= 0)
H36M_LEFT = (4, 5, 6, 11, 12, 13)
H36M_RIGHT = (1, 2, 3, 14, 15, 16)
H36M_FLIP_PERM = tuple(
    H36M_RIGHT[H36M_LEFT.index(j)] if j in H36M_LEFT
    else H36M_LEFT[H36M_RIGHT.index(j)] if j in H36M_RIGHT else j
    for j in range(17)
)

COCO_NAMES = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow",
    "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)
COCO_EDGES = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)
COCO_LEFT = (1, 3, 5, 7, 9, 11, 13, 15)
COCO_RIGHT = (2, 4, 6, 8, 10, 12, 14, 16)
# H36M joints taken directly from one COCO joint.
H36M_FROM_COCO_DIRECT = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 11: 5, 12: 7, 13: 9,
                         14: 6, 15: 8, 16: 10, 9: 0}
# COCO joints labelled from an H36M-17 pose, coco_to_h36m's inverse where it has one: the
# direct joints, and both eyes at the head (coco_to_h36m takes their mean as the head). The
# ears have no H36M counterpart.
COCO_FROM_H36M = {**{c: h for h, c in H36M_FROM_COCO_DIRECT.items()}, 1: 10, 2: 10}
COCO_FLIP_IDX = tuple(COCO_RIGHT[COCO_LEFT.index(j)] if j in COCO_LEFT
                      else COCO_LEFT[COCO_RIGHT.index(j)] if j in COCO_RIGHT else j
                      for j in range(17))

SKELETONS = {
    "h36m17": {"names": H36M_NAMES, "parents": H36M_PARENTS, "edges": H36M_BONES},
    "coco17": {"names": COCO_NAMES, "parents": (-1,) * 17, "edges": COCO_EDGES},
}


def flip_h36m(pose: np.ndarray, *, negate_x: bool = True) -> np.ndarray:
    """Mirror an (..., 17, D) pose: swap left/right joints and negate x (the first coordinate)."""
    out = np.array(pose, copy=True)[..., list(H36M_FLIP_PERM), :]
    if negate_x:
        out[..., 0] = -out[..., 0]
    return out


def coco_to_h36m(keypoints: np.ndarray, scores: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Convert COCO-17 (..., 17, 2|3) to H36M-17; derived joints take the minimum source score.

    NaN in a source joint propagates to the joints derived from it.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    sc = np.ones(kp.shape[:-1]) if scores is None else np.asarray(scores, dtype=np.float64)
    out = np.full(kp.shape[:-2] + (17, kp.shape[-1]), np.nan)
    out_sc = np.zeros(kp.shape[:-2] + (17,))
    for h, c in H36M_FROM_COCO_DIRECT.items():
        out[..., h, :] = kp[..., c, :]
        out_sc[..., h] = sc[..., c]

    def mean_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a + b) / 2.0

    out[..., 0, :] = mean_of(kp[..., 11, :], kp[..., 12, :])
    out_sc[..., 0] = np.minimum(sc[..., 11], sc[..., 12])
    out[..., 8, :] = mean_of(kp[..., 5, :], kp[..., 6, :])
    out_sc[..., 8] = np.minimum(sc[..., 5], sc[..., 6])
    out[..., 7, :] = mean_of(out[..., 0, :], out[..., 8, :])
    out_sc[..., 7] = np.minimum(out_sc[..., 0], out_sc[..., 8])
    out[..., 10, :] = mean_of(kp[..., 1, :], kp[..., 2, :])
    out_sc[..., 10] = np.minimum(sc[..., 1], sc[..., 2])
    return out, out_sc


def h36m_to_coco(pose: np.ndarray) -> np.ndarray:
    """H36M-17 (..., 17, D) -> COCO-17 (..., 17, D), NaN where COCO has no counterpart (ears)."""
    p = np.asarray(pose, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    for c, h in COCO_FROM_H36M.items():
        out[..., c, :] = p[..., h, :]
    return out


def bone_lengths(pose3d: np.ndarray) -> np.ndarray:
    """(..., 17, D) -> (..., 16) lengths of H36M_BONES."""
    p = np.asarray(pose3d)
    parents = [b[0] for b in H36M_BONES]
    children = [b[1] for b in H36M_BONES]
    return np.linalg.norm(p[..., children, :] - p[..., parents, :], axis=-1)
