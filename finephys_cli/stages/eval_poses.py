"""`eval-poses`: the paper's Table 2 on any pose file with ground truth: S_detect / S_dd / S_pp /
S_dd+S_MLP / S_dd+S_pp, in 3D (mm) and in 2D after projection (px).

The truth is the file's own (synth files, and what lift/physnet pass through from them), or
`--truth`: another finephys file with `pose3d_camera`, `camera_K` and `keypoints2d_exact` (e.g.
the synth file whose videos went through `detect`), or `h36m:DIR` (VideoPose3D's Human3.6M npz
pair), matched by video id and the prediction's `frame_indices`.

Our poses are normalised image-aligned 3D, which has no metric scale. They are back-projected
through the camera (`to_metric`, exact for a perfect pose); MPJPE, MPJVE and accel in mm also
borrow the true root depth: they are *oracle-scaled* and say so. N-MPJPE, P-MPJPE and N-MPJVE
fit the scale per frame and need only the intrinsics. Every 2D
and 3D N-MPJPE is root-relative (VideoPose3D). A metric's clip-level value is weighted by the
clip's frames only where it is defined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.normalize import denormalize_2d, to_metric
from ..data.truth import Truth, load_truth, truth_in
from ..console import log
from ..errors import InputError
from ..io.poses_h5 import PoseFile
from ..metrics.pose import all_metrics
from ..models.physnet import fuse_estimates

ROWS = ("static mean pose", "S_detect", "S_dd", "S_pp", "S_dd+S_MLP", "S_dd+S_pp",
        "S_dd+S_pp, learned P")
# Metrics of the 3D rows computed on poses made metric with the true root depth.
ORACLE_SCALED = ("MPJPE", "MPJVE", "accel", "bone_std")


def video_sources(pf: PoseFile, vid: str) -> dict[str, np.ndarray]:
    src = {"S_dd": pf.read(vid, "pose3d_dd")}
    if pf.has(vid, "pose3d_pp"):
        src["S_pp"] = pf.read(vid, "pose3d_pp")
        src["S_dd+S_pp"] = pf.read(vid, "pose3d_fused")
    if pf.has(vid, "pose3d_mlp"):
        src["S_dd+S_MLP"] = fuse_estimates(src["S_dd"], pf.read(vid, "pose3d_mlp"))
    return {k: v.astype(np.float64) for k, v in src.items()}


def evaluate_video(pf: PoseFile, vid: str, truth: Truth) -> dict[str, dict[str, dict]]:
    """{"3d"|"2d": {row: metrics}} for one video."""
    cam, K = truth.camera3d, truth.K
    root, scale = pf.read(vid, "root2d"), float(pf.read(vid, "scale"))
    gt3 = (cam - cam[:, :1]) * 1000.0
    rows3d = {"static mean pose": np.broadcast_to(gt3.mean(0), gt3.shape).copy()}
    rows2d = {"S_detect": pf.read(vid, "keypoints2d").astype(np.float64)}
    for name, pose in video_sources(pf, vid).items():
        rows3d[name] = to_metric(pose, root, scale, K, cam[:, 0, 2]) * 1000.0
        rows2d[name] = denormalize_2d(pose[..., :2], root, scale)
    # Every 2D row is its 3D's weak perspective [..., :2], so the rows compare like for like;
    # a file made with `physnet --projection learned` also gets the fusion through that P.
    if pf.has(vid, "pose2d_fused") and pf.config.get("projection") == "learned":
        rows2d["S_dd+S_pp, learned P"] = pf.read(vid, "pose2d_fused").astype(np.float64)
    return {"3d": {n: all_metrics(p, gt3, three_d=True) for n, p in rows3d.items()},
            "2d": {n: all_metrics(p, truth.exact2d, three_d=False) for n, p in rows2d.items()}}


def evaluate_file(path: Path, truth: str | None = None) -> dict:
    """{"3d"|"2d": {row: {metric: frame-weighted mean}}, "videos": {id: per-video rows},
    "oracle_scaled": [...]}."""
    table = load_truth(truth) if truth else None
    sums: dict[str, dict[str, dict[str, float]]] = {"3d": {}, "2d": {}}
    weights: dict[str, dict[str, dict[str, float]]] = {"3d": {}, "2d": {}}
    per_video: dict[str, dict] = {}
    skipped: list[str] = []      # videos without truth
    sampled: list[str] = []      # videos of non-consecutive frames: velocities per sampled step
    total_frames = 0
    with PoseFile(path, formats=["finephys.pose3d", "finephys.phys"]) as pf:
        for vid in pf.video_ids:
            found = table.get(vid) if table is not None else truth_in(pf, vid)
            if found is None:
                skipped.append(vid)
                continue
            n = len(pf.read(vid, "pose3d_dd"))
            total_frames += n
            frames = pf.video_attrs(vid).get("frame_indices")
            if frames is not None and np.any(np.diff(np.asarray(frames)) != 1):
                sampled.append(vid)
            res = evaluate_video(pf, vid, found.at(None if table is None else frames, n,
                                                   f"{path}:{vid}"))
            per_video[vid] = res
            for space, rows in res.items():
                for name, metrics in rows.items():
                    acc = sums[space].setdefault(name, {})
                    wt = weights[space].setdefault(name, {})
                    for k, v in metrics.items():
                        if np.isfinite(v):
                            acc[k] = acc.get(k, 0.0) + v * n
                            wt[k] = wt.get(k, 0.0) + n
        if not per_video:
            where = f"--truth {truth}" if truth else "the file (pose3d_camera + camera_K)"
            raise InputError(f"{path}: no video has ground truth in {where}")
    out: dict = {space: {name: {k: v / weights[space][name][k] for k, v in m.items()}
                         for name, m in sums[space].items()} for space in sums}
    out["videos"] = per_video
    out["oracle_scaled"] = list(ORACLE_SCALED)
    out["skipped_without_truth"] = skipped
    out["sampled_frames"] = sampled
    log.info("eval-poses %s: %d video(s), %d frames evaluated", path, len(per_video),
             total_frames)
    if skipped:
        log.warning("eval-poses %s: %d video(s) without truth left out: %s", path, len(skipped),
                    ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    if sampled:
        log.warning("eval-poses %s: %d video(s) hold sampled, non-consecutive frames (detect "
                    "--frames N): their MPJVE and accel are per sampled step, not per frame; "
                    "use detect --frames all for per-frame velocities", path, len(sampled))
    return out


def table_rows(result: dict) -> list[dict]:
    rows = []
    for space in ("3d", "2d"):
        for name in ROWS:
            if name in result[space]:
                metrics = result[space][name]
                oracle = [k for k in ORACLE_SCALED if k in metrics] if space == "3d" else []
                rows.append({"space": space, "source": name, **metrics,
                             "oracle_scaled": oracle})
    return rows
