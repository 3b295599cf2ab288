"""`finephys viz`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ._common import OutputOpt, cli_command, emit_paths


@cli_command
def viz(
    path: Annotated[Path, typer.Argument(help="A finephys pose file.")],
    output: OutputOpt,
    video_id: Annotated[str | None, typer.Option(help="Which video (default: the first).")] = None,
    mode: Annotated[Literal["2d", "3d", "heatmap"], typer.Option(
        help="2d overlays, 3d views, or heatmap overlays.")] = "2d",
    pose_sources: Annotated[str, typer.Option(
        help="Skeletons side by side, a comma list of --pose-source names: exact, fused, lift, "
             "physnet, mlp, detect (3d: no detect).")] = "detect",
    n_frames: Annotated[int, typer.Option(help="Frames in a PNG strip.", min=1)] = 8,
) -> None:
    """Draw skeletons over the video, or 3D views; several sources side by side.

    The output type follows the suffix: .png (a strip of frames), .gif or .mp4 (animated)."""
    from ..stages.viz import VizConfig, run_viz

    cfg = VizConfig(mode=mode, n_frames=n_frames,
                    sources=tuple(s.strip() for s in pose_sources.split(",") if s.strip()))
    emit_paths([run_viz(cfg, path, output, video_id)])


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Evaluation")(viz)
