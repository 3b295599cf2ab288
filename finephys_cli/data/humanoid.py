"""The DeepMimic humanoid body itself, posed from its mocap and rendered through a finephys camera
by pybullet's CPU renderer: a person-shaped test subject that is not our mannequin, with exact
2D/3D truth (the same body state gives the picture and the joints).

Used by `synth --motion deepmimic --render humanoid` for validation renders that the detector
sees as a user's video would be seen.
"""

from __future__ import annotations

import json

import numpy as np

from ..console import native_output_to_debug_log
from .camera import Camera
from .deepmimic import body_joints, clip_path, pose_body

# Leotard-like colours for the body and a skin tone for head and hands (RGBA 0-1).
_BODY_COLOURS = ((0.75, 0.12, 0.2), (0.1, 0.2, 0.6), (0.15, 0.45, 0.3), (0.5, 0.1, 0.55),
                 (0.85, 0.45, 0.1), (0.1, 0.1, 0.12))
_SKIN = ((0.93, 0.76, 0.64), (0.78, 0.57, 0.42), (0.55, 0.38, 0.26))
# URDF link indices of the neck (head sphere) and wrists (hand spheres).
_SKIN_LINKS = (2, 5, 8)


def raw_frames(name: str, allow_reserved: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(times (N,), raw DeepMimic frame vectors (N, 44)) of one clip."""
    frames = np.array(json.loads(clip_path(name, allow_reserved).read_text())["Frames"],
                      dtype=np.float64)
    return np.concatenate([[0.0], np.cumsum(frames[:-1, 0])]), frames


def nearest_frames(times: np.ndarray, fps: float, speed: float) -> np.ndarray:
    """Indices of the recorded frames nearest to each output frame at `fps`, played `speed`
    times faster. Nearest, not interpolated, so that picture and truth come from one body
    state."""
    t_new = np.arange(0.0, times[-1] / speed + 1e-9, 1.0 / fps) * speed
    return np.clip(np.searchsorted(times, t_new), 0, len(times) - 1)


class HumanoidScene:
    """One pybullet client with the humanoid and a floor; `pose` sets a frame (moved rigidly by
    x -> rotation·x + translation), `joints` reads H36M-17 back and `render` draws it through a
    `Camera`."""

    def __init__(self, rng: np.random.Generator):
        with native_output_to_debug_log():
            import pybullet as pb
            import pybullet_data

            self.pb = pb
            self.cid = pb.connect(pb.DIRECT)
            pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.cid)
            self.body = pb.loadURDF("humanoid/humanoid.urdf", [0, 0.8895, 0],
                                    globalScaling=0.25, physicsClientId=self.cid)
            # plane.urdf is z-up; DeepMimic's world is y-up.
            self.floor = pb.loadURDF("plane.urdf", [0, 0, 0],
                                     pb.getQuaternionFromEuler([-np.pi / 2, 0, 0]),
                                     physicsClientId=self.cid)
        body = _BODY_COLOURS[int(rng.integers(len(_BODY_COLOURS)))]
        skin = _SKIN[int(rng.integers(len(_SKIN)))]
        for link in range(-1, pb.getNumJoints(self.body, physicsClientId=self.cid)):
            colour = skin if link in _SKIN_LINKS else body
            pb.changeVisualShape(self.body, link, rgbaColor=[*colour, 1.0],
                                 physicsClientId=self.cid)

    def close(self) -> None:
        self.pb.disconnect(self.cid)

    def pose(self, frame: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> None:
        pose_body(self.pb, self.body, self.cid, frame, rotation, translation)

    def joints(self) -> np.ndarray:
        """H36M-17 world joints (17,3) m of the current body state (as `deepmimic.load_clip`)."""
        return body_joints(self.pb, self.body, self.cid)

    def render(self, cam: Camera, index: int) -> np.ndarray:
        """(H,W,3) uint8 through frame `index` of `cam` (OpenCV axes -> OpenGL view matrix)."""
        pb = self.pb
        w, h = cam.size
        flip = np.diag([1.0, -1.0, -1.0])
        view = np.eye(4)
        view[:3, :3] = flip @ cam.R[index]
        view[:3, 3] = flip @ cam.t[index]
        fov = float(np.degrees(2 * np.arctan(h / 2 / cam.K[1, 1])))
        proj = pb.computeProjectionMatrixFOV(fov, w / h, 0.1, 100.0)
        _, _, rgba, _, _ = pb.getCameraImage(w, h, view.T.reshape(-1).tolist(), proj,
                                             renderer=pb.ER_TINY_RENDERER,
                                             physicsClientId=self.cid)
        return np.asarray(rgba, np.uint8).reshape(h, w, 4)[..., :3].copy()
