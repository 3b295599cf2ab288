"""`finephys synth`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ..errors import UsageError
from ._common import (ConfigOpt, OverwriteOpt, PositionalOutputOpt, ProgressOpt, SeedOpt,
                      SetOpt, ShardOpt, cli_command, emit_paths, split_output)


@cli_command
def synth(
    out: Annotated[Path | None, typer.Argument(help="OUT.h5 (or give -o OUT).",
                                               show_default=False)] = None,
    output: PositionalOutputOpt = None,
    motion: Annotated[Literal["synth", "deepmimic"], typer.Option(
        help="Where the motion comes from: synth (the FX class programs) or deepmimic (real "
             "mocap shipped in pybullet).")] = "synth",
    clips: Annotated[str, typer.Option(help="deepmimic: clip names, or all (the reserved "
                                       "held-out clips excluded).")] = "all",
    allow_reserved: Annotated[bool, typer.Option(
        help="deepmimic: allow the reserved held-out clips (external evaluation only; such "
             "files are refused by every train-* command).")] = False,
    classes: Annotated[str, typer.Option(help="all, a subset (FX-JUMP) or ids (6,7,33).")] = "all",
    per_class: Annotated[int, typer.Option(help="Samples per class.", min=1)] = 4,
    frames: Annotated[int | None, typer.Option(help="Frames per clip (default: natural).")] = None,
    fps: Annotated[float, typer.Option(help="Frame rate.")] = 25.0,
    seed: SeedOpt = 0,
    videos: Annotated[Path | None, typer.Option(help="Also render mannequin mp4s here.")] = None,
    size: Annotated[int, typer.Option(help="Frame size in px (square).", min=16)] = 384,
    mannequin: Annotated[Literal["shaded", "parts", "humanoid"], typer.Option(
        help="shaded, parts (each limb its own hue, for colour-located pose fidelity), or "
             "humanoid (deepmimic only: the mocap's own body, rendered by pybullet).")] \
        = "shaded",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = "auto",
) -> None:
    """Physics-consistent synthetic gymnastics: 3D truth, camera, detector-like 2D, videos."""
    from ..configs import load_config
    from ..stages.synth import SynthConfig, run_synth

    _, output = split_output([out] if out else [], output, min_inputs=0, max_inputs=0)
    cfg = load_config(SynthConfig, config, set_, motion=motion, clips=clips, classes=classes,
                      per_class=per_class, frames=frames, fps=fps, seed=seed, size=size,
                      mannequin=mannequin)
    if cfg.mannequin == "humanoid" and cfg.motion != "deepmimic":
        raise UsageError("--mannequin humanoid needs --motion deepmimic (the body is the mocap's)")
    paths = [run_synth(cfg, output, videos=videos, overwrite=overwrite, progress=progress,
                       allow_reserved=allow_reserved)]
    if videos is not None:
        paths.append(videos)
    emit_paths(paths)



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
    app.command(rich_help_panel="Pose pipeline")(synth)
    app.command("prepare-finegym", rich_help_panel="Pose pipeline")(prepare_finegym)
