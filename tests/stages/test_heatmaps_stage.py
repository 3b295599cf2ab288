import numpy as np

from finephys_cli.app import app
from finephys_cli.io.poses_h5 import PoseFile


def test_render_heatmaps_cli_shapes_dtype_crop(runner, synth_small, tmp_path):
    synth, _ = synth_small
    out = tmp_path / "hm.h5"
    res = runner.invoke(app, ["render-heatmaps", str(synth), "--pose-source", "detect", "--size",
                              "128", "--scales", "1,8,16", "-o", str(out), "--device", "cpu",
                              "--channels", "both", "--progress", "none"])
    assert res.exit_code == 0, res.output
    with PoseFile(out, formats=["finephys.heatmaps"]) as pf, PoseFile(synth) as src:
        vid = pf.video_ids[0]
        t = len(src.read(vid, "keypoints2d"))
        for size in (128, 16, 8):
            hm = pf.read(vid, f"heatmaps/{size}x{size}")
            assert hm.shape == (t, 33, size, size) and hm.dtype == np.float16
            assert 0 <= hm.min() and hm.max() <= 1.0
        box = pf.read(vid, "crop_box")
        kp = src.read(vid, "keypoints2d")
        valid = ~np.isnan(kp).any(-1)
        assert (kp[valid] >= box[:2]).all() and (kp[valid] <= box[:2] + box[2]).all()
        assert pf.attrs["format"] == "finephys.heatmaps"
        assert pf.h5["provenance/000"].attrs["format"] == "finephys.synth"
        assert pf.video_attrs(vid)["pose_source"] == "detect"
    bad = runner.invoke(app, ["render-heatmaps", str(synth), "--pose-source", "fused", "-o",
                              str(tmp_path / "x.h5"), "--device", "cpu"])
    # every video fails alike: each is recorded (exit 3), with the reason on stderr
    assert bad.exit_code == 3 and "pose2d_fused" in bad.stderr and "run physnet" in bad.stderr
    bad = runner.invoke(app, ["render-heatmaps", str(synth), "--scales", "5", "--pose-source",
                              "detect", "-o", str(tmp_path / "y.h5"), "--device", "cpu"])
    assert bad.exit_code == 2 and "does not divide" in bad.stderr


def test_render_heatmaps_auto_source_and_sampled_frames(runner, synth_small, tmp_path):
    """auto takes a synth file's exact 2D; --frames keeps the rows generate would sample."""
    from finephys_cli.io.video import frame_plan

    synth, _ = synth_small
    out = tmp_path / "hm.h5"
    res = runner.invoke(app, ["render-heatmaps", str(synth), str(out), "--size", "64",
                              "--scales", "1,8", "--frames", "6", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    with PoseFile(out) as pf, PoseFile(synth) as src:
        vid = pf.video_ids[0]
        rows = frame_plan(len(src.read(vid, "keypoints2d_exact")), 6)
        assert pf.video_attrs(vid)["pose_source"] == "exact"
        np.testing.assert_array_equal(pf.video_attrs(vid)["pose_rows"], rows)
        np.testing.assert_allclose(pf.read(vid, "keypoints2d"),
                                   src.read(vid, "keypoints2d_exact")[rows], atol=1e-3)
        assert pf.read(vid, "heatmaps/64x64").shape[0] == 6
