"""Human3.6M in VideoPose3D's npz layout: `data_3d_h36m.npz` with
`positions_3d[subject][action]` (T,32,3) m and `data_2d_h36m_gt.npz` with
`positions_2d[subject][action][camera]` (T,17,2) px (VideoPose3D's `prepare_data_h36m.py` makes
them from the official release). Cameras are recovered per sequence by DLT from the 2D-3D
correspondences, so no camera table is needed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


@dataclass
class H36MSequence:
    video_id: str
    uv: np.ndarray          # (T,17,2) px
    camera3d: np.ndarray    # (T,17,3) m, camera frame
    K: np.ndarray           # (3,3)


def dlt_camera(world: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """The 3x4 projection matrix from N >= 6 correspondences (direct linear transform)."""
    n = len(world)
    a = np.zeros((2 * n, 12))
    xh = np.concatenate([world, np.ones((n, 1))], 1)
    a[0::2, 0:4] = xh
    a[0::2, 8:12] = -uv[:, :1] * xh
    a[1::2, 4:8] = xh
    a[1::2, 8:12] = -uv[:, 1:2] * xh
    _, _, vt = np.linalg.svd(a)
    return vt[-1].reshape(3, 4)


def decompose_projection(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P = K[R|t] with a positive-diagonal K."""
    from scipy.linalg import rq

    k, r = rq(p[:, :3])
    d = np.diag(np.sign(np.diag(k)))
    k, r = k @ d, d @ r
    t = np.linalg.solve(k, p[:, 3])
    if np.linalg.det(r) < 0:
        r, t = -r, -t
    return k / k[2, 2], r, t


def check_h36m_files(path_3d: Path, path_2d: Path) -> None:
    """One line for a missing folder or file (h36m:DIR of --data and --truth), not an errno."""
    for path in (Path(path_3d), Path(path_2d)):
        if not path.parent.is_dir():
            raise InputError(f"{path.parent}: no such Human3.6M folder")
        if not path.is_file():
            raise InputError(f"{path.parent}: no {path.name} (a Human3.6M folder in "
                             f"VideoPose3D's layout holds {Path(path_3d).name} and "
                             f"{Path(path_2d).name})")


def read_h36m_sequences(path_3d: Path, path_2d: Path, subjects: tuple[str, ...] | None = None
                        ) -> list[H36MSequence]:
    check_h36m_files(path_3d, path_2d)
    d3 = np.load(path_3d, allow_pickle=True)["positions_3d"].item()
    d2 = np.load(path_2d, allow_pickle=True)["positions_2d"].item()
    out = []
    for subject in sorted(d3):
        if subjects and subject not in subjects:
            continue
        for action in sorted(d3[subject]):
            pos = d3[subject][action]
            world = pos[:, list(H36M32_TO_17)] if pos.shape[1] == 32 else pos
            for cam_idx, uv in enumerate(d2[subject][action]):
                t = min(len(uv), len(world))
                P = dlt_camera(world[:t:5].reshape(-1, 3), uv[:t:5].reshape(-1, 2))
                K, R, tr = decompose_projection(P)
                out.append(H36MSequence(f"h36m_{subject}_{action}_{cam_idx}".replace(" ", "_"),
                                        uv[:t].astype(np.float64), world[:t] @ R.T + tr, K))
    return out
