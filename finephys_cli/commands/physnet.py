"""`finephys physnet`, `train-physnet` and `eval-poses`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import (ShardOpt, ConfigOpt, DeviceOpt, GlobalBatchOpt, JsonOpt, OutputOpt, OverwriteOpt,
                      ProgressOpt, ResumeOpt, RunNameOpt, RunsOpt, SetOpt, StepsOpt, cli_command,
                      emit_paths, resolve_device)


@cli_command
def physnet(
    path: Annotated[Path, typer.Argument(help="A pose3d file (lift output).")],
    output: OutputOpt,
    model: Annotated[Path | None, typer.Option(help="PhysNet folder (default: shipped).")] = None,
    mlp_model: Annotated[Path | None, typer.Option(
        help="Also write the S_dd+S_MLP ablation with this MLPRefiner folder.")] = None,
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
    from ..stages.physnet import PhysnetConfig, run_physnet

    cfg = load_config(PhysnetConfig, config, set_, model=str(model) if model else None,
                      mlp_model=str(mlp_model) if mlp_model else None)
    emit_paths([run_physnet(cfg, path, output, device=resolve_device(device),
                            overwrite=overwrite, progress=progress,
                           shard=parse_shard(shard))])


@cli_command
def train_physnet(
    data: Annotated[list[str], typer.Option(help="Training data (repeatable).")],
    stage: Annotated[str, typer.Option(help="pretrain (eq. 19, 3D) or finetune (eq. 20, 2D).")]
    = "pretrain",
    model_type: Annotated[str, typer.Option(help="physnet, or mlp for the ablation.")] = "physnet",
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

    cfg = load_config(TrainPhysnetConfig, config, set_, data=list(data), stage=stage,
                      model_type=model_type, lifter=str(lifter) if lifter else None,
                      init=str(init) if init else None, name=name, steps=steps,
                      batch_size=batch_size)
    emit_paths([run_train_physnet(cfg, runs, device=resolve_device(device), resume=resume,
                                  progress=progress)])


@cli_command
def eval_poses(
    paths: Annotated[list[Path], typer.Argument(help="pose3d/phys files with ground truth.")],
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="Write JSON (and a .csv beside it).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the paper's Table 2: S_detect / S_dd / S_pp / S_dd+S_MLP / S_dd+S_pp."""
    import csv
    import json

    from rich.table import Table

    from ..console import console
    from ..io.atomic import atomic_write_text
    from ..stages.eval_poses import evaluate_file, table_rows

    results = {str(p): table_rows(evaluate_file(p)) for p in paths}
    for path, rows in results.items():
        table = Table(title=f"Table 2 analogue: {path}")
        cols = ["space", "source", "MPJPE", "N-MPJPE", "P-MPJPE", "MPJVE", "accel", "bone_std"]
        for c in cols:
            table.add_column(c, justify="right" if c not in ("space", "source") else "left",
                             no_wrap=True)
        for r in rows:
            table.add_row(*[r["space"] + (" (mm)" if r["space"] == "3d" else " (px)"), r["source"]]
                          + [f"{r[c]:.2f}" if c in r else "-" for c in cols[2:]])
        console.print(table)
    written = []
    if output is not None:
        atomic_write_text(output, json.dumps(results, indent=2))
        csv_path = output.with_suffix(".csv")
        fields = ["file", "space", "source", "MPJPE", "N-MPJPE", "P-MPJPE", "MPJVE", "accel",
                  "bone_std"]
        with open(csv_path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            for path, rows in results.items():
                for r in rows:
                    writer.writerow({"file": path, **r})
        written = [output, csv_path]
    if as_json:
        print(json.dumps(results))
    else:
        emit_paths(written)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Pose pipeline")(physnet)
    app.command("train-physnet", rich_help_panel="Pose pipeline")(train_physnet)
    app.command("eval-poses", rich_help_panel="Evaluation")(eval_poses)
