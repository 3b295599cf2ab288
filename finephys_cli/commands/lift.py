"""`finephys lift` and `finephys train-lift`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ._common import (ConfigOpt, DeviceOpt, GlobalBatchOpt, OverwriteOpt, PositionalOutputOpt,
                      ProgressOpt, ResumeOpt, RunNameOpt, RunsOpt, SetOpt, ShardOpt, StepsOpt,
                      check_training_sizes, cli_command, emit_paths, resolve_device,
                      split_output)


@cli_command
def lift(
    paths: Annotated[list[Path], typer.Argument(
        help="A 2D pose file (detect or synth output), then OUT.h5 (or give -o OUT).",
        show_default=False)],
    output: PositionalOutputOpt = None,
    model: Annotated[Path | None, typer.Option(help="Lifter folder (default: the shipped "
                                               "one, or models.toml / FINEPHYS_LIFTER_MODEL).",
                                               show_default=False)] = None,
    prompt_choice: Annotated[Literal["nearest", "random"], typer.Option(
        help="The in-context prompt pair: nearest (2D retrieval from the prompt bank) or "
             "random (torch's default generator, which starts from the same seed in every "
             "process).")] = "nearest",
    batch_size: Annotated[int | None, typer.Option(
        help="Most windows per lifter call (default: 16 on CPU, 256 on CUDA); on CPU a "
             "clip's windows are split evenly over the threads.", min=1,
        show_default=False)] = None,
    flip_average: Annotated[bool | None, typer.Option(
        "--flip-average/--no-flip-average",
        help="Also lift the mirrored 2D and average (test-time flip), at twice the lifter's "
             "cost. Measured with lifter v0.5: 1% better on the renders detector's one-pass 2D, "
             "1% worse on the stock detector's (lifter card).", show_default=False)] = None,
    shard: ShardOpt = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = "auto",
) -> None:
    """Lift 2D poses to 3D (S_dd) by in-context learning (eq. 4-5)."""
    from ..configs import load_config
    from ..io.manifest import parse_shard
    from ..stages.lift import LiftConfig, run_lift

    (path,), output = split_output(paths, output, max_inputs=1)
    cfg = load_config(LiftConfig, config, set_, model=str(model) if model else None,
                      prompt_choice=prompt_choice, batch_size=batch_size,
                      flip_average=flip_average)
    emit_paths([run_lift(cfg, path, output, device=resolve_device(device), overwrite=overwrite,
                         progress=progress, shard=parse_shard(shard))])


@cli_command
def train_lift(
    data: Annotated[list[str], typer.Option(help="Training data: a synth/pose file, "
                                            "DETECT.h5+TRUTH.h5 (detect run on synth videos, "
                                            "paired with their truth), h36m:DIR or amass:FILE "
                                            "(repeatable).")],
    name: RunNameOpt = "lift",
    runs: RunsOpt = Path("runs"),
    steps: StepsOpt = None,
    batch_size: GlobalBatchOpt = None,
    resume: ResumeOpt = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    progress: ProgressOpt = "auto",
) -> None:
    """Train the in-context lifter (accelerate: CPU, one GPU, or `accelerate launch`)."""
    from ..configs import load_config
    from ..stages.train_lift import TrainLiftConfig, run_train_lift

    cfg = check_training_sizes(load_config(TrainLiftConfig, config, set_, data=list(data),
                                           name=name, steps=steps, batch_size=batch_size))
    emit_paths([run_train_lift(cfg, runs, device=resolve_device(device), resume=resume,
                               progress=progress)])


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Pose pipeline")(lift)
    app.command("train-lift", rich_help_panel="Pose pipeline")(train_lift)
