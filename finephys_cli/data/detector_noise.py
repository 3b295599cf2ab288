"""A detector-like 2D observation model for synthetic poses.

Errors follow what 2D detectors do on gymnastics: jitter that scales with the person's size and
grows with joint speed and with inverted poses, left/right swaps, joints dropped (NaN, low
score) under self-occlusion and in fast phases, and whole missed frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M_FLIP_PERM


@dataclass
class NoiseConfig:
    jitter_frac: float = 0.01       # σ of the jitter, as a fraction of the person's height in px
    speed_gain: float = 0.35        # σ grows by this per (person-heights / s) of joint speed
    inverted_gain: float = 1.0      # σ grows by this at a fully inverted torso
    swap_prob: float = 0.02         # per frame: a left/right swap of the arms or legs starts
    occlusion_drop: float = 0.35    # probability that a self-occluded joint is dropped
    fast_drop_speed: float = 4.0    # joint speed (person-heights / s) above which drops start
    fast_drop_prob: float = 0.25    # drop probability for joints above that speed
    frame_miss_prob: float = 0.02   # whole-frame misses
    score_high: tuple[float, float] = (0.75, 0.98)
    score_dropped: tuple[float, float] = (0.02, 0.25)


@dataclass
class NoisyObservation:
    keypoints: np.ndarray   # (T,17,2) px, NaN where dropped
    scores: np.ndarray      # (T,17)
    occluded: np.ndarray    # (T,17) bool
    swapped: np.ndarray     # (T,) bool
    missed: np.ndarray      # (T,) bool


_LEG_SWAP = np.array([0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
_ARM_SWAP = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13])
assert np.array_equal(_ARM_SWAP[_LEG_SWAP], np.array(H36M_FLIP_PERM))


def person_height_px(kp: np.ndarray) -> np.ndarray:
    """(T,17,2) -> (T,) the larger side of the per-frame box; robust for inverted poses."""
    span = np.nanmax(kp, axis=1) - np.nanmin(kp, axis=1)
    return np.maximum(span.max(-1), 1.0)


def observe(exact: np.ndarray, depth: np.ndarray, fps: float, rng: np.random.Generator,
            cfg: NoiseConfig) -> NoisyObservation:
    """exact: (T,17,2) projected joints; depth: (T,17) camera depth in m."""
    t = exact.shape[0]
    h = person_height_px(exact)                     # (T,)
    hclip = float(np.median(h))
    vel = np.gradient(exact, axis=0) * fps if t > 1 else np.zeros_like(exact)
    speed = np.linalg.norm(vel, axis=-1) / hclip    # person-heights per second
    torso = exact[:, 8] - exact[:, 0]               # image y points down
    inverted = np.clip(torso[:, 1] / np.maximum(np.linalg.norm(torso, axis=-1), 1e-6), 0, 1)
    sigma = cfg.jitter_frac * hclip * (1 + cfg.speed_gain * speed) \
        * (1 + cfg.inverted_gain * inverted[:, None])
    kp = exact + rng.normal(size=exact.shape) * sigma[..., None]
    # Self-occlusion: behind the torso in depth and inside its image band.
    a, b = exact[:, 0], exact[:, 8]
    ab = b - a
    u = np.clip(np.einsum("tjd,td->tj", exact - a[:, None], ab)
                / np.maximum((ab ** 2).sum(-1), 1e-6)[:, None], 0, 1)
    dist = np.linalg.norm(exact - (a[:, None] + u[..., None] * ab[:, None]), axis=-1)
    width = np.linalg.norm(exact[:, 11] - exact[:, 14], axis=-1)[:, None]
    torso_depth = 0.5 * (depth[:, 0] + depth[:, 8])[:, None]
    occluded = (depth > torso_depth + 0.08) & (dist < 0.6 * width + 2)
    occluded[:, [0, 7, 8]] = False
    scores = rng.uniform(*cfg.score_high, size=(t, 17))
    scores = scores * np.where(occluded, 0.6, 1.0) / (1 + 0.1 * speed)
    drop = (occluded & (rng.random((t, 17)) < cfg.occlusion_drop)) | \
        ((speed > cfg.fast_drop_speed) & (rng.random((t, 17)) < cfg.fast_drop_prob))
    # Left/right swaps in short runs.
    swapped = np.zeros(t, dtype=bool)
    i = 0
    while i < t:
        if rng.random() < cfg.swap_prob:
            run = int(rng.integers(1, 4))
            perm = _LEG_SWAP if rng.random() < 0.5 else _ARM_SWAP
            kp[i:i + run] = kp[i:i + run][:, perm]
            scores[i:i + run] = scores[i:i + run][:, perm] * 0.8
            swapped[i:i + run] = True
            i += run
        else:
            i += 1
    missed = rng.random(t) < cfg.frame_miss_prob
    drop |= missed[:, None]
    scores = np.where(drop, rng.uniform(*cfg.score_dropped, size=(t, 17)), scores)
    scores[missed] = 0.0
    kp[drop] = np.nan
    return NoisyObservation(kp.astype(np.float32), scores.astype(np.float32), occluded,
                            swapped, missed)


def film(joints: np.ndarray, rng: np.random.Generator, fps: float, size: int = 384,
         cfg: NoiseConfig | None = None):
    """World joints (T,17,3) seen by a random broadcast camera: (camera, camera-frame joints,
    exact 2D, detector-like observation)."""
    from .camera import broadcast_camera

    cam = broadcast_camera(joints, rng, size=size)
    cam_pts = cam.to_camera(joints)
    exact = cam.project(joints)
    return cam, cam_pts, exact, observe(exact, cam_pts[..., 2], fps, rng, cfg or NoiseConfig())
