"""stdout holds the paths a stage wrote and nothing else, on a machine where no library ran
before (fresh HOME), whatever Ultralytics, diffusers, transformers or peft print."""

import os
import subprocess
import sys

CHATTER = ("Ultralytics Settings", "peft_config", "No LoRA keys", "kept in float32",
           "Loading weights", "Traceback")


def test_every_stage_prints_only_its_paths_with_a_fresh_home(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": "",
           "YOLO_CONFIG_DIR": str(tmp_path / "yolo_cfg"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    for var in ("DIFFUSERS_VERBOSITY", "TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS"):
        env.pop(var, None)
    t = tmp_path
    steps = [
        (["synth", "--classes", "9", "--per-class", "1", "--frames", "48", "--size", "128",
          "--videos", str(t / "v"), str(t / "s.h5")], [t / "s.h5", t / "v"]),
        (["detect", str(t / "v"), str(t / "d.h5"), "--imgsz", "160", "--device", "cpu"],
         [t / "d.h5"]),
        (["lift", str(t / "d.h5"), str(t / "l.h5"), "--device", "cpu"], [t / "l.h5"]),
        (["physnet", str(t / "l.h5"), str(t / "p.h5"), "--device", "cpu"], [t / "p.h5"]),
        (["render-heatmaps", str(t / "p.h5"), str(t / "h.h5"), "--size", "128", "--frames",
          "16", "--device", "cpu"], [t / "h.h5"]),
        (["generate", "--prompt", "switch leap with 0.5 turn", "--poses", str(t / "h.h5"),
          "--steps", "1", "-o", str(t / "g")], None),
        (["score", str(t / "g"), "--metric", "pose-fidelity", "--set", "pose_locator=parts",
          "-o", str(t / "s.json")], [t / "s.json", t / "s.csv"]),
        (["prepare-clips", str(t / "s.h5"), str(t / "c.h5"), "--render", "parts", "--size",
          "64", "--frames", "8"], [t / "c.h5"]),
        (["viz", str(t / "p.h5"), "-o", str(t / "v.png")], [t / "v.png"]),
    ]
    for args, expected in steps:
        quiet = [] if args[0] == "viz" else ["--progress", "none"]   # viz draws no progress
        res = subprocess.run([sys.executable, "-m", "finephys_cli", *args, *quiet],
                             capture_output=True, text=True, env=env, timeout=600)
        assert res.returncode == 0, (args[0], res.stderr)
        lines = res.stdout.splitlines()
        if expected is None:        # generate: one mp4 in its output folder
            assert len(lines) == 1 and lines[0].endswith(".mp4") and os.path.isfile(lines[0])
        else:
            assert lines == [str(p) for p in expected], (args[0], res.stdout)
        for noise in CHATTER:
            assert noise not in res.stderr, (args[0], noise, res.stderr)
