import pytest
import json

import h5py
import numpy as np

from finephys_cli.app import app
from finephys_cli.io.poses_h5 import PoseFile



def _physnet_with_mlp(runner, models, pose3d, out):
    """`physnet` with the tiny PhysNet and MLP on the CPU."""
    return runner.invoke(app, ["physnet", str(pose3d), "-o", str(out), "--model",
                               str(models / "physnet"), "--mlp-model", str(models / "mlp"),
                               "--device", "cpu", "--progress", "none"])

def test_lift_physnet_eval_end_to_end(runner, synth_small, tiny_pose_models, tmp_path):
    synth, _ = synth_small
    p3 = tmp_path / "a.pose3d.h5"
    res = runner.invoke(app, ["lift", str(synth), "-o", str(p3), "--model",
                              str(tiny_pose_models / "lifter"), "--device", "cpu",
                              "--progress", "none"])
    assert res.exit_code == 0, res.output
    with PoseFile(p3, formats=["finephys.pose3d"]) as pf:
        vid = pf.video_ids[0]
        dd = pf.read(vid, "pose3d_dd")
        assert dd.shape == (len(pf.read(vid, "keypoints2d")), 17, 3) and not np.isnan(dd).any()
        assert pf.h5[f"videos/{vid}/pose3d_dd"].attrs["units"] == "normalised"
        assert pf.video_attrs(vid)["prompt_mode"] == "nearest"
    ph = tmp_path / "a.phys.h5"
    res = _physnet_with_mlp(runner, tiny_pose_models, p3, ph)
    assert res.exit_code == 0, res.output
    with PoseFile(ph, formats=["finephys.phys"]) as pf:
        vid = pf.video_ids[0]
        for name in ("pose3d_pp", "pose3d_fused", "pose2d_fused", "noise_fro", "minv_eig_min",
                     "pose3d_mlp"):
            assert pf.has(vid, name), name
        np.testing.assert_allclose(pf.read(vid, "pose3d_fused"),
                                   0.5 * (pf.read(vid, "pose3d_dd") + pf.read(vid, "pose3d_pp")),
                                   atol=1e-5)
    out = tmp_path / "t2.json"
    res = runner.invoke(app, ["eval-poses", str(ph), "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())["files"][str(ph)]
    sources = {(r["space"], r["source"]) for r in rows}
    assert {("3d", "S_dd"), ("3d", "S_pp"), ("3d", "S_dd+S_pp"), ("3d", "S_dd+S_MLP"),
            ("2d", "S_detect")} <= sources
    assert all(r["MPJPE"] >= 0 for r in rows)
    assert out.with_suffix(".csv").exists()


def test_lift_bad_inputs(runner, synth_small, tiny_pose_models, tmp_path):
    synth, _ = synth_small
    model = ["--model", str(tiny_pose_models / "lifter"), "--device", "cpu"]
    res = runner.invoke(app, ["lift", str(tiny_pose_models / "lifter" / "config.json"), "-o",
                              str(tmp_path / "x.h5"), *model])
    assert res.exit_code == 1 and "not an HDF5 file" in res.stderr
    bad = tmp_path / "nan.h5"
    import shutil

    shutil.copy(synth, bad)
    with h5py.File(bad, "a") as h5:
        vid = sorted(h5["videos"])[0]
        h5[f"videos/{vid}/keypoints2d"][...] = np.nan
    res = runner.invoke(app, ["lift", str(bad), "-o", str(tmp_path / "y.h5"), *model,
                              "--progress", "none"])
    # an all-NaN clip (detect's record of a video with no person) is left out, not failed
    assert res.exit_code == 0 and "no person in any frame" in res.stderr
    with h5py.File(bad, "a") as h5:
        h5["skeleton"].attrs["name"] = "coco17"
    res = runner.invoke(app, ["lift", str(bad), "-o", str(tmp_path / "z.h5"), *model])
    assert res.exit_code == 1 and "skeleton coco17" in res.stderr
    res = runner.invoke(app, ["physnet", str(synth), "-o", str(tmp_path / "w.h5"), "--model",
                              str(tiny_pose_models / "physnet"), "--device", "cpu"])
    assert res.exit_code == 1 and "expected finephys.pose3d" in res.stderr


def test_shipped_models_load_and_run():
    import torch

    from finephys_cli.models.lifter import InContextLifter
    from finephys_cli.models.physnet import PhysNet
    from finephys_cli.models.registry import shipped_path

    lifter = InContextLifter.from_pretrained(shipped_path("lifter"))
    phys = PhysNet.from_pretrained(shipped_path("physnet"))
    q = torch.zeros(1, 16, 17, 3)
    with torch.no_grad():
        dd, _ = lifter.lift(q)
        assert torch.isfinite(phys(dd)["s_pp"]).all()
    assert lifter.bank_2d.abs().sum() > 0 and lifter.mean_prior.abs().sum() > 0


def test_lift_physnet_heatmaps_shards_merge_to_the_single_run(runner, tmp_path,
                                                               tiny_pose_models):
    import h5py
    import numpy as np

    from finephys_cli.app import app
    from finephys_cli.stages.synth import SynthConfig, run_synth

    synth = run_synth(SynthConfig(classes="6,21,33", per_class=1, seed=3), tmp_path / "s.h5",
                      progress="none")
    lift = ["--set", f"model={tiny_pose_models / 'lifter'}"]
    phys = ["--set", f"model={tiny_pose_models / 'physnet'}"]
    stages = [("lift", synth, "p3d", lift), ("physnet", None, "phys", phys),
              ("render-heatmaps", None, "hm", ["--size", "64", "--scales", "1,8"])]
    for tag in ("single", "sharded"):
        src = synth
        for cmd, _, name, extra in stages:
            out = tmp_path / f"{tag}.{name}.h5"
            if tag == "single":
                res = runner.invoke(app, [cmd, str(src), "-o", str(out), *extra])
                assert res.exit_code == 0, res.output
            else:
                parts = []
                for i in range(2):
                    res = runner.invoke(app, [cmd, str(src), "-o", str(out), "--shard",
                                              f"{i}/2", *extra])
                    assert res.exit_code == 0, res.output
                    parts.append(res.output.strip().splitlines()[-1])
                assert parts[0].endswith("shard-0-of-2.h5")
                res = runner.invoke(app, ["merge", *parts, "-o", str(out)])
                assert res.exit_code == 0, res.output
            src = out
    with h5py.File(tmp_path / "single.hm.h5") as a, h5py.File(tmp_path / "sharded.hm.h5") as b:
        assert sorted(a["videos"]) == sorted(b["videos"]) and len(a["videos"]) == 3
        for vid in a["videos"]:
            np.testing.assert_array_equal(a["videos"][vid]["keypoints2d"][()],
                                          b["videos"][vid]["keypoints2d"][()])
            np.testing.assert_array_equal(a["videos"][vid]["heatmaps/64x64"][()],
                                          b["videos"][vid]["heatmaps/64x64"][()])


def test_lift_redoes_when_its_input_changes_or_refuses_another(runner, synth_small,
                                                               tiny_pose_models, tmp_path):
    """Bug: the skip key was the config alone, so `lift b.h5 -o l.h5` after `lift a.h5 -o l.h5`
    said "up to date", and so did a rerun after the input was regenerated in place."""
    import shutil

    from finephys_cli.io.poses_h5 import PoseFileWriter

    src = tmp_path / "s.h5"
    shutil.copy(synth_small[0], src)
    out = tmp_path / "l.h5"
    args = ["lift", str(src), "-o", str(out), "--model", str(tiny_pose_models / "lifter"),
            "--device", "cpu", "--progress", "none"]
    assert runner.invoke(app, args).exit_code == 0
    with PoseFile(out) as pf:
        before = {v: pf.read(v, "pose3d_dd") for v in pf.video_ids}
    # Regenerate the input in place with other 2D (same config, same ids).
    with PoseFile(src) as pf:
        videos = {v: ({k: val for k, val in pf.video_attrs(v).items() if k != "complete"},
                      {n: pf.read(v, n) for n in pf.datasets(v)}) for v in pf.video_ids}
        cfg, chash = pf.config, pf.config_hash
    src.unlink()
    with PoseFileWriter(src, format="finephys.synth", config=cfg, config_hash=chash) as w:
        for v, (attrs, arrays) in videos.items():
            arrays["keypoints2d"] = arrays["keypoints2d"] * 0.5 + 20
            w.write_video(v, attrs, arrays)
        w.finish()
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "to date" not in res.stderr
    with PoseFile(out) as pf:
        assert any(not np.allclose(pf.read(v, "pose3d_dd"), before[v]) for v in pf.video_ids)
    # Another input file with other videos into the same output: a one-line refusal.
    other = tmp_path / "other.h5"
    with PoseFileWriter(other, format="finephys.pose2d", config={}, config_hash="x") as w:
        w.write_video("zz", {}, {"keypoints2d": np.full((20, 17, 2), 50.0),
                                 "scores": np.ones((20, 17))})
        w.finish()
    res = runner.invoke(app, [*args[:1], str(other), *args[2:]])
    assert res.exit_code != 0 and "--overwrite" in res.stderr and "Traceback" not in res.output


def test_pose_models_follow_models_toml_then_env_then_option(tiny_pose_models, tmp_path,
                                                            monkeypatch):
    """Bug: the lifter and PhysNet ignored ~/.config/finephys/models.toml."""
    from finephys_cli.errors import ModelNotFoundError
    from finephys_cli.models.registry import resolve_model, shipped_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("FINEPHYS_LIFTER_MODEL", raising=False)
    monkeypatch.delenv("FINEPHYS_PHYSNET_MLP_MODEL", raising=False)
    assert resolve_model("lifter", None) == shipped_path("lifter")
    (tmp_path / "finephys").mkdir()
    (tmp_path / "finephys" / "models.toml").write_text(
        f'[models]\nlifter = "{tiny_pose_models / "lifter"}"\n'
        f'physnet_mlp = "{tiny_pose_models / "mlp"}"\n')
    assert resolve_model("lifter", None) == tiny_pose_models / "lifter"
    assert resolve_model("physnet-mlp", None) == tiny_pose_models / "mlp"
    monkeypatch.setenv("FINEPHYS_LIFTER_MODEL", str(tiny_pose_models / "physnet"))
    assert resolve_model("lifter", None) == tiny_pose_models / "physnet"
    assert resolve_model("lifter", tiny_pose_models / "mlp") == tiny_pose_models / "mlp"
    monkeypatch.setenv("FINEPHYS_LIFTER_MODEL", str(tmp_path / "gone"))
    with pytest.raises(ModelNotFoundError, match="FINEPHYS_LIFTER_MODEL"):
        resolve_model("lifter", None)


def test_physnet_and_heatmaps_record_a_bad_video_and_write_the_others(runner, synth_small,
                                                                      tiny_pose_models,
                                                                      tmp_path):
    """Regression: physnet (and render-heatmaps) stopped the batch at the first broken video
    with exit 1 and wrote nothing; now the video is recorded and the next run retries it."""
    import shutil

    synth, _ = synth_small
    lifted = tmp_path / "l.h5"
    assert runner.invoke(app, ["lift", str(synth), str(lifted), "--model",
                               str(tiny_pose_models / "lifter"), "--device", "cpu"]).exit_code == 0
    broken = tmp_path / "broken.h5"
    shutil.copy(lifted, broken)
    with h5py.File(broken, "a") as h5:
        bad, good = sorted(h5["videos"])
        kept = h5[f"videos/{bad}/pose3d_dd"][...]
        h5[f"videos/{bad}/pose3d_dd"][3] = np.nan
    phys = tmp_path / "p.h5"
    args = ["physnet", str(broken), str(phys), "--model", str(tiny_pose_models / "physnet"),
            "--device", "cpu"]
    res = runner.invoke(app, args)
    assert res.exit_code == 3 and f"{bad}: NaN in pose3d_dd" in res.stderr
    assert res.stdout.strip() == str(phys)
    with PoseFile(phys) as pf:
        assert pf.video_ids == [good] and list(pf.failures) == [bad]
    hm = runner.invoke(app, ["render-heatmaps", str(phys), str(tmp_path / "h.h5"), "--pose-source",
                             "fused", "--size", "64", "--device", "cpu"])
    assert hm.exit_code == 0, hm.output           # a file with failures is read, with a warning
    assert "failed when it was made" in " ".join(hm.stderr.split())
    again = runner.invoke(app, args)
    assert again.exit_code == 3                   # retried, and still broken
    with h5py.File(broken, "a") as h5:
        h5[f"videos/{bad}/pose3d_dd"][...] = kept
    fixed = runner.invoke(app, args)
    assert fixed.exit_code == 0, fixed.output
    with PoseFile(phys) as pf:
        assert sorted(pf.video_ids) == [bad, good] and pf.attrs["complete"]


def test_merge_carries_the_failures_of_its_shards(runner, synth_small, tiny_pose_models,
                                                  tmp_path):
    import shutil

    synth, _ = synth_small
    broken = tmp_path / "s.h5"
    shutil.copy(synth, broken)
    with h5py.File(broken, "a") as h5:     # a clip whose keypoints are not (T, 17, 2)
        bad = sorted(h5["videos"])[0]
        kp = h5[f"videos/{bad}/keypoints2d"][()]
        del h5[f"videos/{bad}/keypoints2d"]
        h5[f"videos/{bad}/keypoints2d"] = kp[:, :16]
    model = ["--model", str(tiny_pose_models / "lifter"), "--device", "cpu"]
    for i in (0, 1):
        res = runner.invoke(app, ["lift", str(broken), str(tmp_path / "l.h5"), "--shard",
                                  f"{i}/2", *model])
        assert res.exit_code == (3 if i == 0 else 0), res.output
    shards = sorted(str(p) for p in tmp_path.glob("l.shard-*-of-2.h5"))
    res = runner.invoke(app, ["merge", *shards, "-o", str(tmp_path / "m.h5")])
    assert res.exit_code == 3 and bad in res.stderr
    with PoseFile(tmp_path / "m.h5") as pf:
        assert list(pf.failures) == [bad] and not pf.attrs["complete"]
        assert len(pf.video_ids) == 1


def test_lift_takes_a_half_nan_clip_and_a_newer_minor_schema(runner, synth_small,
                                                             tiny_pose_models, tmp_path):
    import shutil

    synth, _ = synth_small
    half = tmp_path / "half.h5"
    shutil.copy(synth, half)
    with h5py.File(half, "a") as h5:
        vid = sorted(h5["videos"])[0]
        kp = h5[f"videos/{vid}/keypoints2d"]
        kp[::2] = np.nan                             # every other frame lost
        h5.attrs["format_version"] = "1.7"           # written by a newer finephys
    res = runner.invoke(app, ["lift", str(half), str(tmp_path / "l.h5"), "--model",
                              str(tiny_pose_models / "lifter"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "newer" in res.stderr and "Traceback" not in res.output
    with PoseFile(tmp_path / "l.h5") as pf:
        assert np.isfinite(pf.read(vid, "pose3d_dd")).all()


def test_refine_windows_stride_takes_effect_and_one_window_is_stride_free():
    from finephys_cli.models.physnet import load_refiner
    from finephys_cli.models.registry import shipped_path
    from finephys_cli.stages.physnet import refine_windows

    model, proj = load_refiner(shipped_path("physnet"), "cpu")
    dd = np.random.default_rng(0).normal(scale=0.3, size=(40, 17, 3))
    half, dense = (refine_windows(model, dd, "cpu", 16, 64, proj, s)["fused"] for s in (None, 2))
    assert np.isfinite(dense).all() and np.abs(half - dense).max() > 1e-4
    one = dd[:16]
    np.testing.assert_allclose(refine_windows(model, one, "cpu", 16, 64, proj, 2)["fused"],
                               refine_windows(model, one, "cpu", 16, 64, proj)["fused"],
                               atol=1e-6)


@pytest.mark.parametrize("stride", [0, 17, -2])
def test_physnet_stride_outside_the_window_is_a_usage_error(stride, tmp_path):
    from finephys_cli.errors import UsageError
    from finephys_cli.stages.physnet import RefineConfig, run_physnet

    with pytest.raises(UsageError, match="stride"):
        run_physnet(RefineConfig(stride=stride), tmp_path / "missing.h5", tmp_path / "o.h5")


def test_lift_clip_prompt_indices_are_ints_and_random_draws_do_not_depend_on_threads():
    """Regressions: the pieces returned float indices, and random prompts were drawn inside
    the worker threads, so which window got which prompt followed thread timing."""
    import torch

    from finephys_cli.models.lifter import InContextLifter, LifterConfig
    from finephys_cli.stages.lift import lift_clip

    torch.manual_seed(0)
    model = InContextLifter(LifterConfig(dim=16, depth=2, heads=2, bank_size=8)).eval()
    model.bank_2d.normal_()
    model.bank_3d.normal_()
    rng = np.random.default_rng(0)
    kp, sc = rng.uniform(0, 100, (200, 17, 2)), np.ones((200, 17))
    before = torch.get_num_threads()
    draws = {}
    try:
        for threads in (1, 2, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(5)
            _, _, _, idx = lift_clip(model, kp, sc, "cpu", 4, 8, prompt="random")
            draws.setdefault(threads, []).append(idx)
            _, _, _, near = lift_clip(model, kp, sc, "cpu", 4, 8)
            assert near.dtype.kind == "i" and idx.dtype.kind == "i"
    finally:
        torch.set_num_threads(before)
    assert len(set(draws[1][0].tolist())) > 1
    np.testing.assert_array_equal(draws[2][0], draws[1][0])
    np.testing.assert_array_equal(draws[2][1], draws[1][0])


def test_a_window_whose_rollout_overflows_keeps_s_dd_and_the_others_are_untouched(
        caplog, monkeypatch):
    """Regression: PhysNet v0.3 overflowed on one window of random joints, and the M^-1
    diagnostics then crashed the stage (eigvalsh of a NaN matrix)."""
    from finephys_cli.console import log
    from finephys_cli.models.physnet import load_refiner
    from finephys_cli.models.registry import shipped_path
    from finephys_cli.stages.physnet import refine_windows

    # An earlier CLI test's console setup stops the finephys logger propagating to caplog.
    monkeypatch.setattr(log, "propagate", True)

    model, proj = load_refiner(shipped_path("physnet"), "cpu")
    calm = np.random.default_rng(1).normal(scale=0.05, size=(32, 17, 3))
    wild = calm.copy()
    wild[16:] *= 1e30                    # the second window (frames 16-31) cannot stay finite
    ref = refine_windows(model, calm, "cpu", 16, 64, proj, 16)
    with caplog.at_level("WARNING"):
        out = refine_windows(model, wild, "cpu", 16, 64, proj, 16)
    assert "overflowed in 1 of 2 windows" in caplog.text
    np.testing.assert_allclose(out["fused"][:16], ref["fused"][:16], atol=1e-6)
    np.testing.assert_allclose(out["s_pp"][16:], wild[16:], rtol=1e-6)
    np.testing.assert_allclose(out["fused"][16:], wild[16:], rtol=1e-6)
    assert np.isnan(out["minv_eig_min"][16:]).all() and np.isfinite(out["minv_eig_min"][2:14]).all()


def test_fused_2d_is_the_weak_perspective_unless_the_learned_projection_is_asked_for(
        runner, synth_small, tiny_pose_models, tmp_path):
    import shutil

    import torch
    from safetensors.torch import save_file

    from finephys_cli.data.normalize import denormalize_2d

    synth, _ = synth_small
    phys = tmp_path / "physnet"
    shutil.copytree(tiny_pose_models / "physnet", phys)
    # A P far from [..., :2], as eq. 20 leaves one fitted to a detector's joint placement.
    save_file({"weight": torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]),
               "bias": torch.tensor([0.1, -0.2])}, str(phys / "projection.safetensors"))
    p3 = tmp_path / "a.pose3d.h5"
    assert runner.invoke(app, ["lift", str(synth), "-o", str(p3), "--model",
                               str(tiny_pose_models / "lifter"), "--device", "cpu",
                               "--progress", "none"]).exit_code == 0
    fused_2d = {}
    for projection in (None, "learned", "weak"):
        out = tmp_path / f"{projection}.phys.h5"
        args = ["physnet", str(p3), "-o", str(out), "--model", str(phys), "--device", "cpu",
                "--progress", "none"] + (["--projection", projection] if projection else [])
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        with PoseFile(out, formats=["finephys.phys"]) as pf:
            vid = pf.video_ids[0]
            fused, xy = pf.read(vid, "pose3d_fused"), pf.read(vid, "pose2d_fused")
            root, scale = pf.read(vid, "root2d"), float(pf.read(vid, "scale"))
        fused_2d[projection] = xy
        projected = fused[..., :2] if projection != "learned" else \
            0.5 * fused[..., :2] + np.array([0.1, -0.2])
        np.testing.assert_allclose(xy, denormalize_2d(projected, root, scale), atol=1e-3)
    np.testing.assert_array_equal(fused_2d[None], fused_2d["weak"])
    # eval-poses: the S_dd+S_pp 2D row is the weak perspective like every other row, whatever
    # the file used; a learned-P file adds its own, labelled row
    from finephys_cli.stages.eval_poses import evaluate_file

    weak, learned = (evaluate_file(tmp_path / f"{p}.phys.h5")["2d"] for p in ("weak", "learned"))
    assert "S_dd+S_pp, learned P" not in weak and "S_dd+S_pp, learned P" in learned
    assert learned["S_dd+S_pp"] == weak["S_dd+S_pp"]
    assert learned["S_dd+S_pp, learned P"]["MPJPE"] != weak["S_dd+S_pp"]["MPJPE"]
    bad = runner.invoke(app, ["physnet", str(p3), "-o", str(tmp_path / "x.h5"), "--model",
                              str(phys), "--set", "projection=camera", "--progress", "none"])
    assert bad.exit_code == 2 and "projection" in bad.stderr


def test_lift_flip_average_is_keyed_only_when_on(runner, synth_small, tiny_pose_models,
                                                  tmp_path):
    """--flip-average changes S_dd and the skip key; off, the key has no flip_average field, as
    before the option existed."""
    from finephys_cli.configs import config_hash
    from finephys_cli.io.fingerprint import model_fingerprint
    from finephys_cli.stages.lift import LiftConfig

    base = ["lift", str(synth_small[0]), "--model", str(tiny_pose_models / "lifter"),
            "--device", "cpu", "--progress", "none"]
    plain, flipped = tmp_path / "plain.h5", tmp_path / "flip.h5"
    assert runner.invoke(app, [*base, "-o", str(plain)]).exit_code == 0
    res = runner.invoke(app, [*base, "-o", str(flipped), "--flip-average"])
    assert res.exit_code == 0, res.output
    with PoseFile(plain, formats=["finephys.pose3d"]) as a, \
            PoseFile(flipped, formats=["finephys.pose3d"]) as b:
        vid = a.video_ids[0]
        assert np.abs(a.read(vid, "pose3d_dd") - b.read(vid, "pose3d_dd")).max() > 1e-4
        assert a.config_hash != b.config_hash
        model = str((tiny_pose_models / "lifter").resolve())
        before = {k: v for k, v in vars(LiftConfig(model=str(tiny_pose_models / "lifter"))
                                         ).items() if k != "flip_average"}
        assert a.config_hash == config_hash({**before, "model": model, "model_digest":
                                             model_fingerprint(tiny_pose_models / "lifter")})
    res = runner.invoke(app, [*base, "-o", str(flipped), "--no-flip-average"])
    assert res.exit_code != 0 and "--overwrite" in res.output   # made with other settings


def test_a_model_changed_in_place_makes_lift_and_physnet_outputs_stale(
        runner, synth_small, tiny_pose_models, tmp_path):
    """A model folder retrained or reconfigured in place (same path) is another model: its old
    outputs are no longer up to date (they were skipped as finished)."""
    import shutil

    synth, _ = synth_small
    lifter, physnet = tmp_path / "lifter", tmp_path / "physnet"
    shutil.copytree(tiny_pose_models / "lifter", lifter)
    shutil.copytree(tiny_pose_models / "physnet", physnet)
    p3, ph = tmp_path / "a.pose3d.h5", tmp_path / "a.phys.h5"
    lift = ["lift", str(synth), "-o", str(p3), "--model", str(lifter), "--device", "cpu",
            "--progress", "none"]
    phys = ["physnet", str(p3), "-o", str(ph), "--model", str(physnet), "--device", "cpu",
            "--progress", "none"]
    for args in (lift, phys):
        assert runner.invoke(app, args).exit_code == 0
    for args in (lift, phys):
        assert "up to date" in runner.invoke(app, args).output
    cfg = json.loads((physnet / "config.json").read_text())
    (physnet / "config.json").write_text(json.dumps({**cfg, "rollout": "teacher"}))
    res = runner.invoke(app, phys)
    assert res.exit_code != 0 and "another config" in res.output
    assert runner.invoke(app, [*phys, "--overwrite"]).exit_code == 0
    cfg = json.loads((lifter / "config.json").read_text())
    (lifter / "config.json").write_text(json.dumps({**cfg, "trained_steps": 1}))
    res = runner.invoke(app, lift)
    assert res.exit_code != 0 and "another config" in res.output


def test_physnet_refuses_an_mlp_as_physnet_and_a_physnet_as_the_mlp(runner, synth_small,
                                                                     tiny_pose_models, tmp_path):
    """An MLP given as --model would be written, and scored by eval-poses, as S_pp."""
    p3 = tmp_path / "a.pose3d.h5"
    assert runner.invoke(app, ["lift", str(synth_small[0]), "-o", str(p3), "--model",
                               str(tiny_pose_models / "lifter"), "--device", "cpu",
                               "--progress", "none"]).exit_code == 0
    for args in (["--model", str(tiny_pose_models / "mlp")],
                 ["--model", str(tiny_pose_models / "physnet"),
                  "--mlp-model", str(tiny_pose_models / "physnet")]):
        out = tmp_path / "x.phys.h5"
        res = runner.invoke(app, ["physnet", str(p3), "-o", str(out), "--device", "cpu",
                                  "--progress", "none", *args])
        assert res.exit_code == 2 and "where a" in res.stderr, res.output
        assert not out.exists() and not out.with_name(out.name + ".partial").exists()


def test_a_video_with_no_person_is_left_out_of_lift_and_physnet_not_failed(
        runner, synth_small, tiny_pose_models, tmp_path):
    """detect keeps a video where nobody was found, all NaN; lift failed it (exit 3) on every
    rerun, which stopped the README's chain. Kept as NaN it stopped render-heatmaps and
    generate instead. Now lift leaves it out with a warning, listed in the file."""
    import json as json_

    from finephys_cli.io.poses_h5 import NO_PERSON, PoseFileWriter

    det = tmp_path / "det.h5"
    with PoseFile(synth_small[0]) as pf:
        vid = pf.video_ids[0]
        kp, sc = pf.read(vid, "keypoints2d"), pf.read(vid, "scores")
    with PoseFileWriter(det, format="finephys.pose2d", config={}, config_hash="d") as w:
        w.write_video("person", {"fps": 25.0}, {"keypoints2d": kp, "scores": sc})
        w.write_video("nobody", {"fps": 25.0}, {"keypoints2d": np.full_like(kp, np.nan),
                                                "scores": np.zeros_like(sc)})
        w.finish()
    p3, ph = tmp_path / "a.pose3d.h5", tmp_path / "a.phys.h5"
    res = runner.invoke(app, ["lift", str(det), "-o", str(p3), "--model",
                              str(tiny_pose_models / "lifter"), "--device", "cpu",
                              "--progress", "none"])
    assert res.exit_code == 0 and "no person in any frame" in res.stderr, res.output
    with PoseFile(p3, formats=["finephys.pose3d"]) as pf:
        assert pf.video_ids == ["person"] and pf.attrs["complete"] and not pf.failures
        assert json_.loads(pf.attrs[NO_PERSON]) == ["nobody"]
    again = runner.invoke(app, ["lift", str(det), "-o", str(p3), "--model",
                                str(tiny_pose_models / "lifter"), "--device", "cpu"])
    assert again.exit_code == 0 and "up to date" in again.stderr     # not retried
    res = _physnet_with_mlp(runner, tiny_pose_models, p3, ph)
    assert res.exit_code == 0, res.output
    hm = runner.invoke(app, ["render-heatmaps", str(ph), str(tmp_path / "h.h5"), "--size", "64",
                             "--device", "cpu"])
    assert hm.exit_code == 0, hm.output