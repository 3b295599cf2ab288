"""The YOLO-pose dataset layout Ultralytics trains on, written from finephys pose files.

    DATASET/images/{train,val}/<video>_<frame>.jpg
    DATASET/labels/{train,val}/<video>_<frame>.txt   one person per line: 0 cx cy w h, then
                                                     x y v for the 17 COCO joints (normalised;
                                                     v 2 labelled, 0 not)
    DATASET/data.yaml                                paths, kpt_shape [17, 3], flip_idx

Written as DATASET.partial/ and renamed, so a dataset that exists is whole.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..skeleton import COCO_FLIP_IDX


def label_line(coco_xy: np.ndarray, width: int, height: int, box_pad: float,
               min_joints: int = 4) -> str | None:
    """One person's label from COCO (17,2) px (NaN: unlabelled); None with fewer than
    `min_joints` joints inside the frame. The box is the labelled joints' extent, widened by
    `box_pad` of its larger side on each side (joints are centres, a body extends past them)."""
    xy = np.asarray(coco_xy, dtype=np.float64)
    finite = np.isfinite(xy).all(-1)
    inside = finite & (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
    if inside.sum() < min_joints:
        return None
    lo, hi = xy[finite].min(0), xy[finite].max(0)   # a body partly out of frame reaches its edge
    pad = box_pad * float((hi - lo).max())
    lo = np.maximum(lo - pad, 0.0)
    hi = np.minimum(hi + pad, [width, height])
    scale = np.array([width, height], dtype=np.float64)
    centre, size = (lo + hi) / 2 / scale, (hi - lo) / scale
    parts = [0, *centre, *size]
    for ok, (x, y) in zip(inside, xy):
        parts += [x / width, y / height, 2] if ok else [0.0, 0.0, 0]
    return " ".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in parts)


def write_data_yaml(root: Path, named: Path | None = None) -> Path:
    """data.yaml in `root` for a YOLO-pose dataset that will live at `named` (default `root`;
    one class, person)."""
    text = (f"path: {json.dumps(str(Path(named or root).resolve()))}\n"
            "train: images/train\nval: images/val\n"
            "kpt_shape: [17, 3]\n"
            f"flip_idx: {list(COCO_FLIP_IDX)}\n"
            "names:\n  0: person\n")
    path = Path(root) / "data.yaml"
    path.write_text(text)
    return path


class YoloDatasetWriter:
    """Build a dataset in `root.partial/`; `commit()` renames it to `root` with its summary."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.tmp = self.root.with_name(self.root.name + ".partial")
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        for split in ("train", "val"):
            (self.tmp / "images" / split).mkdir(parents=True)
            (self.tmp / "labels" / split).mkdir(parents=True)
        self.counts = {"train": 0, "val": 0}
        self.videos = {"train": 0, "val": 0}

    def add(self, split: str, stem: str, image_rgb: np.ndarray, lines: list[str]) -> None:
        from PIL import Image

        Image.fromarray(image_rgb).save(self.tmp / "images" / split / f"{stem}.jpg",
                                        quality=95)
        (self.tmp / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + "\n")
        self.counts[split] += 1

    def commit(self, summary: dict) -> Path:
        (self.tmp / "summary.json").write_text(json.dumps(
            {**summary, "images": self.counts, "videos": self.videos}, indent=1))
        write_data_yaml(self.tmp, named=self.root)   # before the rename: a dataset is whole
        if self.root.exists():
            shutil.rmtree(self.root)
        os.replace(self.tmp, self.root)
        return self.root


def dataset_summary(root: Path) -> dict | None:
    path = Path(root) / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None
