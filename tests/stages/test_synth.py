import hashlib

import numpy as np
import pytest

from finephys_cli.app import app
from finephys_cli.data.camera import project_points
from finephys_cli.data.classes import class_by_id
from finephys_cli.data.detector_noise import NoiseConfig, observe
from finephys_cli.data.synth_motion import generate_motion
from finephys_cli.io.poses_h5 import PoseFile
from finephys_cli.stages.synth import SynthConfig, make_sample, run_synth


def test_projection_of_truth_equals_stored_exact_2d(tmp_path):
    out = run_synth(SynthConfig(classes="7,33", per_class=1), tmp_path / "s.h5", progress="none")
    with PoseFile(out, formats=["finephys.synth"]) as pf:
        for vid in pf.video_ids:
            world = pf.read(vid, "pose3d_world")
            R, t, K = pf.read(vid, "camera_R"), pf.read(vid, "camera_t"), pf.read(vid, "camera_K")
            cam = np.einsum("tij,tkj->tki", R, world) + t[:, None]
            np.testing.assert_allclose(cam, pf.read(vid, "pose3d_camera"), atol=1e-9)
            np.testing.assert_allclose(project_points(cam, K), pf.read(vid, "keypoints2d_exact"),
                                       atol=1e-6)
            assert (cam[..., 2] > 1.0).all()
            exact = pf.read(vid, "keypoints2d_exact")
            assert exact.min() >= 0 and exact.max() <= 384


def test_noise_has_configured_statistics():
    rng = np.random.default_rng(0)
    t = 4000
    exact = np.tile(np.stack([np.linspace(100, 110, 17), np.linspace(50, 250, 17)], -1),
                    (t, 1, 1))
    exact[:, 8, 1], exact[:, 0, 1] = 80, 150  # an upright torso
    depth = np.full((t, 17), 8.0)
    cfg = NoiseConfig(jitter_frac=0.01, speed_gain=0.0, inverted_gain=0.0, swap_prob=0.0,
                      occlusion_drop=0.0, fast_drop_prob=0.0, frame_miss_prob=0.1)
    obs = observe(exact, depth, 25.0, rng, cfg)
    err = (obs.keypoints - exact)[~obs.missed]
    height = 250.0 - 62.5   # the person's box: joints 1..16 span y 62.5..250
    assert np.nanstd(err) / height == pytest.approx(0.01, rel=0.05)
    assert obs.missed.mean() == pytest.approx(0.1, abs=0.02)
    assert np.isnan(obs.keypoints[obs.missed]).all() and (obs.scores[obs.missed] == 0).all()
    # Swaps really swap left and right.
    obs2 = observe(exact, depth, 25.0, np.random.default_rng(1),
                   NoiseConfig(jitter_frac=0.0, swap_prob=0.2, frame_miss_prob=0.0,
                               occlusion_drop=0.0, fast_drop_prob=0.0))
    sw = obs2.swapped
    assert 0.2 < sw.mean() < 0.6
    legs = np.allclose(obs2.keypoints[sw][:, 1], exact[sw][:, 4]) or \
        np.allclose(obs2.keypoints[sw][:, 11], exact[sw][:, 14])
    assert legs or np.isclose(obs2.keypoints[sw][:, [1, 11]], exact[sw][:, [4, 14]]).any()


def test_noise_grows_with_speed_and_inversion():
    rng = np.random.default_rng(2)
    m = generate_motion(class_by_id(38), rng)
    from finephys_cli.data.camera import broadcast_camera

    cam = broadcast_camera(m.joints, rng)
    exact = cam.project(m.joints)
    cfg = NoiseConfig(frame_miss_prob=0, swap_prob=0, occlusion_drop=0, fast_drop_prob=0)
    errs = []
    for s in range(30):
        obs = observe(exact, cam.to_camera(m.joints)[..., 2], 25.0, np.random.default_rng(s), cfg)
        errs.append(np.linalg.norm(obs.keypoints - exact, axis=-1).mean(-1))
    err = np.mean(errs, 0)
    a0, a1 = m.frame_action
    assert err[a0:a1].mean() > 1.5 * err[:a0 - 8].mean()


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_bit_identical_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    cfg = SynthConfig(classes="6,25", per_class=2, seed=3)
    a = run_synth(cfg, tmp_path / "a" / "s.h5", progress="none")
    b = run_synth(cfg, tmp_path / "b" / "s.h5", progress="none")
    assert _sha(a) == _sha(b)
    c = run_synth(SynthConfig(classes="6,25", per_class=2, seed=4), tmp_path / "c" / "s.h5",
                  progress="none")
    assert _sha(a) != _sha(c)


def test_rendered_joints_fall_on_mannequin_pixels():
    from finephys_cli.data.mannequin import MannequinRenderer

    cfg = SynthConfig()
    for cid in (9, 18, 36):
        sample, (joints, cam, rng) = make_sample(cfg, class_by_id(cid), 0)
        renderer = MannequinRenderer(cam, rng)
        frames = renderer.render(joints)
        background = renderer.background(len(frames))
        assert frames.shape == (len(joints), 384, 384, 3)
        diff = np.abs(frames.astype(int) - background.astype(int)).sum(-1)
        assert (diff > 30).mean() > 0.003  # the mannequin covers part of each frame
        uv = np.round(sample.arrays["keypoints2d_exact"]).astype(int)
        inside = (uv >= 0).all(-1) & (uv < 384).all(-1)
        tt, jj = np.nonzero(inside)
        on_body = diff[tt, uv[tt, jj, 1], uv[tt, jj, 0]] > 30
        assert on_body.mean() > 0.97, (cid, on_body.mean())


def test_synth_cli_end_to_end_and_skip(runner, tmp_path):
    out = tmp_path / "s.h5"
    args = ["synth", "--classes", "FX-TURN", "--per-class", "1", "-o", str(out), "--videos",
            str(tmp_path / "v"), "--progress", "none"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert res.stdout.split() == [str(out), str(tmp_path / "v")]
    assert len(list((tmp_path / "v").glob("*.mp4"))) == 7
    with PoseFile(out, formats=["finephys.synth"]) as pf:
        assert len(pf.video_ids) == 7
        assert pf.video_attrs(pf.video_ids[0])["source_path"].startswith("v/")
    mtime = out.stat().st_mtime_ns
    assert runner.invoke(app, args).exit_code == 0
    assert out.stat().st_mtime_ns == mtime  # skipped: same config
    res = runner.invoke(app, ["synth", "--classes", "99", "-o", str(tmp_path / "x.h5")])
    assert res.exit_code == 2 and "not a Gym99 FX class id" in res.stderr   # a usage error
    for bad, why in ((["--tumble", "0.5"], "--tumble needs --motion deepmimic"),
                     (["--mannequin", "humanoid"], "needs --motion deepmimic"),
                     (["--motion", "deepmimic", "--tumble", "1.5"], "--tumble"),
                     (["--motion", "deepmimic", "--set", "tumble=-1"], "share from 0 to 1"),
                     (["--limb-jitter", "0.5"], "--limb-jitter needs --motion deepmimic"),
                     (["--motion", "deepmimic", "--set", "limb_jitter=2"], "share from 0 to 1")):
        res = runner.invoke(app, ["synth", *bad, "-o", str(tmp_path / "y.h5")])
        assert res.exit_code == 2 and why in res.stderr, (bad, res.stderr)
        assert not (tmp_path / "y.h5").exists()


@pytest.mark.parametrize("bad, why", [
    (["--fps", "0"], "--fps must be a frame rate above 0"),      # once a ZeroDivisionError
    (["--fps", "-5"], "--fps must be a frame rate above 0"),
    (["--frames", "0"], "--frames must be at least 1"),           # once "needs 40 frames"
    (["--frames", "-3"], "--frames must be at least 1"),
    (["--set", "per_class=0"], "--per-class must be at least 1"),
    (["--classes", "99"], "--classes: 99 is not a Gym99 FX class id"),   # once exit 1
    (["--classes", ","], "names no class"),
    (["--motion", "deepmimic", "--clips", "nope"], "--clips: no DeepMimic clip"),  # once exit 1
    # options the chosen motion does not read were silently ignored
    (["--clips", "walk"], "--clips needs --motion deepmimic"),
    (["--motion", "deepmimic", "--classes", "7"], "--classes is for --motion synth"),
    (["--videos", "v.mp4"], "--videos takes a folder"),    # made a folder named v.mp4
])
def test_synth_refuses_bad_values_with_exit_2_before_the_output(runner, tmp_path, bad, why):
    res = runner.invoke(app, ["synth", *bad, "-o", str(tmp_path / "s.h5"), "--progress", "none"])
    assert res.exit_code == 2, res.output
    assert why in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []        # no s.h5.partial, no lock


def test_synth_failure_after_the_output_opened_leaves_no_partial(runner, tmp_path,
                                                                  monkeypatch):
    # --frames too short for the class: found while making the first sample, in the writer.
    res = runner.invoke(app, ["synth", "--classes", "9", "--per-class", "1", "--frames", "5",
                              "-o", str(tmp_path / "s.h5"), "--progress", "none"])
    assert res.exit_code == 1 and "needs" in res.stderr
    assert list(tmp_path.iterdir()) == []        # it once left s.h5.partial behind
    # Any error, not only a FinephysError; Ctrl-C keeps the partial to resume from.
    import finephys_cli.stages.synth as synth_stage

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(synth_stage, "make_sample", broken)
    with pytest.raises(OSError):
        run_synth(SynthConfig(classes="9", per_class=1), tmp_path / "s.h5", progress="none")
    assert list(tmp_path.iterdir()) == []

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth_stage, "make_sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_synth(SynthConfig(classes="9", per_class=1), tmp_path / "s.h5", progress="none")
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5.partial"]
