import numpy as np
import pytest

from finephys_cli.data.camera import look_at, project_points
from finephys_cli.data.h36m import decompose_projection, dlt_camera
from finephys_cli.data.lift_data import (Clip, clip_windows, load_training_clips,
                                         read_amass_joints, read_h36m_npz, read_pose_file,
                                         smpl_to_h36m, windows_of)
from finephys_cli.data.normalize import (denormalize_2d, normalize_2d,
                                         normalize_3d, to_metric)
from finephys_cli.errors import InputError


def test_normalisation_round_trips_and_projects_by_xy(synth_small):
    clips = read_pose_file(synth_small[0])
    c = clips[0]
    xy, root, scale = normalize_2d(c.kp2d)
    back = denormalize_2d(xy, root, scale)
    np.testing.assert_allclose(back, c.kp2d, atol=1e-9)
    assert np.nanmax(np.abs(xy)) == pytest.approx(1.0)
    target = normalize_3d(c.aligned3d, root, scale)
    # The image-aligned 3D projects to the exact 2D by taking x, y.
    from finephys_cli.io.poses_h5 import PoseFile

    with PoseFile(synth_small[0]) as pf:
        exact = pf.read(c.video_id, "keypoints2d_exact")
        cam = pf.read(c.video_id, "pose3d_camera")
        K = pf.read(c.video_id, "camera_K")
    np.testing.assert_allclose(denormalize_2d(target[..., :2], root, scale), exact, atol=1e-6)
    # Back to metres: exactly the camera-frame truth (the inverse of image_aligned_3d).
    metric = to_metric(target, root, scale, K, cam[:, 0, 2])
    truth = cam - cam[:, :1]
    np.testing.assert_allclose(metric, truth, atol=1e-9)
    # Another root depth changes the pose by a per-frame scale only: N-MPJPE needs no depth.
    from finephys_cli.metrics.pose import n_mpjpe

    assert n_mpjpe(to_metric(target, root, scale, K, 0.7 * cam[:, 0, 2]), truth) < 1e-9


def test_windows_pad_and_mark_valid(synth_small):
    c = read_pose_file(synth_small[0])[0]
    c.kp2d = c.kp2d[:10]
    c.scores = c.scores[:10]
    c.aligned3d = c.aligned3d[:10]
    w = clip_windows(c, 16, 8)
    assert w["query"].shape == (1, 16, 17, 3) and w["valid"][0].sum() == 10
    assert (w["query"][..., 2] >= 0).all() and not np.isnan(w["query"]).any()


def test_reserved_files_refused(tmp_path):
    from finephys_cli.stages.synth import SynthConfig, run_synth

    path = run_synth(SynthConfig(motion="deepmimic", clips="backflip", per_class=1),
                     tmp_path / "r.h5", progress="none", allow_reserved=True)
    with pytest.raises(InputError, match="reserved"):
        read_pose_file(path)


def test_dlt_recovers_camera():
    rng = np.random.default_rng(0)
    world = rng.uniform(-1, 1, (200, 3)) + np.array([0, 1, 0])
    R, t = look_at(np.array([0.5, 1.5, 6.0]), np.array([0.0, 1.0, 0.0]))
    K = np.array([[1100.0, 0, 500], [0, 1100.0, 500], [0, 0, 1]])
    uv = project_points(world @ R.T + t, K)
    K2, R2, t2 = decompose_projection(dlt_camera(world, uv))
    np.testing.assert_allclose(K2, K, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(R2, R, atol=1e-6)
    np.testing.assert_allclose(t2, t, atol=1e-5)


def test_h36m_npz_reader_real_layout(tmp_path):
    rng = np.random.default_rng(1)
    pos32 = rng.normal(size=(30, 32, 3)) * 0.3 + np.array([0, 0, 1.0])
    R, t = look_at(np.array([0.0, -5.0, 1.5]), np.array([0.0, 0.0, 1.0]),
                   up=np.array([0.0, 0.0, 1.0]))
    K = np.array([[1145.0, 0, 512], [0, 1144.0, 515], [0, 0, 1]])
    from finephys_cli.data.h36m import H36M32_TO_17

    uv = project_points(pos32[:, list(H36M32_TO_17)] @ R.T + t, K)
    np.savez(tmp_path / "data_3d_h36m.npz",
             positions_3d=np.array({"S1": {"Walking": pos32}}, dtype=object))
    np.savez(tmp_path / "data_2d_h36m_gt.npz",
             positions_2d=np.array({"S1": {"Walking": [uv]}}, dtype=object))
    (clip,) = read_h36m_npz(tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_gt.npz")
    assert clip.video_id == "h36m_S1_Walking_0" and clip.kp2d.shape == (30, 17, 2)
    np.testing.assert_allclose(clip.aligned3d[..., :2], uv, atol=1e-6)


def test_amass_joints_reader(tmp_path):
    rng = np.random.default_rng(2)
    joints = rng.normal(size=(60, 24, 3)) * 0.2 + np.array([0, 0, 1.0])
    np.savez(tmp_path / "seq.npz", joints=joints, fps=60.0)
    (clip,) = read_amass_joints(tmp_path / "seq.npz", np.random.default_rng(0))
    assert clip.kp2d.shape == (25, 17, 2) and clip.aligned3d.shape == (25, 17, 3)
    h = smpl_to_h36m(joints)
    np.testing.assert_allclose(h[:, 7], 0.5 * (joints[:, 3] + joints[:, 6]))
    np.testing.assert_allclose(h[:, 1], joints[:, 2])   # right hip is SMPL 2, not a knee


def test_paired_truth_with_reserved_clips_is_refused_for_training(synth_small, tmp_path):
    import shutil

    import h5py

    truth = tmp_path / "truth.h5"
    shutil.copy(synth_small[0], truth)
    assert read_pose_file(synth_small[0], truth=truth)          # pairing works
    with h5py.File(truth, "a") as h5:
        h5.attrs["contains_reserved"] = True
    with pytest.raises(InputError, match="reserved"):
        read_pose_file(synth_small[0], truth=truth)


def test_training_skips_a_video_without_any_detection(synth_small, tmp_path):
    """Bug: a paired detect file with a video where nobody was found gave that clip an
    all-NaN target (no root to normalise by), so every validation that held it was NaN and no
    best checkpoint was ever written. A body whose pelvis and hips are never found is the same
    case. Only that file's clip is skipped: the same video in another file stays."""
    import shutil

    import h5py

    nobody, no_hips = tmp_path / "nobody.h5", tmp_path / "no_hips.h5"
    for det in (nobody, no_hips):
        shutil.copy(synth_small[0], det)
    with h5py.File(nobody, "a") as h5:
        vids = list(h5["videos"])
        h5["videos"][vids[0]]["keypoints2d"][...] = np.nan
    with h5py.File(no_hips, "a") as h5:
        h5["videos"][vids[1]]["keypoints2d"][:, [0, 1, 4]] = np.nan     # pelvis and hips
    clips = load_training_clips([f"{det}+{synth_small[0]}" for det in (nobody, no_hips)])
    assert [c.video_id for c in clips] == [vids[1], vids[0]]
    assert np.isfinite(windows_of(clips, 16, 8)["target"]).all()


def test_no_3d_truth_message_fits_train_lift_and_train_physnet():
    clip = Clip("v", np.zeros((20, 17, 2)), np.ones((20, 17)), None)
    with pytest.raises(InputError) as info:
        windows_of([clip], 16, 8)
    text = str(info.value)      # it once said "for train-lift" under train-physnet too
    assert "train-lift and train-physnet --stage pretrain" in text
    assert "DETECT.h5+TRUTH.h5" in text and "train-physnet --stage finetune" in text


def test_missing_h36m_folder_or_amass_file_is_one_line(tmp_path):
    """h36m:DIR (train-lift --data, eval-poses --truth) and amass:FILE: not a raw errno."""
    from finephys_cli.data.truth import load_truth

    missing = tmp_path / "nonexistent"
    for call in (lambda: load_training_clips([f"h36m:{missing}"]),
                 lambda: load_truth(f"h36m:{missing}")):
        with pytest.raises(InputError, match=f"{missing}: no such Human3.6M folder"):
            call()
    (tmp_path / "h36m").mkdir()
    with pytest.raises(InputError, match="no data_3d_h36m.npz"):
        load_training_clips([f"h36m:{tmp_path / 'h36m'}"])
    with pytest.raises(InputError, match="no such AMASS joints file"):
        load_training_clips([f"amass:{tmp_path / 'a.npz'}"])
