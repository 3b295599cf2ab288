"""`viz`: 2D skeleton overlays on video frames, 3D pose views, several sources side by side
(the paper's Figs. 11-13: S_detect, S_dd, S_pp, fused). Left limbs blue, right red."""

from __future__ import annotations

from collections.abc import Iterator

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError
from ..generation.conditioning import POSE_SOURCES, select_keypoints
from ..io.poses_h5 import PoseFile
from ..skeleton import H36M_BONES, H36M_LEFT, H36M_RIGHT
from ..io.atomic import commit, partial_path
from ..io.video import stream_frames

# The pose-source vocabulary of generation/conditioning.py; in 3D, exact is the camera-frame
# truth and detect does not exist.
SOURCES_3D = {"exact": "pose3d_camera", "lift": "pose3d_dd", "physnet": "pose3d_pp",
              "fused": "pose3d_fused", "mlp": "pose3d_mlp"}
LEFT_RGB, RIGHT_RGB, MID_RGB = (40, 110, 255), (235, 50, 50), (40, 200, 90)


def bone_colour(parent: int, child: int) -> tuple[int, int, int]:
    """A bone takes its child joint's side: left blue, right red, the midline green."""
    if child in H36M_LEFT:
        return LEFT_RGB
    if child in H36M_RIGHT:
        return RIGHT_RGB
    return MID_RGB


@dataclass
class VizConfig:
    mode: str = "2d"           # "2d" overlays, "3d" views
    sources: tuple[str, ...] = ("detect",)
    n_frames: int = 8          # frames in a PNG strip
    panel: int = 256           # px per panel


def draw_skeleton(img: np.ndarray, kp: np.ndarray, scores: np.ndarray | None = None,
                  thickness: int = 2) -> np.ndarray:
    """Draw one H36M-17 skeleton (17,2) on an RGB image in place; NaN joints are skipped."""
    import cv2

    for a, b in H36M_BONES:
        if np.isnan(kp[[a, b]]).any():
            continue
        if scores is not None and min(scores[a], scores[b]) < 0.05:
            continue
        cv2.line(img, tuple(int(v) for v in kp[a]), tuple(int(v) for v in kp[b]),
                 bone_colour(a, b), thickness, cv2.LINE_AA)
    for j in range(17):
        if not np.isnan(kp[j]).any():
            cv2.circle(img, tuple(int(v) for v in kp[j]), thickness + 1, (255, 255, 255), -1,
                       cv2.LINE_AA)
    return img


def _video_frames(pf: PoseFile, vid: str, rows: np.ndarray
                  ) -> tuple[Iterator[np.ndarray | None], tuple[int, int]]:
    """For each pose row in `rows` (ascending), its video frame, decoded as it is consumed, or
    None where there is no video or no such frame (`frame_indices` maps row -> frame; detect
    samples frames, so row k is not video frame k). Only the frames drawn are decoded, and
    only a chunk at a time: memory does not grow with the video."""
    attrs = pf.video_attrs(vid)
    size = (int(attrs.get("width", 384)), int(attrs.get("height", 384)))
    rows = np.asarray(rows, dtype=np.int64)
    src = attrs.get("source_path")
    path = None if not src else Path(src) if Path(src).is_absolute() else pf.path.parent / src
    if path is None or not path.exists():
        return iter([None] * len(rows)), size
    indices = attrs.get("frame_indices")
    known = np.arange(int(rows.max()) + 1 if len(rows) else 0) if indices is None else \
        np.asarray(indices, dtype=np.int64)
    wanted = [int(known[r]) if r < len(known) else None for r in rows]
    unique = np.unique([w for w in wanted if w is not None])

    def frames() -> Iterator[np.ndarray | None]:

        decoded = zip(unique.tolist(),
                      (f for chunk in stream_frames(path, unique, chunk=16) for f in chunk))
        at, frame = -1, None
        for w in wanted:
            if w is None:
                yield None
                continue
            while at != w:                 # `wanted` never goes back: rows are ascending
                at, frame = next(decoded)
            yield frame

    return frames(), size


def _label(img: np.ndarray, text: str) -> None:
    import cv2

    cv2.putText(img, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2,
                cv2.LINE_AA)
    cv2.putText(img, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def render_2d(pf: PoseFile, vid: str, cfg: VizConfig, frame_ids: np.ndarray
              ) -> Iterator[np.ndarray]:
    """(H, W*S, 3) per frame: one panel per source, side by side."""
    import cv2

    frames, (w, h) = _video_frames(pf, vid, frame_ids)
    skeletons = {}
    for src in cfg.sources:
        if src not in POSE_SOURCES or src == "auto":
            raise UsageError(f"--pose-sources: 2d source {src!r}; choose from "
                             f"{', '.join(s for s in POSE_SOURCES if s != 'auto')}")
        skeletons[src] = select_keypoints(pf, vid, src)[0]
    for f, frame in zip(frame_ids, frames):
        panels = []
        for src, kp_all in skeletons.items():
            img = frame.copy() if frame is not None else np.full((h, w, 3), 235, np.uint8)
            draw_skeleton(img, kp_all[f], thickness=max(1, w // 190))
            img = cv2.resize(img, (cfg.panel, int(cfg.panel * h / w)))
            _label(img, f"{src} t={f}")
            panels.append(img)
        yield np.concatenate(panels, axis=1)


def render_3d(pf: PoseFile, vid: str, cfg: VizConfig, frame_ids: np.ndarray
              ) -> Iterator[np.ndarray]:
    """(H, W*S, 3) per frame: matplotlib 3D views, y up, one panel per source, shared
    limits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    poses = {}
    for src in cfg.sources:
        if src not in SOURCES_3D:
            raise UsageError(f"--pose-sources: 3d source {src!r}; choose from "
                             f"{', '.join(SOURCES_3D)}")
        if not pf.has(vid, SOURCES_3D[src]):
            raise InputError(f"{pf.path}: video {vid} has no {SOURCES_3D[src]} ({src})")
        p = pf.read(vid, SOURCES_3D[src]).astype(np.float64)
        poses[src] = p - p[:, :1]    # root-relative, so sources in different units compare
        scale = np.nanmax(np.abs(poses[src])) or 1.0
        poses[src] /= scale
    dpi = 100
    fig = plt.figure(figsize=(cfg.panel * len(poses) / dpi, cfg.panel / dpi), dpi=dpi)
    try:
        yield from _views_3d(fig, poses, frame_ids)
    finally:
        plt.close(fig)


def _views_3d(fig, poses: dict, frame_ids: np.ndarray) -> Iterator[np.ndarray]:
    for f in frame_ids:
        fig.clf()
        for k, (src, p) in enumerate(poses.items()):
            ax = fig.add_subplot(1, len(poses), k + 1, projection="3d")
            ax.view_init(elev=12, azim=-70)
            for a, b in H36M_BONES:
                seg = p[f, [a, b]]
                # Camera axes (x right, y down, z forward) -> plot x, z, -y.
                ax.plot(seg[:, 0], seg[:, 2], -seg[:, 1],
                        color=np.array(bone_colour(a, b)) / 255, lw=2)
            for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
                setter(-1, 1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_zticks([])
            ax.set_title(f"{src} t={f}", fontsize=8)
        fig.canvas.draw()
        yield np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


LIMB_PALETTE = np.array([[230, 25, 75], [245, 130, 48], [255, 225, 25], [60, 180, 75],
                         [70, 240, 240], [0, 130, 200], [145, 30, 180], [240, 50, 230],
                         [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255],
                         [170, 110, 40], [128, 0, 0], [170, 255, 195], [0, 0, 128]], float)


def render_heatmap_overlay(pf: PoseFile, vid: str, cfg: VizConfig,
                           frame_ids: np.ndarray) -> Iterator[np.ndarray]:
    """Colour-coded limb heatmaps over the cropped video frame (or a grey canvas), read and
    drawn a frame at a time."""
    import cv2

    names = sorted((n for n in pf.datasets(vid) if n.startswith("heatmaps/")),
                   key=lambda n: -int(n.split("/")[1].split("x")[0]))
    if not names:
        raise InputError(f"{pf.path}: video {vid} has no heatmaps (run render-heatmaps)")
    stored = pf.h5["videos"][vid][names[0]]            # (T,C,H,W), largest scale, on disk
    size = stored.shape[-1]
    box = pf.read(vid, "crop_box")
    frames, _ = _video_frames(pf, vid, frame_ids)
    for f, frame in zip(frame_ids, frames):
        hm = stored[f, :16].astype(np.float32)
        if frame is not None:
            # The crop as an affine warp, so boxes reaching outside the frame are padded.
            scale = size / box[2]
            m = np.array([[scale, 0, -box[0] * scale], [0, scale, -box[1] * scale]])
            base = cv2.warpAffine(frame, m, (size, size), borderValue=(90, 90, 90))
        else:
            base = np.full((size, size, 3), 90, np.uint8)
        colour = np.einsum("chw,cd->hwd", hm, LIMB_PALETTE[: hm.shape[0]])
        alpha = np.clip(hm.max(0), 0, 1)[..., None]
        norm = colour / np.maximum(hm.sum(0), 1e-6)[..., None]
        img = (base * (1 - alpha) + norm * alpha).clip(0, 255).astype(np.uint8)
        img = cv2.resize(img, (cfg.panel, cfg.panel))
        _label(img, f"heatmaps t={f}")
        yield img


MAX_GIF_FRAMES = 750      # 30 s at 25 fps; a GIF encoder holds every frame


def run_viz(cfg: VizConfig, path: Path, output: Path, video_id: str | None = None) -> Path:

    with PoseFile(path, skeleton="h36m17") as pf:
        ids = pf.video_ids
        if not ids:
            raise InputError(f"{path}: no videos")
        vid = video_id or ids[0]
        if vid not in ids:
            raise InputError(f"{path}: no video {vid!r} (have {', '.join(ids[:5])}...)")
        n = int(pf.video_attrs(vid).get("n_frames", 0)) or len(pf.read(vid, "keypoints2d"))
        if cfg.mode == "heatmap" or pf.format == "finephys.heatmaps":
            cfg.mode = "heatmap"
        animated = output.suffix.lower() in (".mp4", ".gif")
        frame_ids = np.arange(n) if animated else \
            np.unique(np.linspace(0, n - 1, min(cfg.n_frames, n)).round().astype(int))
        renderers = {"2d": render_2d, "3d": render_3d, "heatmap": render_heatmap_overlay}
        if cfg.mode not in renderers:
            raise UsageError(f"--mode must be 2d, 3d or heatmap, got {cfg.mode!r}")
        suffix = output.suffix.lower()
        if suffix not in (".png", ".gif", ".mp4"):
            raise InputError(f"{output}: output must be .png, .gif or .mp4")
        if suffix == ".gif" and len(frame_ids) > MAX_GIF_FRAMES:
            raise UsageError(f"{output}: {len(frame_ids)} frames is too long for a GIF (built "
                             f"in memory; at most {MAX_GIF_FRAMES}): write an .mp4, which is "
                             "encoded frame by frame")
        fps = float(pf.video_attrs(vid).get("fps", 25.0))
        # Frames are rendered as they are written: an mp4 of a whole video is encoded frame by
        # frame (a GIF or a PNG strip is built in memory, as its encoder needs).
        frames = renderers[cfg.mode](pf, vid, cfg, frame_ids)
        output.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".mp4":
            from ..io.video import write_video

            return write_video(output, frames, fps=fps)
        from PIL import Image

        rendered = list(frames)
    tmp = partial_path(output)
    if suffix == ".gif":
        imgs = [Image.fromarray(f) for f in rendered]
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:],
                     duration=int(1000 / fps), loop=0)
    else:       # a strip: frames as rows, sources as columns
        Image.fromarray(np.concatenate(rendered, axis=0)).save(tmp, format="PNG")
    commit(tmp, output)
    return output
