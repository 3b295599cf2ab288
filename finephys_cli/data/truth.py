"""Ground truth for a pose file's videos that may live in another file: exact 2D, camera-frame
3D and intrinsics, matched by video id and the prediction's `frame_indices`. Serves
`eval-poses --truth` and training on real detector output paired with its truth
(`--data DETECT.h5+TRUTH.h5`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.poses_h5 import PoseFile
from .deepmimic import refuse_reserved
from .h36m import read_h36m_sequences

TRUTH_DATASETS = ("pose3d_camera", "camera_K", "keypoints2d_exact")


@dataclass
class Truth:
    exact2d: np.ndarray     # (T,17,2) px
    camera3d: np.ndarray    # (T,17,3) m, camera frame
    K: np.ndarray           # (3,3) px

    def at(self, frame_indices: np.ndarray | None, n: int, where: str) -> "Truth":
        """The truth of the n frames a prediction was made from."""
        if frame_indices is None or len(frame_indices) != n:
            if len(self.exact2d) != n:
                raise InputError(f"{where}: {n} predicted frames but {len(self.exact2d)} in the "
                                 "truth, and no frame_indices to match them")
            return self
        idx = np.asarray(frame_indices, dtype=int)
        if idx.min() < 0 or idx.max() >= len(self.exact2d):
            raise InputError(f"{where}: frame_indices reach frame {idx.max()}, the truth has "
                             f"{len(self.exact2d)}")
        return Truth(self.exact2d[idx], self.camera3d[idx], self.K)


def truth_in(pf: PoseFile, vid: str) -> Truth | None:
    if not all(pf.has(vid, name) for name in TRUTH_DATASETS):
        return None
    return Truth(pf.read(vid, "keypoints2d_exact").astype(np.float64),
                 pf.read(vid, "pose3d_camera").astype(np.float64), pf.read(vid, "camera_K"))


def load_truth(spec: str, allow_reserved: bool = True) -> dict[str, Truth]:
    """`--truth`: a finephys file with truth, or `h36m:DIR` (data_3d_h36m.npz +
    data_2d_h36m_gt.npz). Evaluation may use the reserved clips; training passes False."""
    if spec.startswith("h36m:"):
        root = Path(spec[5:])
        return {seq.video_id: Truth(seq.uv, seq.camera3d, seq.K) for seq in
                read_h36m_sequences(root / "data_3d_h36m.npz", root / "data_2d_h36m_gt.npz")}
    with PoseFile(Path(spec), skeleton=None) as pf:
        refuse_reserved(pf, allow_reserved)
        table = {vid: t for vid in pf.video_ids if (t := truth_in(pf, vid)) is not None}
    if not table:
        raise InputError(f"--truth {spec}: no video has {', '.join(TRUTH_DATASETS)}")
    return table
