"""`finephys render-heatmaps`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import (ShardOpt, ConfigOpt, DeviceOpt, OutputOpt, OverwriteOpt, ProgressOpt, SetOpt,
                      cli_command, emit_paths, resolve_device)


@cli_command
def render_heatmaps(
    path: Annotated[Path, typer.Argument(help="A pose file (phys, pose2d, synth, pose3d).")],
    output: OutputOpt,
    size: Annotated[int, typer.Option(help="Generation frame size (square crop).", min=8)] = 384,
    scales: Annotated[str, typer.Option(help="Down-sampling factors to render.")] = "1,8,16,32,64",
    sigma: Annotated[float, typer.Option(help="σ at 64 px (scaled per map size).")] = 0.6,
    channels: Annotated[str, typer.Option(help="limbs, joints or both.")] = "limbs",
    source: Annotated[str, typer.Option(help="fused, detect, dd or pp.")] = "fused",
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
    from ..errors import InputError
    from ..stages.heatmaps import HeatmapConfig, run_render_heatmaps

    try:
        scale_list = [int(s) for s in scales.split(",") if s.strip()]
    except ValueError as exc:
        raise InputError(f"--scales must be comma-separated integers, got {scales!r}") from exc
    cfg = load_config(HeatmapConfig, config, set_, size=size, sigma=sigma, channels=channels,
                      source=source)
    cfg.scales = tuple(scale_list)
    if channels not in ("limbs", "joints", "both"):
        raise InputError(f"--channels must be limbs, joints or both, got {channels!r}")
    emit_paths([run_render_heatmaps(cfg, path, output, device=resolve_device(device),
                                    overwrite=overwrite, progress=progress,
                           shard=parse_shard(shard))])


def register(app: typer.Typer) -> None:
    app.command("render-heatmaps", rich_help_panel="Pose pipeline")(render_heatmaps)
