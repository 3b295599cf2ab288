"""Real motion capture that ships offline: the DeepMimic humanoid clips inside `pybullet`
(retargeted CMU/SFU mocap), turned into H36M-17 joints by forward kinematics through pybullet.

`humanoid3d_backflip`, `humanoid3d_cartwheel` and `humanoid3d_spinkick` are reserved for external
held-out evaluation: the reader refuses them unless `allow_reserved=True`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..console import native_output_to_debug_log
from ..errors import InputError

RESERVED = ("humanoid3d_backflip", "humanoid3d_cartwheel", "humanoid3d_spinkick")
# Frame layout: dt, root xyz, root quat wxyz, then (joint index in the URDF, dofs) in this order.
_LAYOUT = ((1, 4), (2, 4), (9, 4), (10, 1), (11, 4), (3, 4), (4, 1), (12, 4), (13, 1), (14, 4),
           (6, 4), (7, 1))
# H36M joint <- URDF link (None: derived).
_LINKS = {0: 0, 1: 9, 2: 10, 3: 11, 4: 12, 5: 13, 6: 14, 11: 6, 12: 7, 13: 8, 14: 3, 15: 4,
          16: 5}


def refuse_reserved(pf, allow_reserved: bool) -> None:
    """Refuse a finephys file that holds reserved clips (synth marks it `contains_reserved`)."""
    if bool(pf.attrs.get("contains_reserved", False)) and not allow_reserved:
        raise InputError(f"{pf.path} contains reserved held-out DeepMimic clips; they are "
                         f"never used for training, validation or tuning")


def motions_dir() -> Path:
    try:
        import pybullet_data
    except ImportError as exc:
        raise InputError("DeepMimic clips need the pybullet package (pip install pybullet)") \
            from exc
    return Path(pybullet_data.getDataPath()) / "data" / "motions"


def available_clips(allow_reserved: bool = False) -> list[str]:
    names = sorted(p.stem for p in motions_dir().glob("humanoid3d_*.txt"))
    return [n for n in names if allow_reserved or n not in RESERVED]


def _wxyz_to_xyzw(q: np.ndarray) -> list[float]:
    return [float(q[1]), float(q[2]), float(q[3]), float(q[0])]


@lru_cache(maxsize=32)
def clip_path(name: str, allow_reserved: bool = False) -> Path:
    """The motion file of a clip; refuses the reserved clips and names that are not clips."""
    if name in RESERVED and not allow_reserved:
        raise InputError(f"{name} is reserved for external held-out evaluation; it is never "
                         f"used for training, validation or tuning")
    path = motions_dir() / f"{name}.txt"
    if not path.is_file():
        raise InputError(f"no DeepMimic clip {name!r} (have {', '.join(available_clips())})")
    return path


def load_clip(name: str, allow_reserved: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(times (N,), H36M-17 world joints (N,17,3) m, y up) of one clip at its own frame rate."""
    path = clip_path(name, allow_reserved)
    frames = np.array(json.loads(path.read_text())["Frames"], dtype=np.float64)
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    return times, frames_to_joints(frames)


def frames_to_joints(frames: np.ndarray) -> np.ndarray:
    """Raw DeepMimic frame vectors (N, 44) -> H36M-17 world joints (N,17,3) m, by pybullet's
    forward kinematics of the humanoid."""
    with native_output_to_debug_log():
        import pybullet as pb
        import pybullet_data

        cid = pb.connect(pb.DIRECT)
    try:
        with native_output_to_debug_log():
            pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=cid)
            body = pb.loadURDF("humanoid/humanoid.urdf", [0, 0.8895, 0], globalScaling=0.25,
                               physicsClientId=cid)
        out = np.zeros((len(frames), 17, 3))
        for i, fr in enumerate(frames):
            pose_body(pb, body, cid, fr)
            out[i] = body_joints(pb, body, cid)
    finally:
        pb.disconnect(cid)
    return out


# Columns of the hip and shoulder quaternions (wxyz) in a raw frame (see _LAYOUT), and the
# largest offset about each local axis (x, y, z; z is the knee's and elbow's hinge axis, so
# flexion). Legs swing up to about 100 degrees front or back and 45 out, arms up to 140.
LIMB_QUAT_COLUMNS = {"right_hip": 16, "left_hip": 30, "right_shoulder": 25, "left_shoulder": 39}
_LIMB_REACH = {"right_hip": (0.8, 0.3, 1.8), "left_hip": (0.8, 0.3, 1.8),
               "right_shoulder": (1.2, 0.5, 2.4), "left_shoulder": (1.2, 0.5, 2.4)}


def limb_offsets(n: int, rng: np.random.Generator, keys: int = 4,
                 limb_probability: float = 0.5) -> np.ndarray:
    """Smooth random rotation vectors (n, 4, 3) rad for the hips and shoulders (in
    LIMB_QUAT_COLUMNS order): each limb, with `limb_probability` (at least one limb always),
    eases through `keys` random offsets spread evenly over the n frames (a smoothstep between
    keys), else stays at zero.
    They raise legs and arms into kicks, splits and leaps that the training mocap lacks."""
    out = np.zeros((n, len(LIMB_QUAT_COLUMNS), 3))
    s = np.linspace(0.0, keys - 1.0, n)
    seg = np.minimum(s.astype(int), keys - 2)
    u = s - seg
    ease = (u * u * (3.0 - 2.0 * u))[:, None]
    active = rng.random(len(LIMB_QUAT_COLUMNS)) < limb_probability
    if not active.any():          # a swung clip swings at least one limb
        active[rng.integers(len(active))] = True
    for k, name in enumerate(LIMB_QUAT_COLUMNS):
        key = rng.uniform(-1.0, 1.0, (keys, 3)) * np.array(_LIMB_REACH[name])
        if active[k]:
            out[:, k] = key[seg] * (1.0 - ease) + key[seg + 1] * ease
    return out


def apply_limb_offsets(frames: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Raw frames (N, 44) with each hip and shoulder rotation followed by its offset (N, 4, 3),
    a rotation vector in the joint's own frame."""
    from scipy.spatial.transform import Rotation

    out = np.array(frames, dtype=np.float64, copy=True)
    for k, col in enumerate(LIMB_QUAT_COLUMNS.values()):
        wxyz = out[:, col:col + 4]
        turned = Rotation.from_quat(wxyz[:, [1, 2, 3, 0]]) * Rotation.from_rotvec(offsets[:, k])
        out[:, col:col + 4] = turned.as_quat()[:, [3, 0, 1, 2]]
    return out


def pose_body(pb, body: int, cid: int, frame: np.ndarray,
              rotation: np.ndarray | None = None, translation: np.ndarray | None = None) -> None:
    """Set the humanoid to one raw DeepMimic frame, moved rigidly by x -> rotation·x +
    translation (the clip's world motion for this frame)."""
    pos, orn = frame[1:4], _wxyz_to_xyzw(frame[4:8])
    if rotation is not None:
        from scipy.spatial.transform import Rotation

        pos = np.asarray(rotation) @ pos + (0.0 if translation is None else translation)
        orn = (Rotation.from_matrix(rotation) * Rotation.from_quat(orn)).as_quat().tolist()
    pb.resetBasePositionAndOrientation(body, list(map(float, pos)), orn, physicsClientId=cid)
    k = 8
    for joint, dofs in _LAYOUT:
        val = frame[k:k + dofs]
        k += dofs
        target = _wxyz_to_xyzw(val) if dofs == 4 else [float(val[0])]
        pb.resetJointStateMultiDof(body, joint, target, physicsClientId=cid)


def body_joints(pb, body: int, cid: int) -> np.ndarray:
    """H36M-17 world joints (17,3) m of the humanoid's current state in client `cid`."""
    out = np.zeros((17, 3))
    links = {j: np.array(pb.getLinkState(body, j, physicsClientId=cid)[4])
             for j in set(_LINKS.values()) | {2}}
    for h36m, link in _LINKS.items():
        out[h36m] = links[link]
    neck_rot = np.array(pb.getMatrixFromQuaternion(
        pb.getLinkState(body, 2, physicsClientId=cid)[5])).reshape(3, 3)
    out[8] = 0.5 * (out[11] + out[14])
    out[7] = 0.5 * (out[0] + out[8])
    # Nose and head top are not links: approximated along the neck link's up axis.
    out[9] = links[2] + neck_rot @ np.array([0.0, 0.08, 0.03])
    out[10] = links[2] + neck_rot @ np.array([0.0, 0.2, 0.0])
    return out


def resample(times: np.ndarray, joints: np.ndarray, fps: float, speed: float = 1.0
             ) -> np.ndarray:
    """Linear resampling of joint positions to `fps`, played `speed` times faster."""
    t_new = np.arange(0.0, times[-1] / speed + 1e-9, 1.0 / fps) * speed
    flat = joints.reshape(len(joints), -1)
    return np.stack([np.interp(t_new, times, flat[:, k]) for k in range(flat.shape[1])],
                    -1).reshape(len(t_new), 17, 3)
