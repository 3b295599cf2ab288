"""The one path from a pose file to the UNet's pose inputs (docs/architecture.md).

select the source -> sample F frames -> crop square around the performer -> render the
full-size heatmaps plus one map per UNet level. `render-heatmaps`, `prepare-clips`,
`generate` and generator training all go through here, so a skeleton is cropped and drawn
the same way whether it is trained on, stored or sampled from.

Pose sources (one vocabulary for every command's `--pose-source`):
  exact    the true 2D of a synth file (keypoints2d_exact)
  fused    PhysNet's fused skeleton (S_dd + S_pp)/2, projected (pose2d_fused)
  lift     the lifter's S_dd, projected (pose3d_dd)
  physnet  PhysNet's S_pp, projected (pose3d_pp)
  mlp      the S_dd+S_MLP ablation, projected (pose3d_mlp)
  detect   the detector's 2D (keypoints2d)
  auto     the first present of exact, fused, detect
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, NoValidJointsError, UsageError
from ..io.poses_h5 import PoseFile
from ..io.video import frame_plan
from .heatmaps import SIGMA_AT_64, render_heatmaps, sigma_for
from ..data.normalize import denormalize_2d

POSE_SOURCES = ("auto", "exact", "fused", "lift", "physnet", "mlp", "detect")
AUTO_ORDER = ("exact", "fused", "detect")
SOURCE_DATASET = {"exact": "keypoints2d_exact", "fused": "pose2d_fused", "lift": "pose3d_dd",
                  "physnet": "pose3d_pp", "mlp": "pose3d_mlp", "detect": "keypoints2d"}
HEATMAPS_FORMAT = "finephys.heatmaps"


def resolve_source(pf: PoseFile, vid: str, source: str) -> str:
    """`auto` -> the first present of exact, fused, detect; a named source must be present."""
    if source not in POSE_SOURCES:
        raise UsageError(f"--pose-source must be one of {', '.join(POSE_SOURCES)}, got "
                         f"{source!r}")
    if pf.format == HEATMAPS_FORMAT:
        stored = str(pf.video_attrs(vid).get("pose_source", "detect"))
        if source not in ("auto", stored):
            raise InputError(f"{pf.path}: video {vid} holds {stored} heatmaps, not {source}")
        return stored
    if source == "auto":
        for name in AUTO_ORDER:
            if pf.has(vid, SOURCE_DATASET[name]):
                return name
        raise InputError(f"{pf.path}: video {vid} has no 2D skeleton "
                         f"({', '.join(SOURCE_DATASET[n] for n in AUTO_ORDER)})")
    if not pf.has(vid, SOURCE_DATASET[source]):
        hint = " (run physnet first)" if source in ("fused", "physnet", "mlp") else \
            " (run lift first)" if source == "lift" else ""
        raise InputError(f"{pf.path}: video {vid} has no {SOURCE_DATASET[source]} for "
                         f"--pose-source {source}{hint}")
    return source


def select_keypoints(pf: PoseFile, vid: str, source: str = "auto"
                     ) -> tuple[np.ndarray, np.ndarray, str]:
    """The 2D joints (T,17,2) px of the original frame, their scores (T,17) and the source
    actually used. Only detections carry confidences; estimated skeletons are complete."""

    name = resolve_source(pf, vid, source)
    if pf.format == HEATMAPS_FORMAT:
        kp, scores = pf.read(vid, "keypoints2d"), pf.read(vid, "scores")
    elif name in ("lift", "physnet", "mlp"):
        kp = denormalize_2d(pf.read(vid, SOURCE_DATASET[name])[..., :2], pf.read(vid, "root2d"),
                            float(pf.read(vid, "scale")))
        scores = None
    else:
        kp = pf.read(vid, SOURCE_DATASET[name])
        scores = pf.read(vid, "scores") if name == "detect" and pf.has(vid, "scores") else None
    if scores is None:
        scores = np.ones(kp.shape[:2], np.float32)
    kp = kp.astype(np.float64)
    if np.isnan(kp).all():
        raise NoValidJointsError(f"{pf.path}: video {vid} has no valid joints ({name})")
    return kp, np.nan_to_num(scores.astype(np.float64)), name


def crop_box(kp: np.ndarray, pad: float = 0.15, min_size: float = 32.0) -> np.ndarray:
    """A square box (x0, y0, side) in whole pixels around every valid joint, padded. Whole
    pixels, because the frames of a training sample are cut at exactly this box."""
    valid = kp[~np.isnan(kp).any(-1)]
    if len(valid) == 0:
        raise NoValidJointsError("no valid joints to crop around")
    lo, hi = valid.min(0), valid.max(0)
    side = max(float((hi - lo).max()) * (1 + 2 * pad), min_size)
    centre = (lo + hi) / 2
    return np.array([round(centre[0] - side / 2), round(centre[1] - side / 2),
                     max(round(side), 2)], dtype=np.float64)


def to_crop(kp: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Pixel coordinates -> coordinates in a `size`² map of the crop box."""
    return (kp - box[:2]) * (size / box[2])


def from_crop(kp: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    return kp * (box[2] / size) + box[:2]


@dataclass
class ClipPose:
    """One clip's conditioning skeleton, sampled and cropped."""
    keypoints: np.ndarray       # (F,17,2) px in the size² crop
    scores: np.ndarray          # (F,17)
    crop_box: np.ndarray        # (x0, y0, side) whole px in the original frame
    frame_indices: np.ndarray   # (F,) rows of the pose file
    source: str                 # the resolved pose source
    size: int
    origin: str = ""            # FILE:VIDEO it came from
    maps: list | None = None    # a heatmaps file's stored maps (full size, then per level)

    @property
    def label(self) -> str:
        return f"{self.origin} ({self.source})"

    def record(self) -> dict:
        """What a sidecar or a clips file records of it."""
        return {"pose_source": self.source, "crop_box": self.crop_box.tolist(),
                "frame_indices": self.frame_indices.tolist()}


def crop_clip(kp: np.ndarray, scores: np.ndarray, *, frames: int | None, size: int,
              pad: float = 0.15, source: str = "", box: np.ndarray | None = None) -> ClipPose:
    """Sample `frames` rows spanning the clip (all of them for None) and crop around them
    (or at a given `box`)."""
    idx = np.arange(len(kp)) if frames is None else frame_plan(len(kp), frames)
    box = crop_box(kp[idx], pad=pad) if box is None else np.asarray(box, dtype=np.float64)
    return ClipPose(to_crop(kp[idx], box, size), scores[idx], box, idx, source, size)


def clip_pose(pf: PoseFile, vid: str, *, source: str = "auto", frames: int | None, size: int,
              pad: float = 0.15, levels: list[int] | None = None) -> ClipPose:
    """A pose file's video -> its ClipPose. A heatmaps file keeps the crop it was rendered in
    and, given the UNet's `levels`, lends its stored maps when it holds every size."""
    kp, scores, name = select_keypoints(pf, vid, source)
    box = pf.read(vid, "crop_box") if pf.format == HEATMAPS_FORMAT else None
    pose = crop_clip(kp, scores, frames=frames, size=size, pad=pad, source=name, box=box)
    pose.origin = f"{pf.path}:{vid}"
    if levels is not None:
        pose.maps = stored_maps(pf, vid, pose, [size, *levels])
    return pose


def stored_maps(pf: PoseFile, vid: str, pose: ClipPose, sizes: list[int]
                ) -> list[np.ndarray] | None:
    """The maps a heatmaps file holds for these frames at these sizes, or None when it lacks
    a size (then the caller renders them from the same crop)."""
    if pf.format != HEATMAPS_FORMAT:
        return None
    names = [f"heatmaps/{s}x{s}" for s in sizes]
    if not all(pf.has(vid, n) for n in names):
        return None
    return [pf.read(vid, n)[pose.frame_indices].astype(np.float32) for n in names]


def level_map(kp, scores, size: int, map_size: int, channels: str = "limbs",
              sigma_at_64: float = SIGMA_AT_64):
    """kp (F,17,2) tensor in the size² crop -> its heatmaps at map_size² (F,C,map,map), with σ
    scaled to that size. Differentiable in `kp`."""
    return render_heatmaps(kp * (map_size / size), scores, (map_size, map_size),
                           sigma=sigma_for(map_size, sigma_at_64), channels=channels)


def pose_maps(kp, scores, size: int, levels, channels: str = "limbs"):
    """The full-size heatmaps and one map per UNet level (the multi-scale guidance), each
    rendered at its own resolution (level_map)."""
    return (level_map(kp, scores, size, size, channels),
            [level_map(kp, scores, size, s, channels) for s in levels])
