"""`render-heatmaps`: pose file -> finephys.heatmaps (multi-scale limb heatmaps, DESIGN §5.5)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..configs import config_hash
from ..console import track
from ..errors import InputError
from ..generation.heatmaps import SIGMA_AT_64, crop_box, render_heatmaps, to_crop
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
    source: str = "fused"
    pad: float = 0.15              # crop padding around the clip's joints
    batch_size: int = 64


def source_keypoints(pf: PoseFile, vid: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The 2D joints (px, original frame) and scores a source names."""
    scores = pf.read(vid, "scores") if pf.has(vid, "scores") else None
    if source == "detect":
        kp = pf.read(vid, "keypoints2d")
    elif source == "fused":
        if not pf.has(vid, "pose2d_fused"):
            raise InputError(f"{pf.path}: no pose2d_fused (run physnet first, or use "
                             f"--source detect)")
        kp = pf.read(vid, "pose2d_fused")
        scores = None   # the fused pose is complete: every joint is estimated
    elif source in ("dd", "pp"):
        name = f"pose3d_{source}"
        if not pf.has(vid, name):
            raise InputError(f"{pf.path}: no {name} for --source {source}")
        from ..data.normalize import denormalize_2d

        kp = denormalize_2d(pf.read(vid, name)[..., :2], pf.read(vid, "root2d"),
                            float(pf.read(vid, "scale")))
        scores = None
    else:
        raise InputError(f"--source must be fused, detect, dd or pp, got {source!r}")
    if scores is None:
        scores = np.ones(kp.shape[:2], np.float32)
    return kp.astype(np.float64), np.nan_to_num(scores.astype(np.float64))


def map_sizes(cfg: HeatmapConfig) -> list[int]:
    sizes = []
    for s in cfg.scales:
        if s < 1 or cfg.size % s:
            raise InputError(f"--scales: {s} does not divide --size {cfg.size}")
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
                           config_hash=chash, provenance=[path], overwrite=overwrite, shard=shard_info,
                           inputs=video_fingerprints(pf, ids)) as w:
        if w.skipped:
            return output
        for vid in track(ids, description="render-heatmaps", unit="video",
                         mode=progress):
            if w.is_complete(vid):
                continue
            kp, sc = source_keypoints(pf, vid, cfg.source)
            if np.isnan(kp).all():
                raise InputError(f"{path}: video {vid} has no valid joints")
            box = crop_box(kp, pad=cfg.pad)
            arrays: dict[str, np.ndarray] = {"crop_box": box, "keypoints2d": kp.astype(np.float32),
                                             "scores": sc.astype(np.float32)}
            scores_t = torch.as_tensor(sc, dtype=torch.float32, device=device)
            for size in sizes:
                kp_t = torch.as_tensor(to_crop(kp, box, size), dtype=torch.float32,
                                       device=device)
                chunks = []
                for s in range(0, len(kp), cfg.batch_size):
                    hm = render_heatmaps(kp_t[s:s + cfg.batch_size],
                                         scores_t[s:s + cfg.batch_size], (size, size),
                                         sigma=cfg.sigma * size / 64.0, channels=cfg.channels)
                    chunks.append(hm.to(torch.float16).cpu().numpy())
                arrays[f"heatmaps/{size}x{size}"] = np.concatenate(chunks)
            attrs = carry_video_attrs(pf, vid, output)
            attrs.update(heatmap_source=cfg.source, channels=cfg.channels)
            w.write_video(vid, attrs, arrays)
        return w.finish()
