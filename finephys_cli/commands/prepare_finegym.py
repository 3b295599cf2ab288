"""`finephys prepare-finegym`: FineGym FX element clips from your own source videos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import ProgressOpt, ShardOpt, cli_command, emit_paths


@cli_command
def prepare_finegym(
    annotation: Annotated[Path, typer.Argument(help="finegym_annotation_info_v1.1.json")],
    elements: Annotated[list[Path], typer.Argument(help="gym99_train_element_v1.1.txt, gym99_val_element.txt")],
    videos: Annotated[Path, typer.Option(help="Folder of the downloaded source videos (<youtube id>.mp4).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (clips/ + manifest.csv).")],
    classes: Annotated[str, typer.Option(help="FX, FX-JUMP, FX-TURN, FX-SALTO or class ids.")] = "FX",
    shard: ShardOpt = None,
    progress: ProgressOpt = "auto",
) -> None:
    """Cut FineGym FX element clips from your downloaded source videos, with a manifest."""
    from ..io.manifest import parse_shard
    from ..stages.finegym import run_prepare_finegym

    emit_paths(run_prepare_finegym(annotation, list(elements), videos, output,
                                   classes=classes, shard=parse_shard(shard),
                                   progress=progress))


def register(app: typer.Typer) -> None:
    app.command("prepare-finegym", rich_help_panel="Pose pipeline")(prepare_finegym)
