"""A fast shaded mannequin renderer (OpenCV): capsule limbs, a torso, a head, a floor, a
backdrop and a contact shadow, seen through the same camera as the 2D ground truth."""

from __future__ import annotations

import numpy as np

from .camera import Camera, project_points

# (parent, child, radius m, part) drawn as capsules; the torso is also filled as a polygon.
_SEGMENTS = (
    (1, 2, 0.070, "leg"), (2, 3, 0.052, "leg"), (4, 5, 0.070, "leg"), (5, 6, 0.052, "leg"),
    (0, 7, 0.115, "torso"), (7, 8, 0.125, "torso"), (8, 9, 0.050, "skin"),
    (11, 12, 0.045, "arm"), (12, 13, 0.037, "arm"), (14, 15, 0.045, "arm"),
    (15, 16, 0.037, "arm"), (1, 4, 0.085, "torso"), (11, 14, 0.06, "torso"),
)
HEAD_RADIUS = 0.10
_LEOTARDS = ((40, 60, 170), (170, 30, 60), (110, 40, 150), (20, 120, 110), (30, 30, 30))
_SKIN = ((224, 172, 140), (198, 134, 100), (141, 85, 60), (236, 200, 170))
# The "parts" palette: each limb segment its own saturated hue (degrees), away from the blue
# floor, so pose fidelity can locate limbs by colour (metrics.pose_fidelity.locate_parts).
PART_HUES = {(1, 2): 0, (2, 3): 28, (4, 5): 56, (5, 6): 90, (11, 12): 125, (12, 13): 160,
             (14, 15): 285, (15, 16): 320}
_PART_TORSO, _PART_HEAD = (40, 40, 40), (235, 235, 235)


def hue_rgb(hue: float, value: float = 0.9) -> tuple[int, int, int]:
    import colorsys

    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue / 360.0, 1.0, value))  # type: ignore[return-value]


def _shade(rgb: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * k, 0, 255)) for c in rgb)  # type: ignore[return-value]


class MannequinRenderer:
    def __init__(self, camera: Camera, rng: np.random.Generator, palette: str = "shaded"):
        if palette not in ("shaded", "parts"):
            raise ValueError(f"palette must be shaded or parts, got {palette!r}")
        self.cam = camera
        self.palette = palette
        self.leotard = _LEOTARDS[int(rng.integers(len(_LEOTARDS)))]
        self.skin = _SKIN[int(rng.integers(len(_SKIN)))]
        if palette == "parts":
            self.leotard, self.skin = _PART_TORSO, _PART_HEAD
        self.wall = tuple(int(v) for v in rng.integers(150, 215, size=3))
        self.floor = (int(rng.integers(60, 110)), int(rng.integers(90, 140)),
                      int(rng.integers(150, 200)))

    def _background(self, frame_idx: int) -> np.ndarray:
        import cv2

        w, h = self.cam.size
        R, t, K = self.cam.R[frame_idx], self.cam.t[frame_idx], self.cam.K
        img = np.empty((h, w, 3), dtype=np.uint8)
        img[:] = self.wall
        # Horizon: where the floor plane meets infinity in the viewing direction.
        fwd = R[2].copy()
        fwd[1] = 0.0
        far = -R.T @ t + 1e4 * fwd / max(np.linalg.norm(fwd), 1e-9)
        hor = project_points((R @ far + t)[None], K)[0]
        horizon = int(np.clip(hor[1], -1, h))
        if horizon < h:
            rows = np.arange(max(horizon, 0), h)
            ramp = (0.75 + 0.25 * (rows - horizon) / max(h - horizon, 1))[:, None]
            img[rows] = (np.array(self.floor)[None, :] * ramp)[:, None, :].astype(np.uint8)
        eye = -R.T @ t
        for z in np.arange(-3.0, 3.01, 1.0):   # mat seams, kept in front of the camera
            p = np.array([[eye[0] - 8, 0.0, z], [eye[0] + 8, 0.0, z]])
            cam = (R @ p.T).T + t
            if (cam[:, 2] > 0.5).all():
                uv = project_points(cam, K).astype(int)
                cv2.line(img, tuple(uv[0]), tuple(uv[1]), _shade(self.floor, 0.85), 1,
                         cv2.LINE_AA)
        return img

    def render(self, joints: np.ndarray) -> np.ndarray:
        """(T,17,3) world joints -> (T,H,W,3) uint8 RGB frames."""
        import cv2

        cam_pts = self.cam.to_camera(joints)
        uv = project_points(cam_pts, self.cam.K)
        f = self.cam.K[0, 0]
        frames = []
        for i in range(len(joints)):
            img = self._background(i)
            # Contact shadow under the pelvis, flattened on the floor.
            ground = joints[i, 0].copy()
            height = ground[1]
            ground[1] = 0.0
            ext = np.array([[0.35, 0, 0], [0, 0, 0.35]])
            pts = np.stack([ground, ground + ext[0], ground + ext[1]])
            sc = project_points(pts @ self.cam.R[i].T + self.cam.t[i], self.cam.K)
            ax = (max(int(np.linalg.norm(sc[1] - sc[0])), 1),
                  max(int(np.linalg.norm(sc[2] - sc[0])), 1))
            dark = float(np.clip(0.75 + 0.1 * height, 0.75, 0.95))
            shadow = img.copy()
            cv2.ellipse(shadow, tuple(sc[0].astype(int)), ax, 0, 0, 360, (0, 0, 0), -1,
                        cv2.LINE_AA)
            img = cv2.addWeighted(img, dark, shadow, 1 - dark, 0)
            items = []
            for a, b, radius, part in _SEGMENTS:
                depth = 0.5 * (cam_pts[i, a, 2] + cam_pts[i, b, 2])
                items.append((depth, "seg", (a, b, radius, part)))
            items.append((cam_pts[i, 10, 2], "head", None))
            # Far first (painter's algorithm).
            for depth, kind, data in sorted(items, key=lambda x: -x[0]):
                if kind == "head":
                    r = max(int(round(f * HEAD_RADIUS / depth)), 2)
                    c = tuple(int(v) for v in uv[i, 10])
                    cv2.circle(img, c, r, _shade(self.skin, 0.7), -1, cv2.LINE_AA)
                    cv2.circle(img, c, max(int(r * 0.75), 1), self.skin, -1, cv2.LINE_AA)
                    hl = (c[0] - int(0.3 * r), c[1] - int(0.3 * r))
                    cv2.circle(img, hl, max(int(r * 0.3), 1), _shade(self.skin, 1.15), -1,
                               cv2.LINE_AA)
                    continue
                a, b, radius, part = data
                colour = self.leotard if part == "torso" else self.skin
                if self.palette == "parts" and (a, b) in PART_HUES:
                    colour = hue_rgb(PART_HUES[(a, b)])
                r = max(f * radius / depth, 1.0)
                p0 = tuple(int(v) for v in uv[i, a])
                p1 = tuple(int(v) for v in uv[i, b])
                for scale, k in ((1.0, 0.6), (0.72, 0.85), (0.35, 1.1)):
                    cv2.line(img, p0, p1, _shade(colour, k), max(int(2 * r * scale), 1),
                             cv2.LINE_AA)
            frames.append(img)
        return np.stack(frames)

    def background(self, n_frames: int) -> np.ndarray:
        return np.stack([self._background(i) for i in range(n_frames)])
