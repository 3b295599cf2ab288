"""Inputs as files, folders or manifests (`.txt`, `.csv`), and deterministic `--shard I/N`."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, UsageError
from .poses_h5 import ShardInfo

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


@dataclass(frozen=True)
class InputItem:
    path: Path
    video_id: str


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`I/N` with 0 <= I < N (Slurm's 0-based SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT)."""
    if text is None or text == "":
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise UsageError(f"--shard expects I/N, e.g. 0/8, got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {text}: need 0 <= I < N")
    return i, n


def shard_slice(n_items: int, shard: tuple[int, int]) -> ShardInfo:
    i, n = shard
    return ShardInfo(index=i, count=n, start=i * n_items // n, stop=(i + 1) * n_items // n,
                     total=n_items)


def shard_output_path(output: Path, shard: tuple[int, int] | None) -> Path:
    if shard is None:
        return output
    i, n = shard
    suffix = output.suffix or ".h5"
    return output.with_name(f"{output.name[:-len(output.suffix)] if output.suffix else output.name}"
                            f".shard-{i}-of-{n}{suffix}")


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


def apply_shard(items: list, shard: tuple[int, int] | None) -> tuple[list, ShardInfo | None]:
    if shard is None:
        return items, None
    info = shard_slice(len(items), shard)
    return items[info.start:info.stop], info
