import numpy as np

from finephys_cli.app import app
from finephys_cli.io.poses_h5 import PoseFile
from finephys_cli.io.video import read_frames, sample_indices, write_video
from finephys_cli.models.detectors import FrameDetections, bundled_yolo_pose
from finephys_cli.skeleton import coco_to_h36m
from finephys_cli.stages.detect import fill_gaps, select_performer

FAST = ["--frames", "6", "--imgsz", "416", "--conf", "0.05", "--device", "cpu", "--progress",
        "none"]


def test_bundled_weights_are_found():
    path = bundled_yolo_pose()
    assert path is not None and path.name == "yolo11n-pose.pt" and path.stat().st_size > 5e6


def test_detect_cli_on_mannequin_videos_against_ground_truth(runner, synth_small, tmp_path):
    synth, videos = synth_small
    out = tmp_path / "det.h5"
    res = runner.invoke(app, ["detect", str(videos), "-o", str(out), *FAST])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    detected = errors = total = 0
    with PoseFile(out, formats=["finephys.pose2d"]) as det, PoseFile(synth) as gt:
        assert "yolo11n-pose.pt" in det.attrs["detector_weights"]
        for vid in det.video_ids:
            idx = det.video_attrs(vid)["frame_indices"]
            kp = det.read(vid, "keypoints2d")
            exact = gt.read(vid, "keypoints2d_exact")[idx]
            seen = ~np.isnan(kp).any(-1)
            total += seen.size
            detected += seen.sum()
            errors += np.linalg.norm(kp - exact, axis=-1)[seen].sum()
            assert det.read(vid, "keypoints2d_coco").shape == (len(idx), 17, 3)
    rate, err = detected / total, errors / max(detected, 1)
    print(f"joint detection rate {rate:.2f}, mean error {err:.1f} px")
    assert rate > 0.3 and err < 40


def test_detect_equals_direct_ultralytics_predict(synth_small):
    from ultralytics import YOLO

    from finephys_cli.models.detectors import UltralyticsPose
    from finephys_cli.stages.detect import DetectConfig, detect_clip

    _, videos = synth_small
    frames, _ = read_frames(sorted(videos.glob("*.mp4"))[0], sample_indices(40, 4))
    ours = detect_clip(UltralyticsPose(None, imgsz=416, conf=0.05), frames,
                       DetectConfig(imgsz=416, conf=0.05, keypoint_conf=0.0))
    direct = YOLO(str(bundled_yolo_pose())).predict([f[..., ::-1] for f in frames], imgsz=416,
                                                    conf=0.05, classes=[0], verbose=False)
    for i, r in enumerate(direct):
        if len(r.boxes) != 1:
            continue
        kp = r.keypoints.data[0].numpy()
        h36m, sc = coco_to_h36m(kp[:, :2], kp[:, 2])
        np.testing.assert_allclose(ours["keypoints2d"][i], h36m, atol=1e-4)
        np.testing.assert_allclose(ours["scores"][i], sc, atol=1e-6)


def test_blank_video_all_nan_and_corrupt_file_exit_3(runner, tmp_path):
    write_video(tmp_path / "in" / "blank.mp4", np.full((8, 128, 128, 3), 128, np.uint8))
    (tmp_path / "in" / "corrupt.mp4").write_bytes(b"garbage" * 50)
    out = tmp_path / "det.h5"
    res = runner.invoke(app, ["detect", str(tmp_path / "in"), "-o", str(out), *FAST])
    assert res.exit_code == 3
    assert "corrupt.mp4" in res.stderr and "no person" in res.stderr
    with PoseFile(out) as pf:
        assert pf.video_ids == ["blank"]
        assert np.isnan(pf.read("blank", "keypoints2d")).all()


def test_random_yaml_model_runs_whole_path(runner, synth_small, tmp_path):
    _, videos = synth_small
    out = tmp_path / "r.h5"
    res = runner.invoke(app, ["detect", str(videos), "-o", str(out), "--model",
                              "yolo11n-pose.yaml", "--frames", "2", "--imgsz", "160",
                              "--device", "cpu", "--conf", "0.0", "--progress", "none"])
    assert res.exit_code == 0, res.output
    with PoseFile(out) as pf:
        assert "random init" in pf.attrs["detector_weights"]
        assert pf.read(pf.video_ids[0], "keypoints2d").shape == (2, 17, 2)


def test_missing_named_model_offline_is_one_line(runner, synth_small, tmp_path):
    _, videos = synth_small
    res = runner.invoke(app, ["detect", str(videos), "-o", str(tmp_path / "x.h5"), "--model",
                              "yolo11x-pose.pt", "--device", "cpu"])
    assert res.exit_code == 1 and "downloads are off" in res.stderr
    res = runner.invoke(app, ["detect", str(videos), "-o", str(tmp_path / "x.h5"), "--model",
                              "yolo11x-pose.pt", "--device", "cpu", "--offline",
                              "--allow-download"])
    assert res.exit_code == 1 and "downloads are off" in res.stderr


def test_shards_then_merge_equal_single_run(runner, synth_small, tmp_path):
    _, videos = synth_small
    single = tmp_path / "one.h5"
    assert runner.invoke(app, ["detect", str(videos), "-o", str(single), *FAST]).exit_code == 0
    shards = []
    for i in range(2):
        res = runner.invoke(app, ["detect", str(videos), "-o", str(tmp_path / "s.h5"),
                                  "--shard", f"{i}/2", *FAST])
        assert res.exit_code == 0, res.output
        shards.append(res.stdout.strip())
    assert shards[0].endswith("s.shard-0-of-2.h5")
    merged = tmp_path / "m.h5"
    assert runner.invoke(app, ["merge", *shards, "-o", str(merged)]).exit_code == 0
    with PoseFile(single) as a, PoseFile(merged) as b:
        assert a.video_ids == b.video_ids
        for v in a.video_ids:
            np.testing.assert_array_equal(a.read(v, "keypoints2d"), b.read(v, "keypoints2d"))
    gap = runner.invoke(app, ["merge", shards[0], "-o", str(tmp_path / "g.h5")])
    assert gap.exit_code == 1 and "gap" in gap.stderr
    with PoseFile(single) as a, PoseFile(merged) as b:      # merged = single run, inputs too
        assert a.attrs["inputs_hash"] == b.attrs["inputs_hash"]


def test_other_videos_into_a_finished_output_are_refused_or_added(runner, synth_small, tmp_path):
    """Bug: `detect b.mp4 -o x.h5` after `detect a.mp4 -o x.h5` said "up to date"."""
    a, b = sorted(synth_small[1].glob("*.mp4"))
    out = tmp_path / "x.h5"
    assert runner.invoke(app, ["detect", str(a), "-o", str(out), *FAST]).exit_code == 0
    res = runner.invoke(app, ["detect", str(b), "-o", str(out), *FAST])
    assert res.exit_code == 1 and "not among these inputs" in res.stderr
    assert "--overwrite" in res.stderr and "to date" not in res.stderr
    res = runner.invoke(app, ["detect", str(a), str(b), "-o", str(out), *FAST])
    assert res.exit_code == 0, res.output
    with PoseFile(out) as pf:
        assert pf.video_ids == sorted([a.stem, b.stem])
    res = runner.invoke(app, ["detect", str(a), str(b), "-o", str(out), *FAST])
    assert res.exit_code == 0 and "to date" in res.stderr


def _dets(boxes):
    return FrameDetections(np.array(boxes, np.float32).reshape(-1, 5),
                           np.zeros((len(boxes), 17, 3), np.float32))


def test_performer_beats_a_briefly_larger_spectator():
    frames = []
    truth = []
    for f in range(16):
        x = 40 + 12 * f                              # the gymnast moves across
        gym = [x, 100, x + 60, 260, 0.9]
        spec_size = 180 if f in (3, 4, 5) else 100  # larger than the gymnast in 3 frames
        spec = [300, 40, 300 + spec_size * 0.6, 40 + spec_size, 0.95]
        order = [spec, gym] if f % 2 else [gym, spec]
        frames.append(_dets(order))
        truth.append(order.index(gym))
    frames[7] = _dets([])                            # a missed frame
    truth[7] = -1
    assert select_performer(frames) == truth


def test_fill_gaps_interior_only_and_marked():
    kp = np.arange(10, dtype=float)[:, None, None].repeat(2, 2).repeat(3, 1)
    kp[3:5, 1] = np.nan
    kp[0, 2] = np.nan
    kp[2:9, 0] = np.nan
    out, filled = fill_gaps(kp, max_gap=2)
    np.testing.assert_allclose(out[3:5, 1, 0], [3, 4])
    assert filled[3:5, 1].all() and not filled[0, 2] and np.isnan(out[0, 2]).all()
    assert np.isnan(out[2:9, 0]).all() and not filled[:, 0].any()


def test_run_detect_from_a_script_without_main_guard(synth_small, tmp_path):
    """Regression: spawned decoding workers re-ran an unguarded calling script."""
    import subprocess
    import sys

    _, videos = synth_small
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from finephys_cli.stages.detect import DetectConfig, run_detect\n"
        f"run_detect(DetectConfig(frames=2, imgsz=160), [{str(videos)!r}], "
        f"{str(tmp_path / 'o.h5')!r}, device='cpu', progress='none')\n"
        "print('RAN')\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("RAN") == 1


def test_frames_all_keeps_every_frame(runner, tmp_path):
    write_video(tmp_path / "in" / "blank.mp4", np.full((9, 64, 64, 3), 128, np.uint8))
    out = tmp_path / "all.h5"
    res = runner.invoke(app, ["detect", str(tmp_path / "in"), "-o", str(out), "--frames", "all",
                              "--imgsz", "160", "--device", "cpu", "--progress", "none"])
    assert res.exit_code == 0, res.output
    with PoseFile(out) as pf:
        assert pf.read("blank", "keypoints2d").shape == (9, 17, 2)
        assert list(pf.video_attrs("blank")["frame_indices"]) == list(range(9))
