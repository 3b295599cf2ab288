"""Inputs as files, folders or manifests (`.txt`, `.csv`), and deterministic `--shard I/N`."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .shards import (ShardInfo, apply_shard, parse_shard,  # noqa: F401  (their old home)
                     shard_output_path, shard_slice)

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
POSE_EXTS = (".h5", ".hdf5")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def find_video(folder: Path, stem: str) -> Path | None:
    """`folder/<stem><ext>` for the first video extension that exists."""
    for ext in VIDEO_EXTS:
        path = Path(folder) / f"{stem}{ext}"
        if path.is_file():
            return path
    return None


def linked_video(pose_path: Path, video_id: str, source_path: str | None,
                 videos: Path | None = None, hint: str = "pass --videos DIR") -> Path:
    """A pose file's video (or frame folder): in `videos` by id when given, else the video's
    `source_path` attribute, relative to the pose file's folder."""
    if videos is not None:
        if (Path(videos) / video_id).is_dir():
            return Path(videos) / video_id
        found = find_video(videos, video_id)
        if found is None:
            raise InputError(f"{video_id}: no video {video_id}{{{','.join(VIDEO_EXTS)}}} or "
                             f"frame folder {video_id}/ in {videos}")
        return found
    if not source_path:
        raise InputError(f"{pose_path}: video {video_id} has no source_path; {hint}")
    path = Path(source_path) if Path(source_path).is_absolute() else \
        Path(pose_path).parent / source_path
    if not path.exists():
        raise InputError(f"{pose_path}: video {video_id}: {path} not found; {hint}")
    return path


@dataclass(frozen=True)
class InputItem:
    path: Path
    video_id: str


def _read_manifest(path: Path) -> list[Path]:
    base = path.parent
    rows: list[str] = []
    if path.suffix == ".csv":
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                return []
            col = next((c for c in ("path", "input", "video") if c in reader.fieldnames),
                       reader.fieldnames[0])
            rows = [r[col] for r in reader if r.get(col)]
    else:
        rows = [ln.strip() for ln in path.read_text().splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
    return [(base / r).resolve() if not Path(r).is_absolute() else Path(r) for r in rows]


def collect_inputs(inputs: list[Path], exts: tuple[str, ...] = VIDEO_EXTS) -> list[InputItem]:
    """Expand files, folders (recursively, sorted) and manifests into unique, existing inputs."""
    paths: list[Path] = []
    missing: list[str] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*") if q.suffix.lower() in exts and q.is_file())
        elif p.suffix.lower() in (".txt", ".csv") and p.is_file():
            listed = _read_manifest(p)
            missing += [str(q) for q in listed if not q.is_file()]
            paths += [q for q in listed if q.is_file()]
        elif p.is_file():
            if p.suffix.lower() in (".h5", ".hdf5") and p.suffix.lower() not in exts:
                raise InputError(f"{p} is an HDF5 file (a finephys pose file?), not one of "
                                 f"these inputs: {', '.join(exts)} files, a folder or a "
                                 ".txt/.csv manifest")
            paths.append(p)
        else:
            missing.append(str(p))
    if missing:
        shown = ", ".join(missing[:3]) + (f" (+{len(missing) - 3} more)" if len(missing) > 3 else "")
        raise InputError(f"{len(missing)} input path(s) not found: {shown}")
    seen: set[Path] = set()
    unique = []
    for p in paths:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(p)
    if not unique:
        raise InputError("no input files found (looked for " + ", ".join(exts) + ")")
    return _assign_ids(unique)


def _assign_ids(paths: list[Path]) -> list[InputItem]:
    """Ids are file stems; colliding stems get their parent folders prepended until unique."""
    depth = {p: 0 for p in paths}

    def ident(p: Path) -> str:
        parts = p.resolve().parts[:-1]
        prefix = parts[len(parts) - depth[p]:] if depth[p] else ()
        return "__".join([*prefix, p.stem])

    for _ in range(32):
        ids: dict[str, list[Path]] = {}
        for p in paths:
            ids.setdefault(ident(p), []).append(p)
        clashes = [ps for ps in ids.values() if len(ps) > 1]
        if not clashes:
            break
        for ps in clashes:
            for p in ps:
                depth[p] += 1
    return [InputItem(p, re.sub(r"[^A-Za-z0-9_.-]", "_", ident(p))) for p in paths]
