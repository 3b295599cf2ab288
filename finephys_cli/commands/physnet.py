"""`finephys physnet`, `train-physnet` and `eval-poses`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ._common import (ConfigOpt, DeviceOpt, GlobalBatchOpt, OverwriteOpt,
                      PositionalOutputOpt, ProgressOpt, ResumeOpt, RunNameOpt, RunsOpt, SetOpt,
                      ShardOpt, StepsOpt, check_training_sizes, cli_command, emit_paths,
                      resolve_device, split_output)


@cli_command
def physnet(
    paths: Annotated[list[Path], typer.Argument(
        help="A pose3d file (lift output), then OUT.h5 (or give -o OUT).", show_default=False)],
    output: PositionalOutputOpt = None,
    model: Annotated[Path | None, typer.Option(help="PhysNet folder (default: the shipped "
                                               "one, or models.toml / FINEPHYS_PHYSNET_MODEL).",
                                               show_default=False)] = None,
    mlp_model: Annotated[Path | None, typer.Option(
        help="Also write the S_dd+S_MLP ablation with this MLPRefiner folder.",
        show_default=False)] = None,
    projection: Annotated[Literal["weak", "learned"] | None, typer.Option(
        help="The fused 2D: weak (F[..., :2], default) or learned (the model's eq. 20 P, which "
             "follows the detector's joint placement).", show_default=False)] = None,
    shard: ShardOpt = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
    progress: ProgressOpt = "auto",
) -> None:
    """Re-estimate S_dd with PhysNet (eq. 6-18); write S_pp, the fusion and the fused 2D."""
    from ..configs import load_config
    from ..io.manifest import parse_shard
    from ..models.registry import model_folder
    from ..stages.physnet import RefineConfig, run_physnet

    (path,), output = split_output(paths, output, max_inputs=1)
    cfg = load_config(RefineConfig, config, set_, model=str(model) if model else None,
                      mlp_model=str(mlp_model) if mlp_model else None,
                      projection=projection)
    if cfg.mlp_model:       # one line, not the errno of its config.json
        model_folder(Path(cfg.mlp_model), "--mlp-model")
    emit_paths([run_physnet(cfg, path, output, device=resolve_device(device),
                            overwrite=overwrite, progress=progress, shard=parse_shard(shard))])


@cli_command
def train_physnet(
    data: Annotated[list[str], typer.Option(help="Training data (repeatable), as for "
                                            "train-lift: a synth/pose file, DETECT.h5+TRUTH.h5, "
                                            "h36m:DIR or amass:FILE; for --stage finetune any "
                                            "2D file (e.g. detect output).")],
    stage: Annotated[Literal["pretrain", "finetune"], typer.Option(
        help="pretrain (eq. 19, 3D) or finetune (eq. 20, 2D).")] = "pretrain",
    model_type: Annotated[Literal["physnet", "mlp"], typer.Option(
        help="physnet, or mlp for the ablation.")] = "physnet",
    lifter: Annotated[Path | None, typer.Option(help="Lifter folder (default: shipped).")] = None,
    init: Annotated[Path | None, typer.Option(help="Start from this model folder.")] = None,
    name: RunNameOpt = "physnet",
    runs: RunsOpt = Path("runs"),
    steps: StepsOpt = None,
    batch_size: GlobalBatchOpt = None,
    resume: ResumeOpt = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    progress: ProgressOpt = "auto",
) -> None:
    """Train PhysNet (or the MLP ablation) and the projection P (accelerate)."""
    from ..configs import load_config
    from ..stages.train_physnet import TrainPhysnetConfig, run_train_physnet

    cfg = check_training_sizes(load_config(
        TrainPhysnetConfig, config, set_, data=list(data), stage=stage, model_type=model_type,
        lifter=str(lifter) if lifter else None, init=str(init) if init else None, name=name,
        steps=steps, batch_size=batch_size))
    emit_paths([run_train_physnet(cfg, runs, device=resolve_device(device), resume=resume,
                                  progress=progress)])


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Pose pipeline")(physnet)
    app.command("train-physnet", rich_help_panel="Pose pipeline")(train_physnet)
