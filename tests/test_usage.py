"""How users type commands: the IN... OUT.h5 form, exit codes by class, -q/-v after the
subcommand, help texts, and the README's command lines run verbatim."""

import json
import shutil
from pathlib import Path

import pytest
import typer

from finephys_cli.app import app
from finephys_cli.commands._common import cli_command, split_output
from finephys_cli.errors import UsageError


def test_split_output_rule():
    a, b, out = Path("a.mp4"), Path("b/"), Path("out.h5")
    assert split_output([a, b, out], None, inputs_share_suffix=False) == ([a, b], out)
    assert split_output([a], Path("o.h5"), inputs_share_suffix=False) == ([a], Path("o.h5"))
    assert split_output([out], None, min_inputs=0, max_inputs=0) == ([], out)
    with pytest.raises(UsageError, match="missing output"):
        split_output([a, b], None)
    with pytest.raises(UsageError, match="missing output"):
        split_output([Path("in.h5")], None)         # the only argument is the input
    with pytest.raises(UsageError, match="both given"):
        split_output([a, out], Path("o.h5"), inputs_share_suffix=False)
    with pytest.raises(UsageError, match="both given"):
        split_output([Path("in.h5"), out], Path("o.h5"), max_inputs=1)
    with pytest.raises(UsageError, match="both an input and the output"):
        split_output([Path("x.h5")], Path("./x.h5"))


def test_lift_and_physnet_take_a_positional_output(runner, synth_small, tiny_pose_models,
                                                   tmp_path):
    pose3d, phys = tmp_path / "pose3d.h5", tmp_path / "phys.h5"
    res = runner.invoke(app, ["lift", str(synth_small[0]), str(pose3d), "--model",
                              str(tiny_pose_models / "lifter"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(pose3d)
    res = runner.invoke(app, ["physnet", str(pose3d), str(phys), "--model",
                              str(tiny_pose_models / "physnet"), "--device", "cpu", "-q"])
    assert res.exit_code == 0 and res.stdout.strip() == str(phys)
    both = runner.invoke(app, ["lift", str(synth_small[0]), str(pose3d), "-o", str(phys)])
    assert both.exit_code == 2 and "both given" in both.stderr
    same = runner.invoke(app, ["physnet", str(pose3d), str(pose3d)])
    assert same.exit_code == 2 and "both an input and the output" in same.stderr
    none = runner.invoke(app, ["render-heatmaps", str(phys)])
    assert none.exit_code == 2 and "give -o OUT or end the arguments with OUT.h5" in none.stderr


@pytest.mark.parametrize("args, option", [
    (["generate", "--prompt", "x", "--num-videos", "0"], "--num-videos"),
    (["generate", "--prompt", "x", "--steps", "0"], "--steps"),
    (["generate", "--prompt", "x", "--set", "guidanse_scale=3"], "guidanse_scale"),
    (["generate", "--prompt", "x", "--device", "gpu"], "--device"),
    (["generate", "--prompt", "x", "--dtype", "fp8"], "--dtype"),
    (["lift", "a.h5", "b.h5", "--progress", "fancy"], "--progress"),
    (["lift", "a.h5", "b.h5", "--shard", "1-3"], "--shard"),
    (["lift", "a.h5", "b.h5", "--prompt-choice", "best"], "--prompt-choice"),
    (["render-heatmaps", "a.h5", "b.h5", "--pose-source", "gt"], "--pose-source"),
    (["synth", "s.h5", "--motion", "amass"], "--motion"),
    (["detect", "v.mp4", "d.h5", "--frames", "some"], "--frames"),
    (["score", "--metric", "fid"], "--metric"),
])
def test_invalid_option_values_exit_2_naming_the_option(runner, tmp_path, monkeypatch, args,
                                                        option):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.h5").write_bytes(b"")       # never read: the option is checked first
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert option in res.output


def test_exit_code_classes(runner, tmp_path):
    """1 bad input data, 4 resources, 130 interrupted (2 and 3: above and test_app)."""
    import torch

    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    res = runner.invoke(app, ["lift", str(bad), str(tmp_path / "o.h5"), "--device", "cpu"])
    assert res.exit_code == 1 and "not an HDF5 file" in res.stderr
    if not torch.cuda.is_available():
        res = runner.invoke(app, ["lift", str(bad), str(tmp_path / "o.h5"), "--device", "cuda"])
        assert res.exit_code == 4 and "no CUDA device" in res.stderr

    mini = typer.Typer()

    @mini.command()
    @cli_command
    def work() -> None:
        raise KeyboardInterrupt

    res = runner.invoke(mini, [])
    assert res.exit_code == 130 and "rerun the same command to resume" in res.stderr


def test_ctrl_c_that_a_library_swallowed_or_wrapped_still_interrupts(runner, monkeypatch):
    """Regression (a flaky CI test): Ctrl-C during a lazy import of torch._dynamo came out as
    "RuntimeError: Error calling __set_name__" (Python 3.11 wraps it) with exit 1, or was
    swallowed so the command ran to the end with exit 0. Both now stop as an interrupt."""
    import signal

    from finephys_cli import console as console_mod

    mini = typer.Typer()

    @mini.command()
    @cli_command
    def wrapped() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__") from exc

    res = runner.invoke(mini, [])
    assert res.exit_code == 130 and "rerun the same command to resume" in res.stderr

    # The flag: SIGINT's handler remembers the interrupt; the library below swallows the
    # KeyboardInterrupt, and the next step of `track` raises it again.
    monkeypatch.setattr(console_mod, "_interrupted", False)
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        console_mod.install_interrupt_flag()
        assert signal.getsignal(signal.SIGINT) is console_mod._on_sigint
        done = []

        @mini.command()
        @cli_command
        def swallowed() -> None:
            for step in console_mod.track(range(3), mode="none"):
                if step == 0:
                    try:                         # a library's `except Exception`-style swallow
                        signal.raise_signal(signal.SIGINT)
                    except KeyboardInterrupt:
                        pass
                done.append(step)

        res = runner.invoke(mini, ["swallowed"])
        assert res.exit_code == 130 and done == [0]
    finally:
        signal.signal(signal.SIGINT, previous)
        monkeypatch.setattr(console_mod, "_interrupted", False)


def test_quiet_and_verbose_after_the_subcommand(runner, pose2d_file):
    assert runner.invoke(app, ["inspect", str(pose2d_file), "-q"]).exit_code == 0
    assert runner.invoke(app, ["inspect", str(pose2d_file), "-vv"]).exit_code == 0
    assert runner.invoke(app, ["-q", "inspect", str(pose2d_file)]).exit_code == 0
    assert runner.invoke(app, ["inspect", str(pose2d_file), "-v", "2"]).exit_code == 2


def _commands():
    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from ((f"{name} {n}", c) for n, c in cmd.commands.items())
        else:
            yield name, cmd


def test_every_option_is_described_and_flags_show_as_flags(runner):
    undocumented = [f"{name} {p.opts[0]}" for name, cmd in _commands() for p in cmd.params
                    if not getattr(p, "help", None) and p.param_type_name == "option"]
    assert not undocumented
    for name, _ in _commands():
        text = runner.invoke(app, [*name.split(), "--help"], env={"COLUMNS": "200"}).output
        assert "<bool>" not in text, name
        assert "--verbose" in text and "--quiet" in text, name


def test_readme_command_lines_verbatim(runner, synth_small, tiny_i3d, tmp_path, monkeypatch):
    """The three command lines of the project's description, typed as written, in the README's
    order (detect -> generate -> score), on tiny data with the shipped models."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    for part in ("SD15", "MOTION_ADAPTER", "HEATMAP_ENCODER", "LORA"):
        monkeypatch.delenv(f"FINEPHYS_{part}_MODEL", raising=False)
    shutil.copytree(synth_small[1], "videos")

    res = runner.invoke(app, "detect videos/ out.h5".split())
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == "out.h5" and Path("out.h5").is_file()

    res = runner.invoke(app, ["generate", "--prompt", "switch leap with 0.5 turn", "--steps",
                              "2"])
    assert res.exit_code == 0, res.output
    assert len(list(Path("generated").glob("*.mp4"))) == 1
    res = runner.invoke(app, ["generate", "--prompt", "switch leap with 0.5 turn", "--steps",
                              "2", "--num-videos", "2"])   # FVD needs two; the first is kept
    assert res.exit_code == 0, res.output
    assert len(list(Path("generated").glob("*.mp4"))) == 2

    res = runner.invoke(app, "score --metric fvd".split())
    assert res.exit_code == 1 and "--reference" in res.stderr       # asked for FVD, got none
    res = runner.invoke(app, ["score", "--metric", "fvd", "--reference", "videos/",
                              "--i3d-model", str(tiny_i3d), "--set", "fvd_frames=9"])
    assert res.exit_code == 0, res.output
    scores = json.loads(Path("scores.json").read_text())
    assert "fvd" in scores["metrics"] and not scores["skipped"]


@pytest.mark.parametrize("command", [["train-lift", "--data", "x.h5"],
                                     ["train-physnet", "--data", "x.h5"],
                                     ["train-detector", "--data", "x.h5"],
                                     ["train-autoencoder", "--clips", "x.h5"],
                                     ["train-heatmap-encoder", "--clips", "x.h5"],
                                     ["train-lora", "--clips", "x.h5"]])
@pytest.mark.parametrize("bad, option", [(["--steps", "0"], "--steps"),
                                         (["--steps", "-1"], "--steps"),
                                         (["--set", "steps=0"], "--steps"),
                                         (["--batch-size", "0"], "--batch-size"),
                                         (["--batch-size", "-3"], "--batch-size")])
def test_training_refuses_no_steps_or_empty_batches(runner, tmp_path, monkeypatch, command,
                                                    bad, option):
    """Once: --steps 0 exited 0 with no model, --batch-size 0 trained on empty batches and
    --batch-size -3 gave a traceback. Now exit 2, one line, and no run folder."""
    if command[0] == "train-detector":      # it counts epochs, not steps
        bad = [b.replace("steps", "epochs") for b in bad]
        option = option.replace("steps", "epochs")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, [*command, *bad, "--device", "cpu"])
    assert res.exit_code == 2, res.output
    assert option in res.stderr and "Traceback" not in res.output, res.output
    if "Invalid value" not in res.stderr:       # click's own box for --epochs' min=1
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert list(tmp_path.iterdir()) == []


def test_messages_with_square_brackets_print_as_written(runner, tmp_path, monkeypatch):
    """Rich markup once ate `[mediapipe]` from `pip install 'finephys-cli[mediapipe]'` and
    `[abc]` from `run[abc].h5`."""
    from finephys_cli.errors import InputError, PartialFailure

    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["lift", "run[abc].h5", "x.h5"])
    assert res.exit_code == 1 and "run[abc].h5: no such file" in res.stderr, res.stderr

    mini = typer.Typer()

    @mini.command()
    @cli_command
    def install(partial: bool = False) -> None:
        if partial:
            raise PartialFailure({"clip[1].mp4": "needs [bold]x[/bold]"}, output="o[2].h5")
        raise InputError("mediapipe is not installed (pip install 'finephys-cli[mediapipe]')")

    res = runner.invoke(mini, [])
    assert res.exit_code == 1
    assert "pip install 'finephys-cli[mediapipe]'" in res.stderr, res.stderr
    res = runner.invoke(mini, ["--partial"])
    assert res.exit_code == 3 and res.stdout.strip() == "o[2].h5"
    assert "clip[1].mp4: needs [bold]x[/bold]" in res.stderr, res.stderr


def test_root_help_shows_flags_as_flags(runner):
    """`finephys --help` once showed `--verbose -v <int>` and `--quiet -q <bool>`, as if they
    took a value (`finephys -q true lift` fails)."""
    for args in (["--help"], ["study", "--help"]):
        text = runner.invoke(app, args, env={"COLUMNS": "200"}).output
        assert "<bool>" not in text and "<int>" not in text, args
        assert "--help" in text
    text = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "--verbose" in text and "--quiet" in text and "--version" in text


def test_missing_model_and_data_folders_are_one_line(runner, tmp_path, monkeypatch):
    """Once a raw errno: `[Errno 2] No such file or directory: '/nonexistent/config.json'`."""
    from finephys_cli.stages.synth import SynthConfig, run_synth

    monkeypatch.chdir(tmp_path)
    synth = run_synth(SynthConfig(classes="9", per_class=1), tmp_path / "s.h5", progress="none")
    missing = tmp_path / "nonexistent"
    for args, why in (
            (["physnet", str(synth), "-o", "p.h5", "--mlp-model", str(missing)],
             f"--mlp-model {missing}: no such model folder"),
            (["physnet", str(synth), "-o", "p.h5", "--mlp-model", str(synth)],
             "not a folder"),
            (["eval-poses", str(synth), "--truth", f"h36m:{missing}"],
             f"{missing}: no such Human3.6M folder"),
            (["train-lift", "--data", f"h36m:{missing}", "--device", "cpu"],
             f"{missing}: no such Human3.6M folder"),
            (["train-physnet", "--data", str(synth), "--init", str(missing), "--device", "cpu"],
             f"{missing}: no such model folder")):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, (args, res.output)
        assert why in res.stderr and "Errno" not in res.stderr, (args, res.stderr)
    assert not (tmp_path / "p.h5").exists() and not (tmp_path / "runs" / "train-lift").exists()
