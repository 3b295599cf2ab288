"""`finephys synth`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ..errors import UsageError
from ..io.manifest import VIDEO_EXTS
from ._common import (ConfigOpt, OverwriteOpt, PositionalOutputOpt, ProgressOpt, SeedOpt,
                      SetOpt, cli_command, emit_paths, split_output)


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
    tumble: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="deepmimic: the fraction of clips spun head over heels about a "
        "horizontal axis (1/2 to 3/2 turns), for inverted bodies in training data.")] = 0.0,
    limb_jitter: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="deepmimic: the fraction of clips whose hips and shoulders swing "
        "through smooth random offsets (kicks, splits, raised arms), poses the training mocap "
        "lacks.")] = 0.0,
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
                      mannequin=mannequin, tumble=tumble, limb_jitter=limb_jitter)
    for name in ("tumble", "limb_jitter"):   # -c/--set get the options' bounds too
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise UsageError(f"synth config: {name} {getattr(cfg, name)!r} must be a share "
                             f"from 0 to 1")
    if cfg.tumble and cfg.motion != "deepmimic":
        raise UsageError("--tumble needs --motion deepmimic (the FX programs have their own "
                         "saltos)")
    if cfg.limb_jitter and cfg.motion != "deepmimic":
        raise UsageError("--limb-jitter needs --motion deepmimic (the FX programs have their "
                         "own leaps)")
    if cfg.mannequin == "humanoid" and cfg.motion != "deepmimic":
        raise UsageError("--mannequin humanoid needs --motion deepmimic (the body is the mocap's)")
    # an option the chosen motion does not read was silently ignored
    if cfg.clips != "all" and cfg.motion != "deepmimic":
        raise UsageError("--clips needs --motion deepmimic (the FX programs take --classes)")
    if cfg.classes != "all" and cfg.motion == "deepmimic":
        raise UsageError("--classes is for --motion synth (DeepMimic clips are chosen with "
                         "--clips)")
    if videos is not None and videos.suffix.lower() in VIDEO_EXTS:
        raise UsageError(f"--videos takes a folder (one mp4 per sample goes in it), got the file "
                         f"name {videos}")
    paths = [run_synth(cfg, output, videos=videos, overwrite=overwrite, progress=progress,
                       allow_reserved=allow_reserved)]
    if videos is not None:
        paths.append(videos)
    emit_paths(paths)



def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Pose pipeline")(synth)
