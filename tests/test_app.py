import subprocess
import sys

import pytest
import typer

from finephys_cli import __version__
from finephys_cli.app import app
from finephys_cli.commands._common import cli_command
from finephys_cli.errors import PartialFailure


def test_help_imports_no_heavy_library():
    code = ("import sys; from finephys_cli.app import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'diffusers', 'ultralytics', 'transformers', 'h5py')"
            " if m in sys.modules]\nprint('HEAVY', heavy, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in proc.stderr, proc.stderr


def test_version_and_no_args(runner):
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and __version__ in res.stdout
    res = runner.invoke(app, [])
    assert "Usage" in res.output


def test_exit_codes(runner, pose2d_file, tmp_path):
    ok = runner.invoke(app, ["inspect", str(pose2d_file)])
    assert ok.exit_code == 0, ok.output
    assert "finephys.pose2d" in ok.stdout          # a report: its stdout is its output
    missing = runner.invoke(app, ["inspect", str(tmp_path / "nope.h5")])
    assert missing.exit_code == 1
    assert missing.stderr.strip().startswith("error:") and len(missing.stderr.strip().splitlines()) == 1
    usage = runner.invoke(app, ["inspect", "--no-such-option"])
    assert usage.exit_code == 2


def test_partial_failure_exits_3(runner):
    mini = typer.Typer()

    @mini.command()
    @cli_command
    def batch() -> None:
        raise PartialFailure({"bad.mp4": "corrupt"}, output="out.h5")

    res = runner.invoke(mini, [])
    assert res.exit_code == 3
    assert "bad.mp4" in res.stderr and res.stdout.strip() == "out.h5"


def test_inspect_json_and_merge_cli(runner, pose2d_file, tmp_path):
    import json

    res = runner.invoke(app, ["inspect", "--json", str(pose2d_file)])
    assert json.loads(res.stdout)["n_videos"] == 3
    res = runner.invoke(app, ["merge", str(pose2d_file), "-o", str(tmp_path / "m.h5")])
    assert res.exit_code == 0 and res.stdout.strip() == str(tmp_path / "m.h5")


def test_env_runs(runner):
    res = runner.invoke(app, ["env", "--json"])
    assert res.exit_code == 0 and '"finephys"' in res.stdout


def test_models_lists_shipped_and_bundled(runner):
    import json

    res = runner.invoke(app, ["models", "--json"])
    assert res.exit_code == 0
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["lifter"]["status"] == "shipped" and rows["physnet"]["status"] == "shipped"
    assert rows["yolo-pose"]["path"].endswith("yolo11n-pose.pt")


def test_models_report_keeps_paths_whole_at_80_columns(runner, monkeypatch):
    """The table folded paths mid-word when stdout was redirected, so they could not be
    copied."""
    from finephys_cli.models.registry import shipped_path

    monkeypatch.setenv("COLUMNS", "80")
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    assert str(shipped_path("physnet")) in res.stdout


@pytest.mark.parametrize("args,option", [
    (["detect", "{v}", "-o", "{o}", "--batch-size", "0"], "--batch-size"),
    (["detect", "{v}", "-o", "{o}", "--conf", "2"], "--conf"),
    (["lift", "{p}", "-o", "{o}", "--batch-size", "0"], "--batch-size"),
    (["render-heatmaps", "{p}", "-o", "{o}", "--size", "0"], "--size"),
    (["synth", "--size", "0", "--videos", "{d}", "-o", "{o}"], "--size"),
    (["viz", "{p}", "-o", "{d}/x.png", "--n-frames", "0"], "--n-frames"),
])
def test_bad_option_values_are_usage_errors(runner, pose2d_file, tmp_path, args, option):
    """Bug: these gave Python tracebacks (range() arg 3 must not be zero, ZeroDivisionError,
    an OpenCV error...) with exit 1, some leaving OUT.partial behind."""
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    subst = {"v": str(video), "o": str(tmp_path / "out.h5"), "p": str(pose2d_file),
             "d": str(tmp_path / "d")}
    res = runner.invoke(app, [a.format(**subst) for a in args])
    assert res.exit_code == 2, res.output
    assert option in res.output and "Traceback" not in res.output
    assert not list(tmp_path.glob("*.partial"))


def test_reports_print_to_stdout(runner, pose2d_file):
    """Bug: env, models and inspect printed their report to stderr, so `finephys env > env.txt`
    gave an empty file and `finephys models | grep` saw nothing."""
    res = runner.invoke(app, ["env"])
    assert res.exit_code == 0 and "torch" in res.stdout
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0 and "lifter" in res.stdout and "physnet" in res.stdout
    res = runner.invoke(app, ["inspect", str(pose2d_file)])
    assert res.exit_code == 0 and "finephys.pose2d" in res.stdout and "vid0" in res.stdout
