import json

import numpy as np
import pytest

from finephys_cli.app import app
from finephys_cli.data.camera import look_at, project_points
from finephys_cli.data.h36m import H36M32_TO_17
from finephys_cli.data.normalize import image_aligned_3d, normalize_2d, normalize_3d
from finephys_cli.errors import InputError
from finephys_cli.io.poses_h5 import PoseFileWriter
from finephys_cli.stages.eval_poses import evaluate_file


def _h36m_layout(tmp_path, t=30):
    rng = np.random.default_rng(1)
    base = rng.normal(size=(1, 32, 3)) * 0.3 + np.array([0, 0, 1.0])
    pos32 = base + 0.05 * np.sin(np.arange(t) / 4.0)[:, None, None] * rng.normal(size=(1, 32, 3))
    R, tr = look_at(np.array([0.0, -5.0, 1.5]), np.array([0.0, 0.0, 1.0]),
                    up=np.array([0.0, 0.0, 1.0]))
    K = np.array([[1145.0, 0, 512], [0, 1144.0, 515], [0, 0, 1]])
    cam = pos32[:, list(H36M32_TO_17)] @ R.T + tr
    uv = project_points(cam, K)
    np.savez(tmp_path / "data_3d_h36m.npz",
             positions_3d=np.array({"S1": {"Walking": pos32}}, dtype=object))
    np.savez(tmp_path / "data_2d_h36m_gt.npz",
             positions_2d=np.array({"S1": {"Walking": [uv]}}, dtype=object))
    return uv, cam, K


def _pred_file(path, vid, kp2d, pose_n, root, scale, frame_indices=None):
    with PoseFileWriter(path, format="finephys.pose3d", config={}, config_hash="p") as w:
        attrs = {} if frame_indices is None else {"frame_indices": frame_indices}
        w.write_video(vid, attrs, {"keypoints2d": kp2d, "scores": np.ones(kp2d.shape[:2]),
                                   "pose3d_dd": pose_n, "root2d": root,
                                   "scale": np.float32(scale)})
        w.finish()
    return path


def _truth_file(path, uv, cam, K):
    """A synth-like truth file of one video "v"."""
    with PoseFileWriter(path, format="finephys.synth", config={}, config_hash="s") as w:
        w.write_video("v", {}, {"keypoints2d": uv, "scores": np.ones(uv.shape[:2]),
                                "keypoints2d_exact": uv, "pose3d_camera": cam, "camera_K": K})
        w.finish()
    return path


def test_eval_poses_on_a_tiny_human36m_layout(tmp_path, runner):
    uv, cam, K = _h36m_layout(tmp_path)
    _, root, scale = normalize_2d(uv)
    exact = normalize_3d(image_aligned_3d(cam, K), root, scale)
    pred = _pred_file(tmp_path / "pred.h5", "h36m_S1_Walking_0", uv, exact, root, scale)
    res = evaluate_file(pred, truth=f"h36m:{tmp_path}")
    assert res["2d"]["S_dd"]["MPJPE"] < 1e-3                   # exact 2D back to the pixels
    for metric in ("MPJPE", "N-MPJPE", "P-MPJPE", "MPJVE", "N-MPJVE"):
        assert res["3d"]["S_dd"][metric] < 1e-3, metric        # a perfect pose: 0 (float32)
    assert res["3d"]["static mean pose"]["N-MPJPE"] > 10
    assert res["oracle_scaled"] == ["MPJPE", "MPJVE", "accel", "bone_std"]
    out = tmp_path / "t2.json"
    r = runner.invoke(app, ["eval-poses", str(pred), "--truth", f"h36m:{tmp_path}", "-o",
                            str(out)])
    assert r.exit_code == 0, r.output
    # a report: stdout is the table; the files written are logged on stderr
    assert "Table 2 analogue, 3D" in r.stdout and str(out) not in r.stdout
    assert out.is_file() and out.with_suffix(".csv").is_file()
    r = runner.invoke(app, ["eval-poses", str(pred), "--truth", f"h36m:{tmp_path}", "--json"])
    rows = json.loads(r.stdout)[str(pred)]                  # --json: stdout is the JSON alone
    assert {row["source"]: row["oracle_scaled"] for row in rows
            if row["space"] == "3d"}["S_dd"] == ["MPJPE", "MPJVE", "accel", "bone_std"]
    assert all(row["oracle_scaled"] == [] for row in rows if row["space"] == "2d")
    # strict JSON: S_detect's accel is undefined (3 frames of 2D needed), null not NaN
    data = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert "MPJPE MPJVE accel bone_std" in out.with_suffix(".csv").read_text()
    sources = {(row["space"], row["source"]) for row in data["files"][str(pred)]}
    assert ("3d", "static mean pose") in sources and ("2d", "S_detect") in sources
    assert "h36m_S1_Walking_0" in data["per_video"][str(pred)]
    # No truth for this file's videos: one line, exit 1.
    other = _pred_file(tmp_path / "other.h5", "zz", uv, exact, root, scale)
    r = runner.invoke(app, ["eval-poses", str(other), "--truth", f"h36m:{tmp_path}"])
    assert r.exit_code == 1 and "no video has ground truth" in r.stderr


def test_truth_elsewhere_follows_frame_indices_and_nan_is_not_weighted(tmp_path):
    uv, cam, K = _h36m_layout(tmp_path, t=40)
    truth = _truth_file(tmp_path / "truth.h5", uv, cam, K)
    idx = np.arange(5, 37, 2)                                  # 16 sampled frames
    kp = uv[idx].copy()
    kp[3:6] = np.nan                                           # the detector lost 3 frames
    _, root, scale = normalize_2d(uv[idx])
    exact = normalize_3d(image_aligned_3d(cam[idx], K), root, scale)
    pred = _pred_file(tmp_path / "pred.h5", "v", kp, exact, root, scale, frame_indices=idx)
    res = evaluate_file(pred, truth=str(truth))
    assert res["2d"]["S_dd"]["MPJPE"] < 1e-3                   # aligned by frame_indices
    assert res["2d"]["S_detect"]["coverage"] == pytest.approx(13 / 16)
    assert res["2d"]["S_detect"]["MPJPE"] < 1e-3               # NaN frames do not count
    short = _pred_file(tmp_path / "short.h5", "v", kp[:10], exact[:10], root[:10], scale)
    with pytest.raises(InputError, match="no frame_indices"):
        evaluate_file(short, truth=str(truth))


def test_the_report_keeps_whole_headers_when_stdout_is_narrow(tmp_path, runner, monkeypatch):
    """Redirected output is 80 columns: cut headers lost the † marks and N-MPJPE read like
    N-MPJVE."""
    uv, cam, K = _h36m_layout(tmp_path)
    _, root, scale = normalize_2d(uv)
    exact = normalize_3d(image_aligned_3d(cam, K), root, scale)
    pred = _pred_file(tmp_path / "a_rather_long_file_name_for_the_title.h5",
                      "h36m_S1_Walking_0", uv, exact, root, scale)
    monkeypatch.setenv("COLUMNS", "60")
    r = runner.invoke(app, ["eval-poses", str(pred), "--truth", f"h36m:{tmp_path}"])
    assert r.exit_code == 0, r.output
    for header in ("MPJPE†", "N-MPJPE", "P-MPJPE", "MPJVE†", "N-MPJVE", "accel†", "bone_std†",
                   "static mean pose"):
        assert header in r.stdout, header
    assert "…" not in r.stdout


def test_videos_without_truth_and_sampled_frames_are_reported(tmp_path, runner):
    uv, cam, K = _h36m_layout(tmp_path, t=40)
    truth = _truth_file(tmp_path / "truth.h5", uv, cam, K)
    idx = np.arange(5, 37, 2)
    _, root, scale = normalize_2d(uv[idx])
    exact = normalize_3d(image_aligned_3d(cam[idx], K), root, scale)
    pred = tmp_path / "pred.h5"
    with PoseFileWriter(pred, format="finephys.pose3d", config={}, config_hash="p") as w:
        for vid in ("v", "no_truth"):
            w.write_video(vid, {"frame_indices": idx}, {
                "keypoints2d": uv[idx], "scores": np.ones((16, 17)), "pose3d_dd": exact,
                "root2d": root, "scale": np.float32(scale)})
        w.finish()
    res = evaluate_file(pred, truth=str(truth))
    assert res["skipped_without_truth"] == ["no_truth"] and res["sampled_frames"] == ["v"]
    r = runner.invoke(app, ["eval-poses", str(pred), "--truth", str(truth)])
    assert r.exit_code == 0, r.output
    log = " ".join(r.stderr.split())
    assert "without truth left out: no_truth" in log and "per sampled step" in log
    assert "1 video(s), 16 frames evaluated" in log
