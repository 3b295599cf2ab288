"""What `score` scores: the generated videos with their prompt, class and conditioning skeleton
(from the `generate` sidecar or a --prompts CSV), the reference videos, and the models."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InputError, ModelNotFoundError
from ...io import manifest
from ...io.sidefiles import read_text
from ...models.registry import GENERATOR_PARTS, SCORE_MODELS, configured_path

VIDEO_EXTS = manifest.VIDEO_EXTS + (".gif",)   # PyAV decodes GIFs too


@dataclass
class VideoItem:
    path: Path
    name: str
    prompt: str | None = None
    gym_class: int | None = None
    skeleton: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


def _videos(folder: Path) -> list[Path]:
    if not Path(folder).is_dir():
        raise InputError(f"{folder}: not a folder of videos")
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in VIDEO_EXTS)
    if not paths:
        raise InputError(f"{folder}: no videos ({', '.join(VIDEO_EXTS)})")
    return paths


def _csv_rows(path: Path) -> dict[str, dict]:
    rows = list(csv.DictReader(io.StringIO(read_text(path, "a CSV with a video column"),
                                           newline="")))
    if rows and "video" not in rows[0]:
        raise InputError(f"{path}: a 'video' column is expected")
    return {Path(r["video"]).stem: r for r in rows}


def _sidecar(path: Path) -> dict:
    """A generate sidecar, or {} when there is none; one that is not JSON is an error."""
    side = path.with_suffix(".json")
    if not side.is_file():
        return {}
    try:
        meta = json.loads(side.read_text())
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{side}: not a generate sidecar (not JSON)") from None
    return meta if isinstance(meta, dict) else {}


def collect_items(folder: Path, prompts_csv: Path | None = None) -> list[VideoItem]:
    table = _csv_rows(prompts_csv) if prompts_csv else {}
    local = Path(folder) / "classes.csv"
    if not table and local.is_file():
        table = _csv_rows(local)
    items = []
    for p in _videos(folder):
        item = VideoItem(p, p.stem)
        meta = _sidecar(p)
        if meta:
            item.meta = meta
            item.prompt = meta.get("prompt")
            item.gym_class = meta.get("gym99_class")
            pose = (meta.get("pose") or {}).get("keypoints_crop_px")
            if pose is not None:
                item.skeleton = np.asarray(pose, dtype=np.float64)
        row = table.get(p.stem)
        if row:
            item.prompt = row.get("prompt") or item.prompt
            if (row.get("class") or "").strip():
                try:
                    item.gym_class = int(row["class"])
                except ValueError:
                    raise InputError(f"{p.stem}: class {row['class']!r} is not an integer "
                                     "(in the prompts/classes CSV)") from None
        if item.gym_class is None:
            m = re.match(r"fx(\d\d)_", p.stem)
            if m:
                item.gym_class = int(m.group(1))
        items.append(item)
    return items


def model_path(name: str, given: Path | None) -> Path:

    path, source = configured_path(name, given)
    if path is None:
        raise ModelNotFoundError(f"no {name} model: pass --{name}-model or set "
                                 f"FINEPHYS_{name.upper()}_MODEL "
                                 f"({SCORE_MODELS.get(name) or GENERATOR_PARTS.get(name)})")
    if not path.exists():
        raise ModelNotFoundError(f"{name} model {path} ({source}) does not exist")
    return path
