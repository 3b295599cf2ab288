"""`eval-poses`: the paper's Table 2 on any file with ground truth (synth, H36M conversions):
S_detect / S_dd / S_pp / S_dd+S_MLP / S_dd+S_pp, in 3D (mm) and in 2D after projection (px)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.normalize import denormalize_2d, to_metric
from ..errors import InputError
from ..io.poses_h5 import PoseFile
from ..metrics.pose import all_metrics

ROWS = ("S_detect", "S_dd", "S_pp", "S_dd+S_MLP", "S_dd+S_pp")


def video_sources(pf: PoseFile, vid: str) -> dict[str, np.ndarray]:
    src = {"S_dd": pf.read(vid, "pose3d_dd")}
    if pf.has(vid, "pose3d_pp"):
        src["S_pp"] = pf.read(vid, "pose3d_pp")
        src["S_dd+S_pp"] = pf.read(vid, "pose3d_fused")
    if pf.has(vid, "pose3d_mlp"):
        src["S_dd+S_MLP"] = 0.5 * (src["S_dd"] + pf.read(vid, "pose3d_mlp"))
    return {k: v.astype(np.float64) for k, v in src.items()}


def evaluate_file(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """{"3d"|"2d": {row: {metric: frame-weighted mean}}}."""
    sums: dict[str, dict[str, dict[str, float]]] = {"3d": {}, "2d": {}}
    weights: dict[str, dict[str, float]] = {"3d": {}, "2d": {}}
    with PoseFile(path, formats=["finephys.pose3d", "finephys.phys"]) as pf:
        used = 0
        for vid in pf.video_ids:
            if not (pf.has(vid, "pose3d_camera") and pf.has(vid, "camera_K")):
                continue
            used += 1
            cam = pf.read(vid, "pose3d_camera").astype(np.float64)
            K = pf.read(vid, "camera_K")
            root, scale = pf.read(vid, "root2d"), float(pf.read(vid, "scale"))
            gt3 = (cam - cam[:, :1]) * 1000.0
            gt2 = pf.read(vid, "keypoints2d_exact").astype(np.float64)
            t = len(gt3)
            rows2d = {"S_detect": pf.read(vid, "keypoints2d").astype(np.float64)}
            rows3d = {}
            for name, pose in video_sources(pf, vid).items():
                rows3d[name] = to_metric(pose, scale, cam[:, 0, 2], float(K[0, 0])) * 1000.0
                rows2d[name] = denormalize_2d(pose[..., :2], root, scale)
            if pf.has(vid, "pose2d_fused"):
                rows2d["S_dd+S_pp"] = pf.read(vid, "pose2d_fused").astype(np.float64)
            for space, rows, gt in (("3d", rows3d, gt3), ("2d", rows2d, gt2)):
                for name, pred in rows.items():
                    m = all_metrics(pred, gt, three_d=space == "3d")
                    acc = sums[space].setdefault(name, {})
                    for k, v in m.items():
                        if np.isfinite(v):
                            acc[k] = acc.get(k, 0.0) + v * t
                    weights[space][name] = weights[space].get(name, 0.0) + t
        if used == 0:
            raise InputError(f"{path}: no video has ground truth (pose3d_camera + camera_K)")
    return {space: {name: {k: v / weights[space][name] for k, v in m.items()}
                    for name, m in sums[space].items()} for space in sums}


def table_rows(result: dict) -> list[dict]:
    rows = []
    for space in ("3d", "2d"):
        for name in ROWS:
            if name in result[space]:
                rows.append({"space": space, "source": name, **result[space][name]})
    return rows
