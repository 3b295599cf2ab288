"""`synth`: physics-consistent synthetic gymnastics as a finephys.synth file (+ mannequin mp4s)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..configs import config_hash
from ..console import log, track
from ..data.camera import broadcast_camera
from ..data.classes import GymClass, select_classes
from ..data.detector_noise import NoiseConfig, observe
from ..data.synth_motion import PROGRAMS, centre_of_mass, generate_motion
from ..io.poses_h5 import PoseFileWriter


@dataclass
class SynthConfig:
    classes: str = "all"
    per_class: int = 4
    frames: int | None = None     # None: each motion's natural length
    fps: float = 25.0
    seed: int = 0
    size: int = 384
    noise: NoiseConfig = field(default_factory=NoiseConfig)


@dataclass
class SynthSample:
    video_id: str
    attrs: dict
    arrays: dict


def sample_id(gym_class: GymClass, index: int, seed: int) -> str:
    return f"fx{gym_class.gym99_class:02d}_s{seed}_{index:03d}"


def make_sample(cfg: SynthConfig, gym_class: GymClass, index: int) -> tuple[SynthSample, object]:
    """One sample, seeded by (seed, class, index) alone, so any subset reproduces exactly."""
    rng = np.random.default_rng([cfg.seed, gym_class.gym99_class, index])
    motion = generate_motion(gym_class, rng, fps=cfg.fps, frames=cfg.frames)
    cam = broadcast_camera(motion.joints, rng, size=cfg.size)
    cam_pts = cam.to_camera(motion.joints)
    exact = cam.project(motion.joints)
    obs = observe(exact, cam_pts[..., 2], cfg.fps, rng, cfg.noise)
    kp = obs.keypoints
    box = np.full((len(kp), 5), np.nan, dtype=np.float32)
    seen = ~np.isnan(kp).all(axis=(1, 2))
    if seen.any():
        box[seen, :2] = np.nanmin(kp[seen], axis=1)
        box[seen, 2:4] = np.nanmax(kp[seen], axis=1)
        box[seen, 4] = np.nanmean(obs.scores[seen], axis=1)
    prog = PROGRAMS[gym_class.gym99_class]
    t = len(kp)
    attrs = {
        "fps": cfg.fps, "n_frames": t, "width": cfg.size, "height": cfg.size,
        "frame_indices": np.arange(t), "label": gym_class.label,
        "gym99_class": gym_class.gym99_class, "subset": gym_class.subset,
        "turns": prog.turn, "saltos": prog.salto, "twists": prog.twist,
        "action_frames": list(motion.frame_action), "action_seconds": list(motion.t_action),
        "body_height_m": motion.body.height, "ankle_height_m": motion.body.ankle_h,
        "bone_lengths_m": motion.body.bone_lengths().tolist(), "seed": cfg.seed,
        "sample_index": index, "swapped_frames": int(obs.swapped.sum()),
        "missed_frames": int(obs.missed.sum()),
    }
    arrays = {
        "keypoints2d": kp, "scores": obs.scores, "bbox": box,
        "keypoints2d_exact": exact,
        # Ground truth stays float64: float32 would break bone-length constancy at 1e-6.
        "pose3d_world": motion.joints, "pose3d_camera": cam_pts,
        "camera_K": cam.K, "camera_R": cam.R, "camera_t": cam.t, "foot_contact": motion.contact,
        "com_world": centre_of_mass(motion.joints),
    }
    return SynthSample(sample_id(gym_class, index, cfg.seed), attrs, arrays), (motion, cam, rng)


def run_synth(cfg: SynthConfig, output: Path, *, videos: Path | None = None,
              overwrite: bool = False, progress: str = "auto") -> Path:
    classes = select_classes(cfg.classes)
    jobs = [(c, i) for c in classes for i in range(cfg.per_class)]
    chash = config_hash({**asdict(cfg), "videos": videos is not None})
    with PoseFileWriter(output, format="finephys.synth", config=asdict(cfg), config_hash=chash,
                        overwrite=overwrite,
                        root_attrs={"classes": [c.gym99_class for c in classes]}) as writer:
        if writer.skipped:
            return output
        for gym_class, index in track(jobs, description="synth", unit="clip", mode=progress):
            vid = sample_id(gym_class, index, cfg.seed)
            if writer.is_complete(vid):
                continue
            sample, (motion, cam, rng) = make_sample(cfg, gym_class, index)
            if videos is not None:
                from ..data.mannequin import MannequinRenderer
                from ..io.video import write_video

                frames = MannequinRenderer(cam, rng).render(motion.joints)
                mp4 = write_video(Path(videos) / f"{vid}.mp4", frames, fps=cfg.fps)
                sample.attrs["source_path"] = os.path.relpath(mp4, Path(output).parent)
            writer.write_video(vid, sample.attrs, sample.arrays)
        log.info("synth: %d clips of %d classes", len(jobs), len(classes))
        return writer.finish()
