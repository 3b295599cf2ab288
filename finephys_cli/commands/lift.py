"""`finephys lift` and `finephys train-lift`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import (ShardOpt, ConfigOpt, DeviceOpt, GlobalBatchOpt, OutputOpt, OverwriteOpt, ProgressOpt,
                      ResumeOpt, RunNameOpt, RunsOpt, SetOpt, StepsOpt, cli_command, emit_paths,
                      resolve_device)



@cli_command
def lift(
    path: Annotated[Path, typer.Argument(help="A 2D pose file (detect or synth output).")],
    output: OutputOpt,
    model: Annotated[Path | None, typer.Option(help="Lifter folder (default: shipped).")] = None,
    prompt: Annotated[str, typer.Option(help="Prompt choice: nearest or random.")] = "nearest",
    batch_size: Annotated[int, typer.Option(help="Windows per batch.", min=1)] = 256,
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
    from ..errors import InputError
    from ..stages.lift import LiftConfig, run_lift

    if prompt not in ("nearest", "random"):
        raise InputError(f"--prompt must be nearest or random, got {prompt!r}")
    cfg = load_config(LiftConfig, config, set_, model=str(model) if model else None,
                      prompt=prompt, batch_size=batch_size)
    emit_paths([run_lift(cfg, path, output, device=resolve_device(device), overwrite=overwrite,
                         progress=progress,
                           shard=parse_shard(shard))])


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

    cfg = load_config(TrainLiftConfig, config, set_, data=list(data), name=name, steps=steps,
                      batch_size=batch_size)
    emit_paths([run_train_lift(cfg, runs, device=resolve_device(device), resume=resume,
                               progress=progress)])


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Pose pipeline")(lift)
    app.command("train-lift", rich_help_panel="Pose pipeline")(train_lift)
