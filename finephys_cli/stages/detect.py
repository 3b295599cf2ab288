"""`detect`: videos -> finephys.pose2d."""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..configs import config_hash, keyed_fields
from ..console import log, track
from ..errors import FinephysError, InputError, UsageError
from ..models.detectors import build_detector
from ..io.manifest import VIDEO_EXTS, apply_shard, collect_inputs, shard_output_path
from ..io.fingerprint import file_fingerprint
from ..io.poses_h5 import PoseFileWriter
from ..io.video import VideoInfo, probe, sample_indices, stream_frames
from ..models.detectors import ROTATION_MERGES, ROTATION_SCORES, FrameDetections, \
    RotationTTA, agreement_scores, parse_rotations
from ..skeleton import coco_to_h36m


@dataclass
class DetectConfig:
    backend: str = "ultralytics"
    model: str | None = None
    frames: int | None = 16        # None: every frame
    imgsz: int = 640
    conf: float = 0.25
    keypoint_conf: float = 0.3     # below this a joint is missing (NaN), whatever its x,y
    batch_size: int = 32
    reader: str = "pyav"
    interpolate_gaps: int = 0      # fill missing runs up to this many frames (0: off)
    decode_workers: int = 2        # decoding processes running ahead of the detector
    rotations: str = "0"           # test-time rotation angles (multiples of 90)
    rotation_merge: str = "best"   # per person: the most confident angle, or the average
    # Keypoint scores: the detector's own, or times the rotated views' agreement
    # (`agreement_scores`; the renders detector scores nearly every joint above 0.9)
    rotation_scores: str = "detector"
    agreement_tau: float = 0.05    # agreement falls to 1/e at this spread, in box sides


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between (N,4+) and (M,4+) boxes -> (N,M)."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def _continuity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU, or for fast motion between sampled frames, closeness of centres in box diagonals."""
    ca = 0.5 * (a[:, None, :2] + a[:, None, 2:4])
    cb = 0.5 * (b[None, :, :2] + b[None, :, 2:4])
    diag = np.linalg.norm(a[:, None, 2:4] - a[:, None, :2], axis=-1) + 1e-6
    near = np.exp(-np.linalg.norm(ca - cb, axis=-1) / diag)
    return np.maximum(box_iou(a, b), near)


def select_performer(dets: list[FrameDetections], track_weight: float = 3.0) -> list[int]:
    """One performer per clip: the Viterbi path maximising Σ log(score·area/max_area) minus
    track_weight × the cost of switching tracks. A track's best continuation costs nothing, so a
    static spectator gains nothing over a moving gymnast; one that is larger for a few frames
    does not pay for two switches. Returns a candidate index per frame, -1 where nobody was
    detected."""
    max_area = max((float(((d.boxes[:, 2] - d.boxes[:, 0]) * (d.boxes[:, 3] - d.boxes[:, 1]))
                          .max()) for d in dets if len(d.boxes)), default=1.0)
    frames = [i for i, d in enumerate(dets) if len(d.boxes)]
    choice = [-1] * len(dets)
    if not frames:
        return choice
    unary = []
    for i in frames:
        b = dets[i].boxes
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        unary.append(np.log(np.clip(b[:, 4], 1e-6, None)) + np.log(np.clip(area / max_area,
                                                                          1e-6, None)))
    score = unary[0]
    back = []
    for k in range(1, len(frames)):
        cont = np.log(_continuity(dets[frames[k - 1]].boxes, dets[frames[k]].boxes) + 1e-3)
        pair = track_weight * (cont - cont.max(axis=1, keepdims=True))
        total = score[:, None] + pair
        back.append(total.argmax(0))
        score = total.max(0) + unary[k]
    best = int(score.argmax())
    for k in range(len(frames) - 1, -1, -1):
        choice[frames[k]] = best
        if k:
            best = int(back[k - 1][best])
    return choice


def fill_gaps(kp: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate interior NaN runs of at most `max_gap` frames, per joint.
    Returns the filled array and a (T,J) mask of the filled entries."""
    out = kp.copy()
    filled = np.zeros(kp.shape[:2], dtype=bool)
    if max_gap <= 0:
        return out, filled
    t = np.arange(len(kp))
    for j in range(kp.shape[1]):
        ok = ~np.isnan(kp[:, j]).any(-1)
        if ok.sum() < 2:
            continue
        missing = np.flatnonzero(~ok)
        runs = np.split(missing, np.flatnonzero(np.diff(missing) > 1) + 1) if len(missing) else []
        for run in runs:
            if len(run) == 0 or run[0] == 0 or run[-1] == len(kp) - 1 or len(run) > max_gap:
                continue
            for d in range(kp.shape[2]):
                out[run, j, d] = np.interp(t[run], t[ok], kp[ok, j, d])
            filled[run, j] = True
    return out, filled


def detect_clip(detector, frames: np.ndarray | Iterable[np.ndarray], cfg: DetectConfig
                ) -> dict[str, np.ndarray]:
    """Detections for one clip's frames (an array, or its chunks as they are decoded) -> the
    pose2d arrays (H36M + COCO as detected). Only the per-frame detections are kept, never
    the frames, so memory does not grow with the video."""
    chunks = ([frames[s:s + cfg.batch_size] for s in range(0, len(frames), cfg.batch_size)]
              if isinstance(frames, np.ndarray) else frames)
    dets: list[FrameDetections] = []
    for chunk in chunks:
        for s in range(0, len(chunk), cfg.batch_size):
            dets += detector(list(chunk[s:s + cfg.batch_size]))
    choice = select_performer(dets)
    t = len(dets)
    coco = np.full((t, 17, 3), np.nan, np.float32)
    bbox = np.full((t, 5), np.nan, np.float32)
    world = None
    spread = np.full((t, 17), np.nan, np.float32)
    has_spread = False
    for i, (d, c) in enumerate(zip(dets, choice)):
        if c < 0:
            continue
        coco[i] = d.keypoints[c]
        bbox[i] = d.boxes[c]
        if d.spread is not None:
            spread[i], has_spread = d.spread[c], True
        if d.world is not None:
            world = world if world is not None else np.full((t, 33, 3), np.nan, np.float32)
            world[i] = d.world[c]
    conf = np.nan_to_num(coco[..., 2], nan=0.0)
    missing = conf < cfg.keypoint_conf
    coco[..., :2][missing] = np.nan
    if cfg.rotation_scores == "agreement":   # after the cut: it ranks joints, drops none
        conf = agreement_scores(conf, spread, bbox, cfg.agreement_tau)
    coco[..., 2] = conf
    h36m, h36m_scores = coco_to_h36m(coco[..., :2], conf)
    h36m, filled = fill_gaps(h36m, cfg.interpolate_gaps)
    arrays = {"keypoints2d": h36m.astype(np.float32), "scores": h36m_scores.astype(np.float32),
              "bbox": bbox, "keypoints2d_coco": coco}
    if cfg.interpolate_gaps:
        arrays["interpolated"] = filled
    if has_spread:
        arrays["rotation_spread"] = spread
    if world is not None:
        arrays["world_landmarks"] = world
    return arrays


def _plan(path: Path, cfg: DetectConfig) -> tuple[VideoInfo, np.ndarray | None]:
    """The video's info and the frames to detect (None: every frame, counted as decoded)."""
    info = probe(path, cfg.reader)
    if info.n_frames == 0:
        raise InputError(f"{path}: no frames")
    return info, None if cfg.frames is None else sample_indices(info.n_frames, cfg.frames)


def _decode(path: Path, cfg: DetectConfig, queue, parent: int) -> None:
    """In a decoding process: the plan, then chunks of frames, then the end (or the error) into
    a bounded queue, so it runs ahead of the detector by at most the queue's depth. It ends
    by itself when the parent is gone (killed -9), instead of waiting on a full queue."""
    import queue as queue_mod
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the parent's to handle

    def put(message: tuple) -> None:
        while True:
            try:
                queue.put(message, timeout=1.0)
                return
            except queue_mod.Full:
                if os.getppid() != parent:
                    os._exit(0)

    try:
        info, idx = _plan(path, cfg)
        put(("plan", info, idx))
        for frames in stream_frames(path, idx, cfg.reader, cfg.batch_size):
            put(("frames", frames))
        put(("end",))
    except Exception as exc:                         # reported to the parent, one line
        text = str(exc) if isinstance(exc, FinephysError) else f"{type(exc).__name__}: {exc}"
        put(("error", text))


class _Decoder:
    """One video decoded ahead in its own process (threads would contend for the GIL with
    Ultralytics' own pre- and post-processing: 0.76x of bare predict on an H100)."""

    def __init__(self, context, path: Path, cfg: DetectConfig, depth: int):
        self.path = path
        self.queue = context.Queue(maxsize=depth)
        self.process = context.Process(target=_decode, args=(path, cfg, self.queue, os.getpid()),
                                       daemon=True)
        self.process.start()

    def _get(self):
        import queue as queue_mod

        while True:
            try:
                return self.queue.get(timeout=1.0)
            except queue_mod.Empty:
                if not self.process.is_alive() and self.queue.empty():
                    raise InputError(f"{self.path}: the decoder died (exit "
                                     f"{self.process.exitcode})") from None

    def plan(self) -> tuple[VideoInfo, np.ndarray | None]:
        msg = self._get()
        if msg[0] == "error":
            raise InputError(msg[1])
        return msg[1], msg[2]

    def chunks(self) -> Iterator[np.ndarray]:
        from ..console import check_interrupted

        while True:
            check_interrupted()         # a Ctrl-C that a library swallowed stops here
            msg = self._get()
            if msg[0] == "end":
                return
            if msg[0] == "error":
                raise InputError(msg[1])
            yield msg[1]

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.queue.close()


def check_detect_config(cfg: DetectConfig) -> None:
    """Values from -c/--set get the checks the options have: a usage error (exit 2), not a
    failure of every video."""
    bad = [f"{k}={v!r}" for k, v, ok in (
        ("batch_size", cfg.batch_size, isinstance(cfg.batch_size, int) and cfg.batch_size >= 1),
        ("imgsz", cfg.imgsz, isinstance(cfg.imgsz, int) and cfg.imgsz >= 32),
        ("conf", cfg.conf, 0.0 <= float(cfg.conf) <= 1.0),
        ("keypoint_conf", cfg.keypoint_conf, 0.0 <= float(cfg.keypoint_conf) <= 1.0),
        ("frames", cfg.frames, cfg.frames is None or int(cfg.frames) >= 1),
        ("decode_workers", cfg.decode_workers, int(cfg.decode_workers) >= 0),
        ("interpolate_gaps", cfg.interpolate_gaps, int(cfg.interpolate_gaps) >= 0)) if not ok]
    if bad:
        raise UsageError(f"detect config: {', '.join(bad)} out of range (batch_size, imgsz >= "
                         "32, frames >= 1; conf, keypoint_conf in [0, 1])")
    if cfg.rotation_merge not in ROTATION_MERGES:
        raise UsageError(f"detect config: rotation_merge={cfg.rotation_merge!r} must be one of "
                         f"{', '.join(ROTATION_MERGES)}")
    if cfg.rotation_scores not in ROTATION_SCORES:
        raise UsageError(f"detect config: rotation_scores={cfg.rotation_scores!r} must be one "
                         f"of {', '.join(ROTATION_SCORES)}")
    if not (math.isfinite(float(cfg.agreement_tau)) and float(cfg.agreement_tau) > 0):
        raise UsageError(f"detect config: agreement_tau={cfg.agreement_tau!r} must be > 0")
    if cfg.rotation_scores != "detector" and len(parse_rotations(cfg.rotations)) < 2:
        raise UsageError(f"--rotation-scores {cfg.rotation_scores} compares the views of two or "
                         f"more --rotations (e.g. 0,90,180,270), got {cfg.rotations!r}")
    if cfg.rotation_merge != "best" and len(parse_rotations(cfg.rotations)) < 2:
        raise UsageError(f"--rotation-merge {cfg.rotation_merge} merges the views of two or more "
                         f"--rotations (e.g. 0,90,180,270), got {cfg.rotations!r}")


def run_detect(cfg: DetectConfig, inputs: list[Path], output: Path, *, device: str = "cpu",
               shard: tuple[int, int] | None = None, overwrite: bool = False,
               fail_fast: bool = False, allow_download: bool = False, progress: str = "auto",
               detector=None) -> Path:
    """Detect every input video; a failing video is recorded in the output and skipped (exit
    3, retried by the next run), the others are saved."""
    check_detect_config(cfg)
    items, shard_info = apply_shard(collect_inputs(inputs, VIDEO_EXTS), shard)
    out = shard_output_path(Path(output), shard)
    angles = parse_rotations(cfg.rotations)
    detector = detector or build_detector(cfg, device, allow_download)
    if angles != (0,):
        detector = RotationTTA(detector, angles, merge=cfg.rotation_merge)
    described = getattr(detector, "description", type(detector).__name__)
    chash = config_hash({**keyed_fields(cfg, {"rotation_merge": "best", "rotation_scores": "detector",
                                              "agreement_tau": 0.05}), "weights": described})
    with PoseFileWriter(out, format="finephys.pose2d", config={**asdict(cfg),
                        "weights": described}, config_hash=chash, overwrite=overwrite,
                        shard=shard_info, root_attrs={"detector_weights": described},
                        inputs={it.video_id: file_fingerprint(it.path) for it in items}) as writer:
        if writer.skipped:
            return out
        todo = [it for it in items if not writer.is_complete(it.video_id)]
        # fork, where the platform has it: the workers only decode (no CUDA), and spawn would
        # re-run the caller's __main__ module in each worker. Each worker holds at most
        # `depth` chunks of frames, so memory is bounded whatever the videos' length.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        ahead = max(cfg.decode_workers, 1)
        decoders: list[_Decoder] = []
        try:
            for k, item in enumerate(track(todo, description="detect", unit="video",
                                           mode=progress)):
                while len(decoders) < ahead and k + len(decoders) < len(todo):
                    decoders.append(_Decoder(context, todo[k + len(decoders)].path, cfg,
                                             depth=2))
                decoder = decoders.pop(0)
                with writer.guard(item.video_id, str(item.path), fail_fast):
                    try:
                        info, idx = decoder.plan()
                        arrays = detect_clip(detector, decoder.chunks(), cfg)
                    finally:
                        decoder.close()
                    if idx is None:             # every frame: as many as were decoded
                        idx = np.arange(len(arrays["bbox"]))
                        info = VideoInfo(info.fps, len(idx), info.width, info.height)
                    if np.isnan(arrays["keypoints2d"]).all():
                        log.warning("%s: no person detected in any frame", item.path)
                    try:
                        src = os.path.relpath(item.path, out.parent)
                    except ValueError:
                        src = str(item.path)
                    writer.write_video(item.video_id, {
                        "source_path": src, "fps": info.fps, "n_frames": len(idx),
                        "source_n_frames": info.n_frames, "width": info.width,
                        "height": info.height, "frame_indices": idx,
                        "detected_frames": int((~np.isnan(arrays["bbox"][:, 0])).sum()),
                    }, arrays)
        finally:
            for decoder in decoders:
                decoder.close()
        return writer.finish()
