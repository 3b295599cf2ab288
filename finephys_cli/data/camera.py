"""Pinhole cameras in OpenCV axes (x right, y down, z forward): X_cam = R·X_world + t."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Camera:
    K: np.ndarray   # (3,3) intrinsics, px
    R: np.ndarray   # (T,3,3) world -> camera rotation, per frame (the camera may pan)
    t: np.ndarray   # (T,3) translation, m
    size: tuple[int, int]  # (width, height) px

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """(T,J,3) world -> (T,J,3) camera coordinates."""
        return np.einsum("tij,tkj->tki", self.R, world) + self.t[:, None]

    def project(self, world: np.ndarray) -> np.ndarray:
        return project_points(self.to_camera(world), self.K)


def project_points(cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Perspective projection of camera-frame points (…,3) to pixels (…,2)."""
    z = cam[..., 2:3]
    return (cam[..., :2] / z) * np.array([K[0, 0], K[1, 1]]) + np.array([K[0, 2], K[1, 2]])


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 1.0, 0.0])
            ) -> tuple[np.ndarray, np.ndarray]:
    """Rotation rows (right, down, forward) and t = -R·eye, batched over leading dims."""
    f = target - eye
    f = f / np.linalg.norm(f, axis=-1, keepdims=True)
    r = np.cross(f, up)
    r = r / np.linalg.norm(r, axis=-1, keepdims=True)
    d = np.cross(f, r)
    rot = np.stack([r, d, f], axis=-2)
    return rot, -np.einsum("...ij,...j->...i", rot, eye)


def broadcast_camera(joints: np.ndarray, rng: np.random.Generator, size: int = 384,
                     margin: float = 0.06) -> Camera:
    """A broadcast-like camera: mostly a side view of the travel axis (x), 6-11 m away,
    1-2.2 m high, panning to follow the performer, zoomed so the whole clip stays in frame."""
    com_x = joints[:, 0, 0]
    centre = np.array([float(com_x.mean()), 0.0, float(joints[:, 0, 2].mean())])
    dist = float(rng.uniform(6.0, 11.0))
    yaw = float(rng.normal(0.0, 0.25)) + (np.pi if rng.random() < 0.5 else 0.0)
    height = float(rng.uniform(1.0, 2.2))
    eye = centre + np.array([dist * np.sin(yaw), height, dist * np.cos(yaw)])
    pan = float(rng.uniform(0.4, 0.9))
    aim_h = float(rng.uniform(0.8, 1.2))
    target_x = centre[0] + pan * (com_x - centre[0])
    # Pan smoothly: a broadcast operator lags the action a little.
    kernel = np.ones(5) / 5
    target_x = np.convolve(np.pad(target_x, 2, mode="edge"), kernel, mode="valid")
    targets = np.stack([target_x, np.full_like(target_x, aim_h), np.full_like(target_x,
                                                                               centre[2])], -1)
    rot, t = look_at(np.broadcast_to(eye, targets.shape), targets)
    cam_pts = np.einsum("tij,tkj->tki", rot, joints) + t[:, None]
    # Widest normalised extent over the clip, then the focal that fits it with a margin.
    extent = np.abs(cam_pts[..., :2] / cam_pts[..., 2:3]).max()
    zoom = float(rng.uniform(0.75, 1.0))
    focal = zoom * (0.5 - margin) * size / extent
    K = np.array([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]])
    return Camera(K=K, R=rot, t=t, size=(size, size))
