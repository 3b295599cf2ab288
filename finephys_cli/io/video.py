"""Video I/O: PyAV by default, decord or OpenCV (which Ultralytics brings along) as options with
the same API; RGB uint8 frames."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError

READERS = ("pyav", "decord", "opencv")


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    n_frames: int
    width: int
    height: int


def sample_indices(n_frames: int, n_samples: int | None) -> np.ndarray:
    """Uniform T-frame sampling (segment centres); None or >= n_frames keeps every frame."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    if n_samples is None or n_samples >= n_frames:
        return np.arange(n_frames, dtype=np.int64)
    edges = np.linspace(0, n_frames, n_samples + 1)
    return np.floor((edges[:-1] + edges[1:]) / 2).astype(np.int64).clip(0, n_frames - 1)


def frame_plan(n_frames: int, frames: int) -> np.ndarray:
    """Exactly `frames` indices spanning the whole clip: segment centres, or evenly repeated
    frames when the clip is shorter."""
    if n_frames >= frames:
        return sample_indices(n_frames, frames)
    return np.round(np.linspace(0, n_frames - 1, frames)).astype(np.int64)


def _check_input(path: Path, reader: str) -> Path:
    if reader not in READERS:
        raise UsageError(f"--reader must be one of {', '.join(READERS)}, got {reader!r}")
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise InputError(f"{path}: empty or missing video")
    return path


def probe(path: Path, reader: str = "pyav") -> VideoInfo:
    path = _check_input(path, reader)
    if reader == "decord":
        vr = _decord_reader(path)
        h, w = vr[0].shape[:2]
        return VideoInfo(float(vr.get_avg_fps()), len(vr), int(w), int(h))
    if reader == "opencv":
        return _read_opencv(path, None, decode=False)[1]
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            st = container.streams.video[0]
            fps = float(st.average_rate or st.guessed_rate or 25.0)
            n = st.frames
            if not n:
                n = sum(1 for _ in container.decode(video=0))
            return VideoInfo(fps, int(n), int(st.codec_context.width), int(st.codec_context.height))
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: unreadable video ({exc})") from exc


def _in_order(kept: dict[int, np.ndarray], indices: np.ndarray | None, n: int, path: Path
              ) -> np.ndarray:
    """The decoded frames in the order asked for (every frame when `indices` is None)."""
    order = sorted(kept) if indices is None else [int(i) for i in indices]
    missing = [i for i in order if i not in kept]
    if missing:
        raise InputError(f"{path}: frames {missing[:5]} are beyond the end ({n} frames)")
    return np.stack([kept[i] for i in order])


def _read_opencv(path: Path, indices: np.ndarray | None, decode: bool = True
                 ) -> tuple[np.ndarray, VideoInfo]:
    """Sequential decoding through cv2.VideoCapture (frame counts from the container can be
    wrong, so frames are counted as they are decoded)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError(f"{path}: unreadable video (OpenCV could not open it)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 25.0)
        wanted = None if indices is None else {int(i) for i in indices}
        kept: dict[int, np.ndarray] = {}
        n, size = 0, (0, 0)
        while True:
            if not decode:
                ok = cap.grab()
                if ok and n == 0:
                    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            else:
                ok, bgr = cap.read()
                if ok and (wanted is None or n in wanted):
                    kept[n] = bgr[..., ::-1].copy()
                    size = (bgr.shape[1], bgr.shape[0])
            if not ok:
                break
            n += 1
            if wanted is not None and len(kept) == len(wanted):
                break
    finally:
        cap.release()
    if n == 0:
        raise InputError(f"{path}: no decodable frames")
    info = VideoInfo(fps, n, *size)
    if not decode:
        return np.zeros((0, size[1], size[0], 3), np.uint8), info
    return _in_order(kept, indices, n, path), info


def _decord_reader(path: Path):
    try:
        import decord
    except ImportError as exc:
        raise InputError("--reader decord needs the decord package (pip install decord)") from exc
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0))
    except Exception as exc:  # decord raises its own DECORDError (a RuntimeError)
        raise InputError(f"{path}: unreadable video ({exc})") from exc


def stream_frames(path: Path, indices: np.ndarray | None = None, reader: str = "pyav",
                  chunk: int = 32) -> Iterator[np.ndarray]:
    """The frames at the ascending `indices` (None: every frame) in chunks of up to `chunk`
    frames, decoded as they are consumed: memory holds one chunk, whatever the video's length.
    A frame index beyond the end is an InputError once the decoder runs out."""
    path = _check_input(path, reader)
    if chunk < 1:
        raise UsageError(f"chunk must be at least 1, got {chunk}")
    wanted = None if indices is None else np.asarray(indices, dtype=np.int64)
    if wanted is not None and (np.diff(wanted) <= 0).any():
        raise ValueError("stream_frames needs strictly ascending indices")
    if reader == "decord":
        vr = _decord_reader(path)
        rows = np.arange(len(vr)) if wanted is None else wanted
        if len(rows) and rows[-1] >= len(vr):
            raise InputError(f"{path}: frame {int(rows[-1])} is beyond the end ({len(vr)} frames)")
        for s in range(0, len(rows), chunk):
            yield vr.get_batch(list(map(int, rows[s:s + chunk]))).asnumpy()
        return
    decoded = _opencv_frames(path) if reader == "opencv" else _pyav_frames(path)
    buf: list[np.ndarray] = []
    n, k = 0, 0
    try:
        for i, frame in decoded:
            n = i + 1
            if wanted is not None:
                if k == len(wanted):
                    break
                if i != wanted[k]:
                    continue
                k += 1
            buf.append(frame)
            if len(buf) == chunk:
                yield np.stack(buf)
                buf = []
    finally:
        decoded.close()          # the container, now rather than at garbage collection
    if buf:
        yield np.stack(buf)
    if n == 0:
        raise InputError(f"{path}: no decodable frames")
    if wanted is not None and k < len(wanted):
        raise InputError(f"{path}: frames {wanted[k:k + 5].tolist()} are beyond the end "
                         f"({n} frames)")


@contextmanager
def _pyav_video(path: Path):
    """(the video stream, its frames as (index, RGB array)); PyAV's errors, also those raised
    while the frames are consumed inside the block, become InputError."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            st = container.streams.video[0]
            st.thread_type = "AUTO"
            yield st, ((i, f.to_ndarray(format="rgb24"))
                       for i, f in enumerate(container.decode(video=0)))
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: unreadable video ({exc})") from exc


def _pyav_frames(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    with _pyav_video(path) as (_, frames):
        yield from frames


def _opencv_frames(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError(f"{path}: unreadable video (OpenCV could not open it)")
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield i, bgr[..., ::-1].copy()
            i += 1
    finally:
        cap.release()


def read_frames(path: Path, indices: np.ndarray | None = None, reader: str = "pyav"
                ) -> tuple[np.ndarray, VideoInfo]:
    """Return (frames (T,H,W,3) uint8 RGB, info); `indices` None reads every frame."""
    path = _check_input(path, reader)
    if reader == "decord":
        vr = _decord_reader(path)
        n = len(vr)
        idx = np.arange(n) if indices is None else np.asarray(indices)
        if n == 0:
            raise InputError(f"{path}: no frames")
        frames = vr.get_batch(list(map(int, idx))).asnumpy()
        return frames, VideoInfo(float(vr.get_avg_fps()), n, frames.shape[2], frames.shape[1])
    if reader == "opencv":
        return _read_opencv(path, indices)
    wanted = None if indices is None else set(int(i) for i in indices)
    kept: dict[int, np.ndarray] = {}
    n = 0
    with _pyav_video(path) as (st, decoded):
        fps = float(st.average_rate or st.guessed_rate or 25.0)
        for i, frame in decoded:
            if wanted is None or i in wanted:
                kept[i] = frame
            n = i + 1
            if wanted is not None and len(kept) == len(wanted):
                n = max(n, st.frames or n)
                break
    if not kept:
        raise InputError(f"{path}: no decodable frames")
    frames = _in_order(kept, indices, n, path)
    return frames, VideoInfo(fps, n, frames.shape[2], frames.shape[1])


def write_video(path: Path, frames: np.ndarray | Iterable[np.ndarray], fps: float = 25.0,
                crf: int = 18) -> Path:
    """Write uint8 RGB frames as H.264 mp4 through PyAV, atomically: a (T,H,W,3) array, or the
    frames one by one (encoded as they come, so a long render never holds the whole video)."""
    import itertools

    import av

    from .atomic import commit, partial_path

    path = Path(path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise InputError(f"{path}: no frames to write")
    h, w = np.asarray(first).shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=int(round(fps)))
            stream.width, stream.height = w - w % 2, h - h % 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            # x264's automatic thread count follows the core count, and its output follows the
            # thread count: one thread gives the same bytes on every machine, at little cost
            # for short clips.
            stream.codec_context.thread_count = 1
            for f in itertools.chain([first], frames):
                f = np.asarray(f, dtype=np.uint8)
                vf = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(f[:h - h % 2, :w - w % 2]), format="rgb24")
                for packet in stream.encode(vf):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    except BaseException:       # frames that fail mid-render (a truncated source) leave nothing
        tmp.unlink(missing_ok=True)
        raise
    commit(tmp, path)
    return path


def read_time_range(path: Path, start: float, end: float) -> tuple[np.ndarray, float]:
    """Decode the frames whose timestamps fall in [start, end) seconds; (frames, fps).
    Seeks to the keyframe before `start`, then decodes forward."""
    import av

    path = _check_input(path, "pyav")
    frames = []
    try:
        with av.open(str(path)) as container:
            st = container.streams.video[0]
            st.thread_type = "AUTO"
            fps = float(st.average_rate or st.guessed_rate or 25.0)
            container.seek(max(int(start / float(st.time_base)), 0), stream=st, backward=True,
                           any_frame=False)
            for frame in container.decode(st):
                t = float(frame.pts * st.time_base) if frame.pts is not None else None
                if t is None or t < start - 1e-6:
                    continue
                if t >= end:
                    break
                frames.append(frame.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: unreadable video ({exc})") from exc
    if not frames:
        raise InputError(f"{path}: no frames between {start:.2f} s and {end:.2f} s")
    return np.stack(frames), fps


def strip_image(frames: np.ndarray, n: int = 8) -> np.ndarray:
    """`n` frames spanning a clip, side by side: the PNG strip beside each video."""
    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    return np.concatenate(list(frames[idx]), axis=1)
