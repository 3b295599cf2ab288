"""`finephys demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import DeviceOpt, ProgressOpt, cli_command, emit_paths


@cli_command
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Demo folder.")] = Path("demo_out"),
    classes: Annotated[str, typer.Option(help="Gym99 classes to run (a leap, a turn, a salto).")] = "6,21,33",
    steps: Annotated[int, typer.Option(help="DDIM steps for generate.")] = 25,
    device: DeviceOpt = "auto",
    progress: ProgressOpt = "auto",
) -> None:
    """The whole pipeline offline on synthetic gymnastics, step by step as CLI commands."""
    from ..stages.demo import print_summary, run_demo

    summary = run_demo(output, classes=classes, device=device, steps=steps, progress=progress)
    print_summary(summary)
    emit_paths([output / "demo_summary.json"])


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Start here")(demo)
