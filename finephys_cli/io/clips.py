"""Reading finephys.clips files (written by `prepare-clips`) into memory for training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .poses_h5 import PoseFile


@dataclass
class ClipSet:
    """All samples of one or more clips files, in memory."""
    frames: np.ndarray       # (N,F,S,S,3) uint8
    keypoints: np.ndarray    # (N,F,17,2) crop px
    scores: np.ndarray       # (N,F,17)
    prompts: list[str]
    classes: np.ndarray      # (N,)
    ids: list[str]
    pose3d_dd: np.ndarray | None = None   # (N,F,17,3) when every sample has it
    root2d: np.ndarray | None = None
    scale: np.ndarray | None = None
    crop_box: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frames)


def load_clips(paths: list[Path]) -> ClipSet:
    cols: dict[str, list] = {k: [] for k in ("frames", "keypoints", "scores", "prompts",
                                             "classes", "ids", "dd", "root", "scale", "box")}
    shapes = set()
    for path in paths:
        with PoseFile(path, formats=["finephys.clips"]) as pf:
            for vid in pf.video_ids:
                a = pf.video_attrs(vid)
                cols["frames"].append(pf.read(vid, "frames"))
                cols["keypoints"].append(pf.read(vid, "keypoints2d"))
                cols["scores"].append(pf.read(vid, "scores"))
                cols["prompts"].append(str(a.get("prompt", "")))
                cols["classes"].append(int(a.get("gym99_class", -1)))
                cols["ids"].append(vid)
                cols["box"].append(pf.read(vid, "crop_box"))
                if pf.has(vid, "pose3d_dd"):
                    cols["dd"].append(pf.read(vid, "pose3d_dd"))
                    cols["root"].append(pf.read(vid, "root2d"))
                    cols["scale"].append(float(pf.read(vid, "scale")))
                shapes.add(cols["frames"][-1].shape)
    if not cols["frames"]:
        raise InputError(f"no samples in {', '.join(map(str, paths))}")
    if len(shapes) > 1:
        raise InputError(f"the clips files mix sample shapes {sorted(shapes)}; prepare them with "
                         f"the same --size and --frames")
    full = len(cols["dd"]) == len(cols["frames"])
    return ClipSet(np.stack(cols["frames"]), np.stack(cols["keypoints"]),
                   np.nan_to_num(np.stack(cols["scores"])), cols["prompts"],
                   np.asarray(cols["classes"]), cols["ids"],
                   np.stack(cols["dd"]) if full else None,
                   np.stack(cols["root"]) if full else None,
                   np.asarray(cols["scale"]) if full else None, np.stack(cols["box"]))
