"""`render-heatmaps`: pose file -> finephys.heatmaps, the multi-scale limb heatmaps of
generation/conditioning.py stored on disk (`generate --poses` reuses their crop and maps)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..configs import config_hash
from ..console import track
from ..errors import UsageError
from ..generation.conditioning import clip_pose, from_crop, level_map
from ..generation.heatmaps import SIGMA_AT_64
from ..io.manifest import shard_output_path
from ..io.poses_h5 import (PoseFile, PoseFileWriter, carry_video_attrs, shard_video_ids,
                           video_fingerprints)

POSE_FORMATS = ("finephys.pose2d", "finephys.synth", "finephys.pose3d", "finephys.phys")


@dataclass
class HeatmapConfig:
    size: int = 384
    scales: tuple[int, ...] = (1, 8, 16, 32, 64)
    sigma: float = SIGMA_AT_64     # σ at 64 px; scaled with each map's size
    channels: str = "limbs"
    pose_source: str = "auto"      # generation/conditioning.py POSE_SOURCES
    frames: int | None = None      # None: every row; N: the N frames generate would sample
    pad: float = 0.15              # crop padding around the clip's joints
    batch_size: int = 64


def map_sizes(cfg: HeatmapConfig) -> list[int]:
    sizes = []
    for s in cfg.scales:
        if s < 1 or cfg.size % s:
            raise UsageError(f"--scales: {s} does not divide --size {cfg.size}")
        sizes.append(cfg.size // s)
    return sizes


def run_render_heatmaps(cfg: HeatmapConfig, path: Path, output: Path, *, device: str = "cpu",
                        overwrite: bool = False, progress: str = "auto", shard=None) -> Path:
    import torch

    sizes = map_sizes(cfg)
    chash = config_hash(asdict(cfg))
    ids, shard_info = shard_video_ids(path, POSE_FORMATS, shard)
    output = shard_output_path(Path(output), shard)
    with PoseFile(path, formats=POSE_FORMATS) as pf, \
            PoseFileWriter(output, format="finephys.heatmaps", config=asdict(cfg),
                           config_hash=chash, provenance=[path], overwrite=overwrite,
                           shard=shard_info, inputs=video_fingerprints(pf, ids)) as w:
        if w.skipped:
            return output
        for vid in track(ids, description="render-heatmaps", unit="video",
                         mode=progress):
            if w.is_complete(vid):
                continue
            with w.guard(vid, f"{path}:{vid}"):
                pose = clip_pose(pf, vid, source=cfg.pose_source, frames=cfg.frames, size=cfg.size,
                                 pad=cfg.pad)
                kp = pose.keypoints
                arrays: dict[str, np.ndarray] = {
                    "crop_box": pose.crop_box, "scores": pose.scores.astype(np.float32),
                    "keypoints2d": from_crop(kp, pose.crop_box, cfg.size).astype(np.float32)}
                scores_t = torch.as_tensor(pose.scores, dtype=torch.float32, device=device)
                kp_t = torch.as_tensor(kp, dtype=torch.float32, device=device)
                for size in sizes:
                    chunks = []
                    for s in range(0, len(kp), cfg.batch_size):
                        hm = level_map(kp_t[s:s + cfg.batch_size], scores_t[s:s + cfg.batch_size],
                                       cfg.size, size, cfg.channels, cfg.sigma)
                        chunks.append(hm.to(torch.float16).cpu().numpy())
                    arrays[f"heatmaps/{size}x{size}"] = np.concatenate(chunks)
                attrs = carry_video_attrs(pf, vid, output)
                if "frame_indices" in attrs:    # row -> video frame, for the rows kept
                    attrs["frame_indices"] = np.asarray(attrs["frame_indices"])[pose.frame_indices]
                attrs.update(pose_source=pose.source, channels=cfg.channels,
                             pose_rows=pose.frame_indices)
                w.write_video(vid, attrs, arrays)
        return w.finish()
