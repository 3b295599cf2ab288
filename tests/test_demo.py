"""`finephys demo` runs the whole pipeline offline (few DDIM steps, to stay fast in CI)."""

import json


def test_demo_offline_end_to_end(runner, tmp_path, monkeypatch):
    from finephys_cli.app import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    for part in ("SD15", "MOTION_ADAPTER", "HEATMAP_ENCODER", "LORA", "CLIP", "I3D"):
        monkeypatch.delenv(f"FINEPHYS_{part}_MODEL", raising=False)
    res = runner.invoke(app, ["demo", "-o", str(tmp_path / "demo"), "--classes", "6,33",
                              "--steps", "3", "--device", "cpu", "--progress", "none"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    assert [s["name"] for s in summary["steps"]] == [
        "synth", "detect", "lift", "physnet", "eval-poses", "render-heatmaps", "generate",
        "score", "viz skeletons", "viz heatmaps"]
    assert len(list((tmp_path / "demo" / "generated").glob("*.mp4"))) == 2
    assert "pose-fidelity" in summary["scores"]["metrics"]
    assert "clip-sim" in summary["scores"]["skipped"]          # no CLIP configured: said why
    assert (tmp_path / "demo" / "figures" / "skeletons.png").is_file()
    assert "$ finephys generate" in res.output                 # every step is shown
