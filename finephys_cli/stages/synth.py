"""`synth`: physics-consistent synthetic gymnastics as a finephys.synth file (+ mannequin mp4s)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..configs import config_hash, keyed_fields
from ..console import log, track
from ..errors import InputError, UsageError
from ..data.classes import GymClass, select_classes
from ..data.detector_noise import NoiseConfig, film
from ..data.synth_motion import PROGRAMS, centre_of_mass, generate_motion, rot_y
from ..io.poses_h5 import PoseFileWriter
from ..data.deepmimic import apply_limb_offsets, frames_to_joints, limb_offsets, load_clip, resample
from ..data.humanoid import HumanoidScene, raw_frames
from ..skeleton import flip_h36m


@dataclass
class SynthConfig:
    motion: str = "synth"         # "synth" (the FX class programs) or "deepmimic" (real mocap)
    clips: str = "all"            # deepmimic clip names, comma-separated (reserved ones refused)
    classes: str = "all"
    per_class: int = 4
    frames: int | None = None     # None: each motion's natural length
    fps: float = 25.0
    seed: int = 0
    size: int = 384
    mannequin: str = "shaded"     # shaded, parts (a hue per limb; pose fidelity), or humanoid
                                  # (deepmimic: the mocap's body, rendered by pybullet)
    tumble: float = 0.0           # deepmimic: the fraction of clips spun head over heels
    limb_jitter: float = 0.0      # deepmimic: the fraction of clips whose hips and shoulders
                                  # swing through random offsets (kicks, splits; `limb_offsets`)
    noise: NoiseConfig = field(default_factory=NoiseConfig)


@dataclass
class SynthSample:
    video_id: str
    attrs: dict
    arrays: dict


def sample_id(gym_class: GymClass, index: int, seed: int) -> str:
    return f"fx{gym_class.gym99_class:02d}_s{seed}_{index:03d}"


def _observe(cfg: SynthConfig, joints: np.ndarray, rng: np.random.Generator
             ) -> tuple[dict, dict, object]:
    """Camera, exact projection and detector-like 2D for world joints; (attrs, arrays, camera)."""
    cam, cam_pts, exact, obs = film(joints, rng, cfg.fps, cfg.size, cfg.noise)
    kp = obs.keypoints
    box = np.full((len(kp), 5), np.nan, dtype=np.float32)
    seen = ~np.isnan(kp).all(axis=(1, 2))
    if seen.any():
        box[seen, :2] = np.nanmin(kp[seen], axis=1)
        box[seen, 2:4] = np.nanmax(kp[seen], axis=1)
        box[seen, 4] = np.nanmean(obs.scores[seen], axis=1)
    t = len(kp)
    attrs = {"fps": cfg.fps, "n_frames": t, "width": cfg.size, "height": cfg.size,
             "frame_indices": np.arange(t), "seed": cfg.seed,
             "swapped_frames": int(obs.swapped.sum()), "missed_frames": int(obs.missed.sum())}
    arrays = {
        "keypoints2d": kp, "scores": obs.scores, "bbox": box, "keypoints2d_exact": exact,
        # Ground truth stays float64: float32 would break bone-length constancy at 1e-6.
        "pose3d_world": joints, "pose3d_camera": cam_pts,
        "camera_K": cam.K, "camera_R": cam.R, "camera_t": cam.t,
        "com_world": centre_of_mass(joints),
    }
    return attrs, arrays, cam


def make_sample(cfg: SynthConfig, gym_class: GymClass, index: int) -> tuple[SynthSample, object]:
    """One sample, seeded by (seed, class, index) alone, so any subset reproduces exactly."""
    rng = np.random.default_rng([cfg.seed, gym_class.gym99_class, index])
    motion = generate_motion(gym_class, rng, fps=cfg.fps, frames=cfg.frames)
    attrs, arrays, cam = _observe(cfg, motion.joints, rng)
    prog = PROGRAMS[gym_class.gym99_class]
    attrs.update({
        "label": gym_class.label, "gym99_class": gym_class.gym99_class,
        "subset": gym_class.subset, "turns": prog.turn, "saltos": prog.salto,
        "twists": prog.twist, "action_frames": list(motion.frame_action),
        "action_seconds": list(motion.t_action), "body_height_m": motion.body.height,
        "ankle_height_m": motion.body.ankle_h,
        "bone_lengths_m": motion.body.bone_lengths().tolist(), "sample_index": index,
    })
    arrays["foot_contact"] = motion.contact
    return SynthSample(sample_id(gym_class, index, cfg.seed), attrs, arrays), (motion.joints, cam,
                                                                              rng)


def tumble_transform(joints: np.ndarray, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray, dict]:
    """A per-frame rigid motion x -> R_t x + b_t that spins a clip about a random horizontal
    axis through its pelvis (a start tilt, then 1/2 to 3/2 turns over the clip) and lifts each
    frame clear of the floor: inverted and rotating bodies from mocap that has none (the
    DeepMimic clips left to train on are upright, the gymnastics is not)."""
    from scipy.spatial.transform import Rotation

    t = len(joints)
    phi = rng.uniform(0.0, 2 * np.pi)
    axis = np.array([np.cos(phi), 0.0, np.sin(phi)])
    start = rng.uniform(0.0, 2 * np.pi)
    total = rng.choice([-1.0, 1.0]) * rng.uniform(np.pi, 3 * np.pi)
    angle = start + total * np.linspace(0.0, 1.0, t)
    rot = Rotation.from_rotvec(angle[:, None] * axis).as_matrix()
    pelvis = joints[:, 0]
    shift = pelvis - np.einsum("tij,tj->ti", rot, pelvis)
    spun = np.einsum("tij,tkj->tki", rot, joints) + shift[:, None]
    shift[:, 1] += np.maximum(0.0, 0.1 - spun[..., 1].min(1))
    return rot, shift, {"tumble_axis": axis, "tumble_rad": [start, total]}


_WARNED_SHORT: set[str] = set()


def _warn_short_clip(clip: str, length: int, frames: int, fps: float) -> None:
    """Once per clip: `--frames` asks for more than the mocap lasts, so its samples keep the
    clip's own length (it varies a little with each sample's speed)."""
    if clip not in _WARNED_SHORT:
        _WARNED_SHORT.add(clip)
        log.warning("synth: %s lasts about %d frames at %g fps, fewer than --frames %d; its "
                    "samples keep their own length", clip, length, fps, frames)


def make_mocap_sample(cfg: SynthConfig, clip: str, index: int, allow_reserved: bool = False
                      ) -> tuple[SynthSample, object]:
    """A DeepMimic clip with a random speed, heading, mirror and camera, spun head over heels
    with probability `cfg.tumble` (`tumble_transform`), its hips and shoulders swung with
    probability `cfg.limb_jitter` (`limb_offsets`)."""
    import zlib

    from ..data.humanoid import nearest_frames

    seed_key = [cfg.seed, zlib.crc32(clip.encode()), index]
    rng = np.random.default_rng(seed_key)
    times, joints = load_clip(clip, allow_reserved)
    speed = float(rng.uniform(0.85, 1.15))
    extra: dict = {}
    # Its own generator, like the tumble's, so that clips without it are drawn as before.
    limb_rng = np.random.default_rng([*seed_key, 2])
    offsets, plain = None, joints
    if limb_rng.random() < cfg.limb_jitter:
        offsets = limb_offsets(len(times), limb_rng, keys=2 + int(times[-1] / 0.7))
        joints = frames_to_joints(apply_limb_offsets(raw_frames(clip, allow_reserved)[1],
                                                     offsets))
    idx = nearest_frames(times, cfg.fps, speed)
    if cfg.mannequin == "humanoid":
        # The body itself is drawn, so each output frame is one recorded body state (nearest
        # in time, not interpolated) and there is no mirror: picture and truth stay one state.
        joints, plain = joints[idx], plain[idx]
        extra["mocap_frames"] = idx
    else:
        joints, plain = (resample(times, j, cfg.fps, speed) for j in (joints, plain))
        extra["mirrored"] = bool(rng.random() < 0.5)
        if extra["mirrored"]:   # mirror through the sagittal (x-y) plane, left and right swapped
            joints, plain = (flip_h36m(j[..., [2, 1, 0]])[..., [2, 1, 0]] for j in (joints, plain))
    if offsets is not None:
        # The humanoid is drawn from these; for the mannequins they are a record (at the
        # recorded frame nearest each output frame).
        extra["limb_offsets_rad"] = offsets[idx[:len(joints)]]
    yaw = float(rng.uniform(-0.6, 0.6))
    heading = rot_y(np.array(yaw))
    centre = joints[0, 0] * np.array([1.0, 0.0, 1.0])
    # The clip's world motion x -> R_t x + b_t: the tumble (if any), then heading and centring.
    rot = np.broadcast_to(np.eye(3), (len(joints), 3, 3))
    shift = np.zeros((len(joints), 3))
    # Its own generator, so that `tumble` leaves the camera and noise draws as they were.
    spin_rng = np.random.default_rng([*seed_key, 1])
    tumbled = spin_rng.random() < cfg.tumble
    if tumbled:
        rot, shift, spin = tumble_transform(joints, spin_rng)
        extra.update(spin)
    rot = heading @ rot
    shift = (shift - centre) @ heading.T
    joints = np.einsum("tij,tkj->tki", rot, joints) + shift[:, None]
    if offsets is not None and not tumbled:
        # A leg swung back would go into the floor: lift the body by how much lower the swing
        # put its lowest joint than the mocap's own, so the mocap's floor contacts stay as
        # they were (the tumble already lifts a spun body clear).
        plain = np.einsum("tij,tkj->tki", rot, plain) + shift[:, None]
        lift = np.maximum(0.0, plain[..., 1].min(1) - joints[..., 1].min(1))
        joints[..., 1] += lift[:, None]
        shift = shift + lift[:, None] * np.array([0.0, 1.0, 0.0])
        extra["limb_lift_m"] = lift
    if cfg.frames is not None:
        # Cut after the world motion, so a tumble keeps its pace (its turns span the whole
        # clip) instead of packing them into the first `frames`.
        if cfg.frames > len(joints):
            _warn_short_clip(clip, len(joints), cfg.frames, cfg.fps)
        joints, rot, shift = joints[: cfg.frames], rot[: cfg.frames], shift[: cfg.frames]
        for name in ("mocap_frames", "limb_offsets_rad", "limb_lift_m"):
            if name in extra:
                extra[name] = extra[name][: cfg.frames]
    extra.update(heading_rad=yaw, world_offset_m=centre, world_rotation=rot,
                 world_translation_m=shift)
    attrs, arrays, cam = _observe(cfg, joints, rng)
    attrs.update({"label": clip.replace("humanoid3d_", "").replace("_", " "), "gym99_class": -1,
                  "subset": "DeepMimic", "mocap_clip": clip, "speed": speed,
                  "sample_index": index, **extra})
    vid = f"{clip.replace('humanoid3d_', 'dm_')}_s{cfg.seed}_{index:03d}"
    return SynthSample(vid, attrs, arrays), (joints, cam, rng)


def render_sample(cfg: SynthConfig, sample: SynthSample, joints: np.ndarray, cam,
                  rng: np.random.Generator) -> np.ndarray:
    """The clip's frames (T,H,W,3): our mannequin, or the DeepMimic humanoid in its own pose."""
    if cfg.mannequin != "humanoid":
        from ..data.mannequin import MannequinRenderer

        return MannequinRenderer(cam, rng, cfg.mannequin).render(joints)

    a = sample.attrs
    _, raw = raw_frames(a["mocap_clip"], allow_reserved=True)   # make_mocap_sample guarded it
    scene = HumanoidScene(rng)
    try:
        out = []
        frames = a["mocap_frames"][:len(joints)]
        if "limb_offsets_rad" in a:
            raw = apply_limb_offsets(raw[frames], a["limb_offsets_rad"][:len(joints)])
            frames = np.arange(len(raw))
        for k, i in enumerate(frames):
            scene.pose(raw[i], a["world_rotation"][k], a["world_translation_m"][k])
            out.append(scene.render(cam, k))
        return np.stack(out)
    finally:
        scene.close()


def missing_videos(output: Path, chash: str, videos: Path) -> list[str]:
    """Video ids of a finished `output` with this key whose mp4 is not in `videos`."""
    import h5py

    if not Path(output).is_file():
        return []
    try:
        with h5py.File(output, "r") as f:
            if f.attrs.get("config_hash") != chash or not f.attrs.get("complete", False):
                return []
            ids = list(f["videos"]) if "videos" in f else []
    except OSError:
        return []
    return [vid for vid in ids if not (Path(videos) / f"{vid}.mp4").is_file()]


def check_config(cfg: SynthConfig) -> None:
    """Option values that no sample can be made with: a usage error (exit 2) before the output
    is opened, whether they came from the options, -c or --set."""
    import math

    def number(value, kind=(int, float)) -> bool:
        return isinstance(value, kind) and not isinstance(value, bool)

    if not (number(cfg.fps) and math.isfinite(cfg.fps) and cfg.fps > 0):
        raise UsageError(f"--fps must be a frame rate above 0, got {cfg.fps!r}")
    if cfg.frames is not None and not (number(cfg.frames, int) and cfg.frames >= 1):
        raise UsageError(f"--frames must be at least 1 (or unset for each motion's natural "
                         f"length), got {cfg.frames!r}")
    if not (number(cfg.per_class, int) and cfg.per_class >= 1):
        raise UsageError(f"--per-class must be at least 1, got {cfg.per_class!r}")
    if not (number(cfg.size, int) and cfg.size >= 16):
        raise UsageError(f"--size must be at least 16 px, got {cfg.size!r}")


def run_synth(cfg: SynthConfig, output: Path, *, videos: Path | None = None,
              overwrite: bool = False, progress: str = "auto",
              allow_reserved: bool = False) -> Path:
    _WARNED_SHORT.clear()
    check_config(cfg)
    if cfg.motion == "synth":
        classes = select_classes(cfg.classes)
        jobs = [(sample_id(c, i, cfg.seed), (lambda c=c, i=i: make_sample(cfg, c, i)))
                for c in classes for i in range(cfg.per_class)]
        root = {"classes": [c.gym99_class for c in classes]}
    elif cfg.motion == "deepmimic":
        from ..data.deepmimic import RESERVED, available_clips, clip_path

        names = available_clips(allow_reserved) if cfg.clips == "all" else \
            [c.strip() if c.strip().startswith("humanoid3d_") else f"humanoid3d_{c.strip()}"
             for c in cfg.clips.split(",") if c.strip()]
        if not names:
            raise UsageError(f"--clips {cfg.clips!r} names no clip")
        for name in names:     # before the output is opened: a misspelt name leaves no .partial
            try:
                clip_path(name, allow_reserved)
            except InputError as exc:  # a misspelt or reserved name: the option's value
                raise UsageError(f"--clips: {exc}") from exc
        jobs = [(f"{n.replace('humanoid3d_', 'dm_')}_s{cfg.seed}_{i:03d}",
                 (lambda n=n, i=i: make_mocap_sample(cfg, n, i, allow_reserved)))
                for n in names for i in range(cfg.per_class)]
        root = {"mocap_clips": names,
                "contains_reserved": any(n in RESERVED for n in names)}
    else:
        raise UsageError(f"--motion must be synth or deepmimic, got {cfg.motion!r}")
    # The videos folder is part of the key: the file's source paths point into it.
    chash = config_hash({**keyed_fields(cfg, {"limb_jitter": 0.0}),
                         "videos": str(Path(videos).resolve()) if videos is not None else False,
                         "allow_reserved": allow_reserved})
    missing = missing_videos(output, chash, videos) if videos is not None and not overwrite \
        else []
    if missing:
        log.warning("synth: %s is up to date but %d of its videos %s missing from %s "
                    "(%s%s); making it again", output, len(missing),
                    "is" if len(missing) == 1 else "are", videos,
                    ", ".join(missing[:3]), " ..." if len(missing) > 3 else "")
        overwrite = True
    # A failure past this point (a sample that cannot be made, a full disk) leaves no
    # OUT.partial: synth's samples are made again from the config alone. Ctrl-C keeps it.
    with PoseFileWriter(output, format="finephys.synth", config=asdict(cfg), config_hash=chash,
                        overwrite=overwrite, root_attrs=root, discard_on_error=True) as writer:
        if writer.skipped:
            return output
        for vid, factory in track(jobs, description="synth", unit="clip", mode=progress):
            if writer.is_complete(vid):
                continue
            sample, (joints, cam, rng) = factory()
            if videos is not None:
                from ..io.video import write_video

                frames = render_sample(cfg, sample, joints, cam, rng)
                mp4 = write_video(Path(videos) / f"{vid}.mp4", frames, fps=cfg.fps)
                sample.attrs["source_path"] = os.path.relpath(mp4, Path(output).parent)
            writer.write_video(vid, sample.attrs, sample.arrays)
        log.info("synth: %d clips", len(jobs))
        return writer.finish()
