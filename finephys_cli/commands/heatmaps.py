"""`finephys render-heatmaps`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ._common import (ConfigOpt, DeviceOpt, OverwriteOpt, PoseSourceOpt, PositionalOutputOpt,
                      ProgressOpt, SetOpt, ShardOpt, cli_command, emit_paths, resolve_device,
                      split_output)


@cli_command
def render_heatmaps(
    paths: Annotated[list[Path], typer.Argument(
        help="A pose file (phys, pose2d, synth, pose3d), then OUT.h5 (or give -o OUT).",
        show_default=False)],
    output: PositionalOutputOpt = None,
    size: Annotated[int, typer.Option(help="Generation frame size (square crop).", min=8)] = 384,
    scales: Annotated[str, typer.Option(help="Down-sampling factors to render.")] = "1,8,16,32,64",
    sigma: Annotated[float, typer.Option(help="σ at 64 px (scaled per map size).")] = 0.6,
    channels: Annotated[Literal["limbs", "joints", "both"], typer.Option(
        help="Heatmap channels: 16 limbs, 17 joints, or both.")] = "limbs",
    pose_source: PoseSourceOpt = "auto",
    frames: Annotated[int | None, typer.Option(
        help="Keep the N frames generate samples (default: every frame).", min=1,
        show_default=False)] = None,
    shard: ShardOpt = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = "auto",
) -> None:
    """Render multi-scale PoseConv3D limb heatmaps in the generation crop."""
    from ..configs import load_config
    from ..io.manifest import parse_shard
    from ..errors import UsageError
    from ..stages.heatmaps import HeatmapConfig, run_render_heatmaps

    (path,), output = split_output(paths, output, max_inputs=1)
    try:
        scale_list = [int(s) for s in scales.split(",") if s.strip()]
    except ValueError as exc:
        raise UsageError(f"--scales must be comma-separated integers, got {scales!r}") from exc
    cfg = load_config(HeatmapConfig, config, set_, size=size, sigma=sigma, channels=channels,
                      pose_source=pose_source, frames=frames)
    cfg.scales = tuple(scale_list)
    emit_paths([run_render_heatmaps(cfg, path, output, device=resolve_device(device),
                                    overwrite=overwrite, progress=progress,
                                    shard=parse_shard(shard))])


def register(app: typer.Typer) -> None:
    app.command("render-heatmaps", rich_help_panel="Pose pipeline")(render_heatmaps)
