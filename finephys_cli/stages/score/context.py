"""The typed state every metric of `score` reads and fills."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...console import log
from ...errors import FinephysError
from .inputs import VideoItem
from ...io.video import frame_plan, probe, read_frames, stream_frames


class Skip(Exception):
    """A metric cannot run on these inputs (not an error unless --strict)."""


@dataclass
class ScoreContext:
    cfg: Any                                  # ScoreConfig
    items: list[VideoItem]
    refs: list[VideoItem]
    models: dict
    device: str
    domain_images: Path | None
    progress: str
    per_video: dict[str, dict]
    results: dict
    clip: Any = None                          # metrics.clip_sim.ClipEmbedder, loaded once
    clip_path: Path | None = None
    clip_cache: dict[str, np.ndarray] = field(default_factory=dict)   # frame embeddings
    failures: dict[str, str] = field(default_factory=dict)           # video path -> reason
    recent: OrderedDict = field(default_factory=OrderedDict)
    keep_videos: int = 8

    def frames(self, item: VideoItem) -> np.ndarray | None:
        """A video's frames, decoded when a metric asks (a few recent ones kept, so memory
        does not grow with the number of videos); None for one that cannot be read, which is
        recorded once as a failure and left out of every metric."""
        key = str(item.path)
        if key in self.failures:
            return None
        if key in self.recent:
            self.recent.move_to_end(key)
            return self.recent[key]

        try:
            frames = read_frames(item.path)[0]
        except (FinephysError, OSError, ValueError) as exc:
            self._record(item, exc)
            return None
        self.recent[key] = frames
        while len(self.recent) > self.keep_videos:
            self.recent.popitem(last=False)
        return frames

    def _record(self, item: VideoItem, exc: Exception) -> None:
        self.failures[str(item.path)] = str(exc)
        log.warning("%s: %s", item.path, exc)

    def embed(self, item: VideoItem, embed: Callable[[np.ndarray], np.ndarray],
              chunk: int = 64) -> np.ndarray | None:
        """`embed` (frames -> per-frame vectors) over every frame of a video, decoded a chunk at
        a time: memory holds one chunk and the (small) vectors, whatever the video's length.
        None for a video that cannot be read (recorded once)."""
        if str(item.path) in self.failures:
            return None
        if str(item.path) in self.recent:
            return embed(self.recent[str(item.path)])
        try:
            return np.concatenate([embed(c) for c in stream_frames(item.path, None, chunk=chunk)])
        except (FinephysError, ValueError) as exc:
            self._record(item, exc)
            return None

    def sampled(self, item: VideoItem, count: int) -> np.ndarray | None:
        """The `count` frames io.video.frame_plan picks, the only ones decoded (FVD's
        extractors take exactly these, so the features are those of the whole video)."""
        if str(item.path) in self.failures:
            return None
        try:
            return read_frames(item.path, frame_plan(probe(item.path).n_frames, count))[0]
        except (FinephysError, ValueError):
            frames = self.frames(item)    # a container whose frame count is wrong: decode it
            return None if frames is None else frames[frame_plan(len(frames), count)]

    def readable(self, items: Iterable[VideoItem]) -> Iterator[tuple[VideoItem, np.ndarray]]:
        """(item, frames) for each item that can be read, in order, decoded one by one."""
        for it in items:
            frames = self.frames(it)
            if frames is not None:
                yield it, frames
