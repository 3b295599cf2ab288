"""Pose fidelity (ours; not in the paper): does a generated video follow its skeleton?

The pose is detected in every generated frame with the `detect` stage's detector and performer
selection (by the caller: metrics sit below the stages), and compared with the conditioning skeleton from the generate sidecar (both in the
generated frame's pixels): PCK@α of the skeleton's box (the larger side of its per-frame
bounding box), the mean pixel error over detected joints, and the fraction of joints detected.
"""

from __future__ import annotations

import numpy as np

from .pose import box_size, pck
from ..data.mannequin import PART_HUES


def pose_fidelity(detected: np.ndarray, skeleton: np.ndarray, alpha: float = 0.1
                  ) -> dict[str, float]:
    """The H36M joints detected in the generated frames (T,17,2), by the caller's `detect`
    detector and performer selection, against the conditioning skeleton (T,17,2) px."""
    return compare_skeletons(np.asarray(detected, dtype=np.float64),
                             np.asarray(skeleton, dtype=np.float64), alpha)


def compare_skeletons(located: np.ndarray, target: np.ndarray, alpha: float = 0.1,
                      box_of: np.ndarray | None = None) -> dict[str, float]:
    """Located points (T,K,2) against their targets (T,K,2); PCK's box is that of `box_of`
    (the whole skeleton) when the targets are not joints themselves (limb midpoints)."""
    ref = box_size(target if box_of is None else box_of)
    gt_ok = ~np.isnan(target).any(-1)
    found = ~np.isnan(located).any(-1) & gt_ok
    err = np.linalg.norm(located - target, axis=-1)
    return {"pck": pck(located, target, alpha, box_of),
            "px_error": float(err[found].mean()) if found.any() else float("nan"),
            "px_error_rel": float((err / ref)[found].mean()) if found.any() else float("nan"),
            "detected": float(found.sum() / max(gt_ok.sum(), 1))}


def locate_parts(frames: np.ndarray, hue_tol: float = 14.0, min_pixels: int = 3
                 ) -> np.ndarray:
    """Centroids of the colour-coded limb segments of a `--mannequin parts` rendering:
    (T, 8, 2) px, NaN where a segment's hue covers fewer than `min_pixels` pixels. The order is
    that of data.mannequin.PART_HUES."""

    rgb = frames.astype(np.float64) / 255.0
    mx, mn = rgb.max(-1), rgb.min(-1)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-9), 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    d = np.maximum(mx - mn, 1e-9)
    hue = np.where(mx == r, ((g - b) / d) % 6, np.where(mx == g, (b - r) / d + 2,
                                                          (r - g) / d + 4)) * 60.0
    vivid = (sat > 0.55) & (mx > 0.3)
    ys, xs = np.mgrid[: frames.shape[1], : frames.shape[2]]
    out = np.full((len(frames), len(PART_HUES), 2), np.nan)
    for k, h in enumerate(PART_HUES.values()):
        near = vivid & (np.abs((hue - h + 180) % 360 - 180) < hue_tol)
        for t in range(len(frames)):
            m = near[t]
            if m.sum() >= min_pixels:
                out[t, k] = xs[m].mean(), ys[m].mean()
    return out


def part_fidelity(frames: np.ndarray, skeleton: np.ndarray, alpha: float = 0.1
                  ) -> dict[str, float]:
    """Colour-located limb centroids against the conditioning skeleton's bone midpoints."""

    mids = np.stack([(skeleton[:, a] + skeleton[:, b]) / 2 for a, b in PART_HUES], axis=1)
    return compare_skeletons(locate_parts(frames), mids, alpha, box_of=skeleton)


def mannequin_frames(frames: np.ndarray, min_parts: int = 4) -> float:
    """Share of frames in which a colour-coded mannequin is found: at least `min_parts` of its
    8 limb segments located (no skeleton needed; how an unguided video is judged)."""
    located = ~np.isnan(locate_parts(frames)).any(-1)
    return float((located.sum(1) >= min_parts).mean()) if len(frames) else float("nan")


def part_velocity_error(frames: np.ndarray, skeleton: np.ndarray) -> float:
    """MPJVE of the colour-located limb centroids against the skeleton's bone midpoints: the
    mean px norm of the difference of their frame-to-frame displacements, over the limb pairs
    located in both frames (NaN when none is)."""

    mids = np.stack([(skeleton[:, a] + skeleton[:, b]) / 2 for a, b in PART_HUES], axis=1)
    err = np.linalg.norm(np.diff(locate_parts(frames), axis=0) - np.diff(mids, axis=0), axis=-1)
    ok = ~np.isnan(err)
    return float(err[ok].mean()) if ok.any() else float("nan")
