"""The offline generator shipped in the package: found with nothing configured, and it follows
the skeleton it is given (colour-located limbs) far better than without one."""

import json

import pytest


@pytest.fixture
def no_models(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    for part in ("SD15", "MOTION_ADAPTER", "HEATMAP_ENCODER", "LORA"):
        monkeypatch.delenv(f"FINEPHYS_{part}_MODEL", raising=False)


def test_generate_uses_the_shipped_generator_with_nothing_configured(no_models, runner,
                                                                     tmp_path):
    from finephys_cli.app import app
    from finephys_cli.io.video import probe

    res = runner.invoke(app, ["generate", "--prompt", "switch leap with 0.5 turn", "--steps",
                              "3", "-o", str(tmp_path / "out"), "--progress", "none"])
    assert res.exit_code == 0, res.output
    assert "offline generator" in res.output          # said on stderr
    mp4 = next((tmp_path / "out").glob("*.mp4"))
    info = probe(mp4)
    assert (info.n_frames, info.width, info.height) == (16, 128, 128)
    meta = json.loads(mp4.with_suffix(".json").read_text())
    assert meta["offline_generator"] and meta["gym99_class"] == 6
    assert meta["models"]["sd15"]["source"] == "shipped"
    assert meta["settings"]["pose_cfg"] is True       # the bundle's sampling default


def test_shipped_generator_follows_its_skeleton(no_models, tmp_path):
    from finephys_cli.generation.bundle import load_generator, resolve_generator
    from finephys_cli.generation.pipeline import SampleSettings
    from finephys_cli.metrics.pose_fidelity import part_fidelity
    from finephys_cli.stages.clips import ClipsConfig, load_clips, run_prepare_clips
    from finephys_cli.stages.synth import SynthConfig, run_synth

    synth = run_synth(SynthConfig(classes="9", per_class=1, seed=4321), tmp_path / "s.h5",
                      progress="none")
    clips = load_clips([run_prepare_clips(ClipsConfig(size=128, frames=16, render="parts"),
                                          synth, tmp_path / "c.h5", progress="none")])
    kp, sc = clips.keypoints[0].astype(float), clips.scores[0]
    import torch

    spec = resolve_generator()
    assert spec.pose_cfg
    pipe = load_generator(spec, device="cpu", dtype=torch.float32)
    pck = {}
    for scale in (1.0, 0.0):
        video = pipe([clips.prompts[0]], [0], SampleSettings(steps=12, frames=16, size=128,
                                                             pose_scale=scale, pose_cfg=True),
                     poses=[(kp, sc)])[0]
        pck[scale] = part_fidelity(video, kp)["pck"]
    assert pck[1.0] > 0.5 and pck[1.0] > pck[0.0] + 0.3, pck
