"""`train-detector`: fine-tune YOLO-pose on videos whose 2D truth is known.

The [13] validation showed the 2D is most of the skeleton's error on acrobatics: the stock
yolo11n puts a whole skeleton on a gymnast's legs, swaps left and right and loses inverted
bodies. This trains the same detector (Ultralytics' own trainer, starting from the bundled
yolo11n-pose.pt) on frames with exact 2D: `finephys synth` renders (the mocap's humanoid or
our mannequin, any motion) or a user's own annotated pose files. Random rotation up to
±`degrees` teaches it bodies at any angle, the case the rotation test-time augmentation of
`detect --rotations` covers at 4x the cost.
"""

from __future__ import annotations

import math

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..configs import config_hash
from ..console import log, track
from ..data.lift_data import in_validation
from ..errors import InputError, UsageError
from ..io.atomic import atomic_write_bytes, atomic_write_text
from ..io.manifest import linked_video
from ..io.poses_h5 import PoseFile
from ..io.video import read_frames
from ..io.yolo_dataset import YoloDatasetWriter, dataset_summary, label_line
from ..skeleton import h36m_to_coco
from .training import RunDir


@dataclass
class TrainDetectorConfig:
    data: tuple[str, ...] = ()       # pose files with exact 2D and linked videos (source_path)
    name: str = "detector"
    base: str | None = None          # YOLO-pose .pt to start from; None: the bundled yolo11n
    epochs: int = 30
    imgsz: int = 640
    batch_size: int = 32
    frame_stride: int = 2            # every n-th frame of a video (neighbours are near copies)
    val_fraction: float = 0.1        # of the videos (by id hash), never of frames of one video
    degrees: float = 180.0           # random rotation ± this: inverted bodies
    box_pad: float = 0.1             # the person box past the joints' extent, of its side
    reader: str = "pyav"             # video decoder: pyav, decord or opencv
    optimizer: str = "AdamW"
    lr0: float = 0.001
    warmup_epochs: float = 3.0       # Ultralytics' warm-up; 0 to fine-tune an already tuned model
    mosaic: float = 1.0
    workers: int = 2
    amp: bool = False                # Ultralytics' AMP check downloads a model: off offline
    time_limit_h: float = 0.0        # stop after this many hours (0: no limit)
    seed: int = 0


def check_config(cfg: TrainDetectorConfig) -> None:
    bad = [f"{k}={v!r}" for k, v, ok in (
        ("epochs", cfg.epochs, int(cfg.epochs) >= 1),
        ("imgsz", cfg.imgsz, int(cfg.imgsz) >= 32),
        ("batch_size", cfg.batch_size, int(cfg.batch_size) >= 1),
        ("frame_stride", cfg.frame_stride, int(cfg.frame_stride) >= 1),
        ("val_fraction", cfg.val_fraction, 0.0 < float(cfg.val_fraction) < 1.0),
        ("degrees", cfg.degrees, 0.0 <= float(cfg.degrees) <= 180.0),
        ("box_pad", cfg.box_pad, 0.0 <= float(cfg.box_pad) <= 1.0),
        ("lr0", cfg.lr0, math.isfinite(float(cfg.lr0)) and float(cfg.lr0) > 0.0),
        ("warmup_epochs", cfg.warmup_epochs, math.isfinite(float(cfg.warmup_epochs))
         and float(cfg.warmup_epochs) >= 0.0),
        ("reader", cfg.reader, cfg.reader in ("pyav", "decord", "opencv"))) if not ok]
    if bad:
        raise UsageError(f"train-detector config: {', '.join(bad)} out of range (epochs, "
                         "batch_size, frame_stride >= 1; imgsz >= 32; val_fraction in (0, 1); "
                         "degrees in [0, 180]; box_pad in [0, 1]; lr0 > 0; warmup_epochs >= 0, "
                         "both finite; "
                         "reader pyav, decord or opencv)")
    if not cfg.data:
        raise UsageError("train-detector needs --data: pose files with exact 2D "
                         "(keypoints2d_exact, e.g. from finephys synth --videos) and videos")


def build_dataset(cfg: TrainDetectorConfig, root: Path, progress: str = "auto") -> dict:
    """Every `frame_stride`-th frame of every video in `cfg.data`, labelled from its exact 2D
    (H36M-17 -> COCO-17), split into train/val by video id."""
    writer = YoloDatasetWriter(root)
    sources = []
    for spec in cfg.data:
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"--data {spec}: no such file")
        with PoseFile(path) as pf:
            truth_key = "keypoints2d_exact"
            for vid in track(pf.video_ids, description=f"dataset {path.name}", unit="video",
                             mode=progress):
                if not pf.has(vid, truth_key):
                    raise InputError(f"{path}:{vid}: no keypoints2d_exact (exact 2D truth); "
                                     "train-detector trains on known 2D only")
                attrs = pf.video_attrs(vid)
                video = linked_video(path, vid, attrs.get("source_path"),
                                     hint="keep the video at its source_path, relative to "
                                          "the pose file")
                exact = h36m_to_coco(pf.read(vid, truth_key))
                frame_ids = np.asarray(attrs.get("frame_indices", np.arange(len(exact))))
                rows = np.arange(0, len(exact), cfg.frame_stride)
                frames, info = read_frames(video, frame_ids[rows], cfg.reader)
                split = "val" if in_validation(vid, cfg.val_fraction, cfg.seed) else "train"
                writer.videos[split] += 1
                for row, image in zip(rows, frames):
                    line = label_line(exact[row], info.width, info.height, cfg.box_pad)
                    if line is not None:   # unlabelled is not background: a person is there
                        writer.add(split, f"{vid}_{int(frame_ids[row]):06d}", image, [line])
            sources.append(str(path.resolve()))
    if writer.counts["val"] == 0 or writer.counts["train"] == 0:
        raise InputError(f"train-detector: {writer.videos['train']} training and "
                         f"{writer.videos['val']} validation videos; it needs both (more "
                         "videos, or another val_fraction)")
    return dataset_summary(writer.commit({"data": sources, "frame_stride": cfg.frame_stride,
                                          "val_fraction": cfg.val_fraction}))


def _yolo_device(device: str) -> str | int:
    if device.startswith("cuda"):
        return int(device.split(":")[1]) if ":" in device else 0
    return device


def run_train_detector(cfg: TrainDetectorConfig, runs: Path, *, device: str = "cpu",
                       resume: str | None = None, progress: str = "auto",
                       allow_download: bool = False) -> Path:
    """Fine-tune; returns the exported `model-best.pt` (what `detect --model` takes), with
    `model-best.json` beside it (data, metrics, time)."""
    check_config(cfg)
    if not allow_download:
        os.environ.setdefault("YOLO_OFFLINE", "1")     # read when Ultralytics is imported
    from ..models.detectors import resolve_yolo_model, ultralytics_on_stderr

    run = RunDir(runs, "train-detector", cfg.name)
    last = run.path / "yolo" / "weights" / "last.pt"
    if resume not in (None, "", "none", "auto"):
        raise UsageError("train-detector --resume takes auto (Ultralytics keeps its own "
                         f"last.pt in {last.parent})")
    run.start(cfg, True, resume, refuse_existing=False)   # a rerun starts its YOLO run anew
    key = config_hash({k: v for k, v in asdict(cfg).items()
                       if k in ("data", "frame_stride", "val_fraction", "box_pad", "seed")})
    dataset = run.path / f"dataset-{key}"
    summary = dataset_summary(dataset) or build_dataset(cfg, dataset, progress)
    log.info("train-detector: %d train / %d val images from %d / %d videos",
             summary["images"]["train"], summary["images"]["val"],
             summary["videos"]["train"], summary["videos"]["val"])
    start = time.time()
    with ultralytics_on_stderr():      # reading last.pt imports Ultralytics
        from ultralytics import YOLO

        state = _checkpoint_epoch(last) if resume == "auto" else None
        if state is None and (run.path / "yolo").exists():
            shutil.rmtree(run.path / "yolo")   # a fresh start, not appended to the old run
        if state == -1:
            log.info("train-detector: %s is finished; exporting it", last.parent.parent)
        elif state is not None:
            log.info("train-detector: resuming %s after epoch %d", last, state + 1)
            YOLO(str(last)).train(resume=True)
        else:
            source, _ = resolve_yolo_model(cfg.base, allow_download)
            model = YOLO(source, task="pose")
            model.train(data=str(dataset / "data.yaml"), epochs=cfg.epochs, imgsz=cfg.imgsz,
                        batch=cfg.batch_size, device=_yolo_device(device),
                        workers=cfg.workers, seed=cfg.seed, optimizer=cfg.optimizer,
                        lr0=cfg.lr0, warmup_epochs=cfg.warmup_epochs, degrees=cfg.degrees,
                        mosaic=cfg.mosaic, amp=cfg.amp,
                        time=cfg.time_limit_h or None, project=str(run.path.resolve()),
                        name="yolo",
                        exist_ok=True, plots=False, verbose=False)
    best = run.path / "yolo" / "weights" / "best.pt"
    if not best.is_file():
        raise InputError(f"train-detector: Ultralytics wrote no {best}")
    exported = run.path / "model-best.pt"
    atomic_write_bytes(exported, best.read_bytes())
    card_path = run.path / "model-best.json"
    if state != -1 or not card_path.is_file():   # a re-export keeps the training's card
        results = run.path / "yolo" / "results.csv"
        card = {"base": cfg.base or "bundled yolo11n-pose.pt", "config": asdict(cfg),
                "dataset": summary, "device": device,
                "seconds_this_call": round(time.time() - start, 1),
                "last_epoch_metrics": _final_metrics(results)}
        atomic_write_text(card_path, json.dumps(card, indent=1))
    return exported


def _checkpoint_epoch(last: Path) -> int | None:
    """The epoch an Ultralytics last.pt ended (-1: the run finished), None without one."""
    if not last.is_file():
        return None
    import torch

    return int(torch.load(last, map_location="cpu", weights_only=False).get("epoch", -1))


def _final_metrics(results_csv: Path) -> dict:
    """The last epoch's row of Ultralytics' results.csv (its validation metrics)."""
    import csv

    if not results_csv.is_file():
        return {}
    with open(results_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k.strip(): float(v) for k, v in rows[-1].items()} if rows else {}
