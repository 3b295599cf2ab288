import numpy as np
import pytest

from finephys_cli.data.deepmimic import RESERVED, available_clips, load_clip, resample
from finephys_cli.errors import InputError
from finephys_cli.skeleton import bone_lengths


def test_reserved_clips_are_excluded_and_refused():
    names = available_clips()
    assert len(names) >= 10 and not set(RESERVED) & set(names)
    for name in RESERVED:
        with pytest.raises(InputError, match="reserved"):
            load_clip(name)


def test_forward_kinematics_gives_a_rigid_upright_skeleton():
    times, joints = load_clip("humanoid3d_walk")
    assert joints.shape[1:] == (17, 3) and len(times) == len(joints)
    bl = bone_lengths(joints)
    assert (bl.std(0) / bl.mean(0)).max() < 1e-3          # rigid links
    assert joints[:, 10, 1].mean() > joints[:, 0, 1].mean() > joints[:, 3, 1].mean()  # y up
    assert np.abs(joints[:, [3, 6], 1].min()) < 0.15      # feet near the floor
    at25 = resample(times, joints, 25.0)
    assert abs(len(at25) - times[-1] * 25) <= 1.5


@pytest.mark.parametrize("tumble,limb_jitter", [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
def test_humanoid_render_matches_its_truth(tmp_path, tumble, limb_jitter):
    """The validation renders: the mocap's own body, drawn through the synth camera; the
    stored joints are the rendered body's, and fall on its pixels, spun (`tumble`), with
    swung limbs (`limb_jitter`) or neither."""
    from finephys_cli.data.deepmimic import apply_limb_offsets
    from finephys_cli.data.humanoid import HumanoidScene, raw_frames
    from finephys_cli.stages.synth import SynthConfig, make_mocap_sample, render_sample

    cfg = SynthConfig(motion="deepmimic", mannequin="humanoid", size=192, frames=12,
                      tumble=tumble, limb_jitter=limb_jitter)
    sample, (joints, cam, rng) = make_mocap_sample(cfg, "humanoid3d_roll", 0)
    frames = render_sample(cfg, sample, joints, cam, rng)
    assert frames.shape == (12, 192, 192, 3)
    a = sample.attrs
    assert ("tumble_axis" in a) == bool(tumble)
    assert ("limb_offsets_rad" in a) == bool(limb_jitter)
    _, raw = raw_frames("humanoid3d_roll")
    frame = raw[a["mocap_frames"][5]]
    if limb_jitter:
        frame = apply_limb_offsets(frame[None], a["limb_offsets_rad"][5:6])[0]
    scene = HumanoidScene(np.random.default_rng(0))
    rot, shift = a["world_rotation"][5], a["world_translation_m"][5]
    try:
        scene.pose(frame, rot, shift)
        np.testing.assert_allclose(scene.joints(), sample.arrays["pose3d_world"][5], atol=1e-6)
        scene.pose(frame, rot, shift + np.array([500.0, 0, 0]))
        empty = scene.render(cam, 5)          # the same view with the body far away
    finally:
        scene.close()
    diff = np.abs(frames[5].astype(int) - empty.astype(int)).sum(-1)
    uv = np.round(sample.arrays["keypoints2d_exact"][5]).astype(int)
    inside = ((uv >= 0) & (uv < 192)).all(-1)
    assert inside.all()
    # Joints lie on the body, or within 2 px of it: the links leave gaps at the joints, which
    # open as limbs swing wide or as a spun body is seen end-on.
    from scipy.ndimage import maximum_filter

    on_body = (diff[uv[:, 1], uv[:, 0]] > 30).mean()
    near_body = maximum_filter(diff > 30, size=5)[uv[:, 1], uv[:, 0]].mean()
    assert near_body > 0.9 and on_body > 0.6, (on_body, near_body)


def test_humanoid_synth_keeps_pybullet_chatter_off_stdout(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "finephys_cli", "synth", "--motion", "deepmimic",
                          "--clips", "jump", "--per-class", "1", "--frames", "4", "--size",
                          "96", "--mannequin", "humanoid", "--videos", str(tmp_path / "v"),
                          "-o", str(tmp_path / "s.h5"), "--progress", "none"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(tmp_path / "s.h5"), str(tmp_path / "v")]
    # Its URDF warnings once flooded stderr (a dozen lines per clip, even with -q); they are
    # debug logging now, shown with -v.
    assert "b3Warning" not in out.stderr and "pybullet build" not in out.stderr, out.stderr
    out = subprocess.run([sys.executable, "-m", "finephys_cli", "synth", "--motion", "deepmimic",
                          "--clips", "jump", "--per-class", "1", "--frames", "4", "-v",
                          "-o", str(tmp_path / "t.h5"), "--progress", "none"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == [str(tmp_path / "t.h5")]
    assert "b3Warning" in out.stderr


def test_synth_deepmimic_inputs_checked_and_videos_keyed(runner, tmp_path):
    from finephys_cli.app import app

    out = tmp_path / "s.h5"
    base = ["synth", "--motion", "deepmimic", "--per-class", "1", "--progress", "none"]
    res = runner.invoke(app, [*base, "--clips", "walk,wlak", "-o", str(out)])
    # The --clips value is refused (a usage error, exit 2), before OUT.partial exists.
    assert res.exit_code == 2 and "no DeepMimic clip 'humanoid3d_wlak'" in res.stderr
    assert list(tmp_path.iterdir()) == []      # it once left s.h5.partial behind
    res = runner.invoke(app, [*base, "--clips", "backflip", "-o", str(out)])
    assert res.exit_code == 2 and "reserved" in res.stderr and not list(tmp_path.iterdir())

    # --frames past the clip's end: the samples keep the clip's length, with a warning.
    res = runner.invoke(app, [*base, "--clips", "walk", "--frames", "400", "-o", str(out),
                              "--videos", str(tmp_path / "v"), "--size", "64"])
    assert res.exit_code == 0, res.output
    assert "fewer than --frames 400" in " ".join(res.stderr.split())
    mp4s = sorted((tmp_path / "v").glob("*.mp4"))
    assert len(mp4s) == 1
    # A deleted video makes the finished file stale: it is made again, video included.
    mp4s[0].unlink()
    res = runner.invoke(app, [*base, "--clips", "walk", "--frames", "400", "-o", str(out),
                              "--videos", str(tmp_path / "v"), "--size", "64"])
    assert res.exit_code == 0 and "missing" in res.stderr and mp4s[0].is_file(), res.stderr
    # Another videos folder is another key: its source paths would point elsewhere.
    res = runner.invoke(app, [*base, "--clips", "walk", "--frames", "400", "-o", str(out),
                              "--videos", str(tmp_path / "w"), "--size", "64"])
    assert res.exit_code != 0 and "another config" in res.stderr


def test_tumble_spins_the_clip_rigidly_above_the_floor_and_leaves_the_others_alone():
    """`synth --tumble`: the upright training mocap turned head over heels. Bones keep their
    lengths, the body turns at least half a turn, no joint goes below the floor, and the
    clips that do not tumble are the same as without the option."""
    from finephys_cli.stages.synth import SynthConfig, make_mocap_sample

    plain, _ = make_mocap_sample(SynthConfig(motion="deepmimic"), "humanoid3d_walk", 3)
    spun, _ = make_mocap_sample(SynthConfig(motion="deepmimic", tumble=1.0), "humanoid3d_walk", 3)
    assert isinstance(plain.attrs["mirrored"], bool)     # the mannequins' mirror is recorded
    j0, j1 = plain.arrays["pose3d_world"], spun.arrays["pose3d_world"]
    np.testing.assert_allclose(bone_lengths(j1), bone_lengths(j0), atol=1e-9)
    assert j1[..., 1].min() >= 0.1 - 1e-9
    up0, up1 = (j[:, 8] - j[:, 0] for j in (j0, j1))          # pelvis -> thorax
    cos = (up1 * up0).sum(-1) / np.linalg.norm(up0, axis=-1) / np.linalg.norm(up1, axis=-1)
    assert cos.min() < -0.5                                    # upside down at some frame
    # A short --frames cuts the spin at its pace; it once packed all its turns into them.
    short, _ = make_mocap_sample(SynthConfig(motion="deepmimic", tumble=1.0, frames=8),
                                 "humanoid3d_walk", 3)
    np.testing.assert_allclose(short.arrays["pose3d_world"], j1[:8], atol=1e-9)
    assert len(short.attrs["world_rotation"]) == 8
    spun_count = 0
    for k in range(8):
        a, _ = make_mocap_sample(SynthConfig(motion="deepmimic"), "humanoid3d_run", k)
        b, _ = make_mocap_sample(SynthConfig(motion="deepmimic", tumble=0.5), "humanoid3d_run", k)
        spun_count += "tumble_axis" in b.attrs
        if "tumble_axis" not in b.attrs:
            np.testing.assert_array_equal(a.arrays["keypoints2d"], b.arrays["keypoints2d"])
    assert 0 < spun_count < 8


def test_limb_jitter_swings_hips_and_shoulders_rigidly_above_the_floor():
    """`synth --limb-jitter`: the training mocap with hips and shoulders swung through smooth
    offsets (the kicks and splits it lacks). Bones keep their lengths, the trunk is not moved
    by it, some limb moves far, no joint goes below the floor, the offsets are smooth, and
    clips without it are the same as without the option."""
    from finephys_cli.stages.synth import SynthConfig, make_mocap_sample

    # The humanoid's frames are recorded states; the mannequins' are interpolated, which
    # shortens a fast-swinging bone by a few mm.
    plain, _ = make_mocap_sample(SynthConfig(motion="deepmimic", mannequin="humanoid"),
                                 "humanoid3d_walk", 3)
    swung, _ = make_mocap_sample(SynthConfig(motion="deepmimic", mannequin="humanoid",
                                             limb_jitter=1.0), "humanoid3d_walk", 3)
    j0, j1 = plain.arrays["pose3d_world"], swung.arrays["pose3d_world"]
    # mm: the mocap's own quaternions are not quite unit ones, the swung ones are
    np.testing.assert_allclose(bone_lengths(j1), bone_lengths(j0), atol=5e-3)
    rel0, rel1 = (j - j[:, :1] for j in (j0, j1))
    trunk = [0, 7, 8]                  # pelvis, spine, thorax: no hip or shoulder above them
    np.testing.assert_allclose(rel1[:, trunk], rel0[:, trunk], atol=1e-6)
    limbs = [3, 6, 13, 16]             # feet and wrists
    assert np.linalg.norm(rel1[:, limbs] - rel0[:, limbs], axis=-1).max() > 0.2
    # no frame's lowest joint is lower than the mocap's own (a swung leg lifts the body)
    assert (j1[..., 1].min(1) >= j0[..., 1].min(1) - 1e-9).all()
    step = np.linalg.norm(np.diff(rel1 - rel0, axis=0), axis=-1)
    assert step.max() < 0.5           # no jumps: the added motion eases (kick speeds)
    swung_count = 0
    for k in range(8):
        a, _ = make_mocap_sample(SynthConfig(motion="deepmimic"), "humanoid3d_run", k)
        b, _ = make_mocap_sample(SynthConfig(motion="deepmimic", limb_jitter=0.5),
                                 "humanoid3d_run", k)
        if not np.allclose(a.arrays["pose3d_world"], b.arrays["pose3d_world"]):
            swung_count += 1
        else:
            np.testing.assert_array_equal(a.arrays["keypoints2d"], b.arrays["keypoints2d"])
    assert 0 < swung_count < 8


def test_limb_jitter_lift_keeps_the_rendered_body_on_its_truth():
    """Where a swung leg would go into the floor, the body is lifted, and the lift is part of
    the stored world motion: the humanoid posed from the attrs has the stored joints."""
    from finephys_cli.data.deepmimic import apply_limb_offsets
    from finephys_cli.data.humanoid import HumanoidScene, raw_frames
    from finephys_cli.stages.synth import SynthConfig, make_mocap_sample

    cfg = SynthConfig(motion="deepmimic", mannequin="humanoid", limb_jitter=1.0, frames=20)
    found = None
    for k in range(12):
        sample, _ = make_mocap_sample(cfg, "humanoid3d_walk", k)
        lift = sample.attrs["limb_lift_m"]
        assert len(lift) == len(sample.attrs["limb_offsets_rad"]) == 20   # --frames kept
        if lift.max() > 0.02:
            found = sample, int(lift.argmax())
            break
    assert found is not None, "no walk sample swung a leg into the floor"
    sample, i = found
    a = sample.attrs
    _, raw = raw_frames("humanoid3d_walk")
    scene = HumanoidScene(np.random.default_rng(0))
    try:
        frame = apply_limb_offsets(raw[a["mocap_frames"][i]][None], a["limb_offsets_rad"][i:i + 1])
        scene.pose(frame[0], a["world_rotation"][i], a["world_translation_m"][i])
        np.testing.assert_allclose(scene.joints(), sample.arrays["pose3d_world"][i], atol=1e-6)
    finally:
        scene.close()


def test_synth_files_made_before_limb_jitter_stay_up_to_date(tmp_path):
    """The option off leaves the config hash as it was before the option existed."""
    from dataclasses import asdict

    from finephys_cli.configs import config_hash
    from finephys_cli.io.poses_h5 import PoseFile
    from finephys_cli.stages.synth import SynthConfig, run_synth

    cfg = SynthConfig(motion="deepmimic", clips="walk", per_class=1, frames=4)
    out = run_synth(cfg, tmp_path / "s.h5", progress="none")
    before = {k: v for k, v in asdict(cfg).items() if k != "limb_jitter"}
    with PoseFile(out) as pf:
        assert pf.attrs["config_hash"] == config_hash({**before, "videos": False,
                                                       "allow_reserved": False})
