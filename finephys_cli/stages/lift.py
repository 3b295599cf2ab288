"""`lift`: 2D pose file -> finephys.pose3d with S_dd (eq. 5), windowed and overlap-averaged."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..configs import config_hash, keyed_fields
from ..io.fingerprint import model_fingerprint
from ..console import track
from ..data.lift_data import Clip, clip_windows, overlap_mean
from ..errors import InputError, UsageError
from ..io.manifest import shard_output_path
from ..io.poses_h5 import (POSE2D_FORMATS, PoseFile, PoseFileWriter, carry_video_attrs,
                           skip_no_person,
                           shard_video_ids, video_fingerprints)
from ..models.registry import resolve_model
from ..models.batching import map_pieces
from ..models.lifter import InContextLifter

# Datasets passed through unchanged, so later stages and eval-poses find them.
PASSTHROUGH = ("keypoints2d", "scores", "bbox", "keypoints2d_exact", "pose3d_camera",
               "pose3d_world", "camera_K", "camera_R", "camera_t", "foot_contact")


@dataclass
class LiftConfig:
    model: str | None = None
    prompt_choice: str = "nearest"   # the in-context prompt pair: nearest (2D retrieval) or
                                     # random (torch's default generator, drawn in the caller)
    batch_size: int | None = None    # most windows per lifter call; None: 16 on CPU (cache-
    stride: int = 8                  # sized, 2x faster there than 256), 256 on CUDA; on CPU a
                                     # clip's windows are split evenly over the threads
    flip_average: bool = False       # average with the mirrored lift (InContextLifter.lift)


def lift_clip(model, kp2d: np.ndarray, scores: np.ndarray, device: str, batch: int,
              stride: int, prompt: str = "nearest", flip_average: bool = False
              ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(S_dd (T,17,3) normalised, root2d, scale, prompt indices per window)."""
    import torch

    f = model.config.frames
    batch = batch or (256 if str(device).startswith("cuda") else 16)
    clip = Clip("q", kp2d, scores, None)
    win = clip_windows(clip, f, stride)
    queries = torch.as_tensor(win["query"], dtype=torch.float32, device=device)
    # Random prompts are drawn here, in one thread, so the draw does not depend on how the
    # pieces are scheduled.
    chosen = model.choose_prompts(queries, prompt) if prompt == "random" and \
        model.config.use_prompt else None

    def lift_piece(rows):
        out, idx = model.lift(queries[rows], prompt, None if chosen is None else chosen[rows],
                              flip_average=flip_average)
        return out.float().cpu().numpy(), idx.cpu().numpy()

    rows = torch.arange(len(queries), device=device)
    preds, prompts = zip(*map_pieces(lift_piece, rows, batch, device))
    s_dd = overlap_mean(np.concatenate(preds), win["starts"], len(kp2d))
    return s_dd, win["root2d"], float(win["scale"]), np.concatenate(prompts)


def run_lift(cfg: LiftConfig, path: Path, output: Path, *, device: str = "cpu",
             overwrite: bool = False, progress: str = "auto", shard=None) -> Path:
    if (cfg.batch_size is not None and cfg.batch_size < 1) or cfg.stride < 1:
        raise UsageError(f"lift config: batch_size {cfg.batch_size!r} and stride {cfg.stride!r} "
                         "must be at least 1")
    model_dir = resolve_model("lifter", Path(cfg.model) if cfg.model else None)
    model = InContextLifter.from_pretrained(model_dir, device=device)
    chash = config_hash({**keyed_fields(cfg, {"flip_average": False}),
                         "model": str(model_dir.resolve()),
                         "model_digest": model_fingerprint(model_dir)})
    ids, shard_info = shard_video_ids(path, POSE2D_FORMATS, shard)
    output = shard_output_path(Path(output), shard)
    with PoseFile(path, formats=POSE2D_FORMATS) as pf, \
            PoseFileWriter(output, format="finephys.pose3d", config={**asdict(cfg),
                           "model": str(model_dir)}, config_hash=chash, provenance=[path],
                           overwrite=overwrite, shard=shard_info,
                           root_attrs={"lifter": str(model_dir)},
                           inputs=video_fingerprints(pf, ids)) as w:
        if w.skipped:
            return output
        for vid in track(ids, description="lift", unit="video", mode=progress):
            if w.is_complete(vid):
                continue
            with w.guard(vid, f"{path}:{vid}"):
                kp, sc = pf.read(vid, "keypoints2d"), pf.read(vid, "scores")
                if kp.ndim != 3 or kp.shape[1:] != (17, 2):
                    raise InputError(f"keypoints2d has shape {kp.shape}, expected (T,17,2)")
                if np.isnan(kp).all():
                    # detect's record of a video with no person: left out, not failed (a
                    # failure would fail again on every rerun and stop the chain; kept as
                    # NaN it stopped render-heatmaps and generate instead)
                    skip_no_person(w, path, vid)
                    continue
                dd, root, scale, prompts = lift_clip(model, kp.astype(np.float64),
                                                     np.nan_to_num(sc).astype(np.float64),
                                                     device, cfg.batch_size, cfg.stride,
                                                     cfg.prompt_choice, cfg.flip_average)
                arrays = {name: pf.read(vid, name) for name in PASSTHROUGH if pf.has(vid, name)}
                arrays.update(pose3d_dd=dd.astype(np.float32), root2d=root.astype(np.float32),
                              scale=np.float32(scale))
                attrs = carry_video_attrs(pf, vid, output)
                attrs.update(prompt_indices=prompts.tolist(), prompt_mode=cfg.prompt_choice,
                             missing_joint_fraction=float(np.isnan(kp).any(-1).mean()))
                w.write_video(vid, attrs, arrays)
        return w.finish()
