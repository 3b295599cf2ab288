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


@pytest.mark.parametrize("tumble", [0.0, 1.0])
def test_humanoid_render_matches_its_truth(tmp_path, tumble):
    """The validation renders: the mocap's own body, drawn through the synth camera; the
    stored joints are the rendered body's, and fall on its pixels, spun (`tumble`) or not."""
    from finephys_cli.data.humanoid import HumanoidScene, raw_frames
    from finephys_cli.stages.synth import SynthConfig, make_mocap_sample, render_sample

    cfg = SynthConfig(motion="deepmimic", mannequin="humanoid", size=192, frames=12,
                      tumble=tumble)
    sample, (joints, cam, rng) = make_mocap_sample(cfg, "humanoid3d_roll", 0)
    frames = render_sample(cfg, sample, joints, cam, rng)
    assert frames.shape == (12, 192, 192, 3)
    a = sample.attrs
    assert ("tumble_axis" in a) == bool(tumble)
    _, raw = raw_frames("humanoid3d_roll")
    scene = HumanoidScene(np.random.default_rng(0))
    rot, shift = a["world_rotation"][5], a["world_translation_m"][5]
    try:
        scene.pose(raw[a["mocap_frames"][5]], rot, shift)
        np.testing.assert_allclose(scene.joints(), sample.arrays["pose3d_world"][5], atol=1e-6)
        scene.pose(raw[a["mocap_frames"][5]], rot, shift + np.array([500.0, 0, 0]))
        empty = scene.render(cam, 5)          # the same view with the body far away
    finally:
        scene.close()
    diff = np.abs(frames[5].astype(int) - empty.astype(int)).sum(-1)
    uv = np.round(sample.arrays["keypoints2d_exact"][5]).astype(int)
    inside = ((uv >= 0) & (uv < 192)).all(-1)
    assert inside.all()
    assert (diff[uv[:, 1], uv[:, 0]] > 30).mean() > 0.8        # joints lie on the body


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
    assert "b3Warning" in out.stderr or "pybullet" in out.stderr


def test_tumble_spins_the_clip_rigidly_above_the_floor_and_leaves_the_others_alone():
    """`synth --tumble`: the upright training mocap turned head over heels. Bones keep their
    lengths, the body turns at least half a turn, no joint goes below the floor, and the
    clips that do not tumble are the same as without the option."""
    from finephys_cli.stages.synth import SynthConfig, make_mocap_sample

    plain, _ = make_mocap_sample(SynthConfig(motion="deepmimic"), "humanoid3d_walk", 3)
    spun, _ = make_mocap_sample(SynthConfig(motion="deepmimic", tumble=1.0), "humanoid3d_walk", 3)
    j0, j1 = plain.arrays["pose3d_world"], spun.arrays["pose3d_world"]
    np.testing.assert_allclose(bone_lengths(j1), bone_lengths(j0), atol=1e-9)
    assert j1[..., 1].min() >= 0.1 - 1e-9
    up0, up1 = (j[:, 8] - j[:, 0] for j in (j0, j1))          # pelvis -> thorax
    cos = (up1 * up0).sum(-1) / np.linalg.norm(up0, axis=-1) / np.linalg.norm(up1, axis=-1)
    assert cos.min() < -0.5                                    # upside down at some frame
    spun_count = 0
    for k in range(8):
        a, _ = make_mocap_sample(SynthConfig(motion="deepmimic"), "humanoid3d_run", k)
        b, _ = make_mocap_sample(SynthConfig(motion="deepmimic", tumble=0.5), "humanoid3d_run", k)
        spun_count += "tumble_axis" in b.attrs
        if "tumble_axis" not in b.attrs:
            np.testing.assert_array_equal(a.arrays["keypoints2d"], b.arrays["keypoints2d"])
    assert 0 < spun_count < 8
