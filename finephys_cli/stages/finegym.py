"""`prepare-finegym`: cut the user's downloaded FineGym source videos into element clips of the
FX subsets (PyAV), and write a manifest (video, class, label, split, source, start_s, end_s)
that `detect`, `score` (classes.csv) and `prepare-clips` read."""

from __future__ import annotations

import csv
from pathlib import Path

from ..console import log, track
from ..errors import InputError, PartialFailure
from ..io.atomic import atomic_write_text
from ..data.classes import class_by_id
from ..data.finegym import element_times, load_annotation, load_elements, select_subset
from ..io.manifest import apply_shard, find_video
from ..io.video import read_time_range, write_video

def run_prepare_finegym(annotation: Path, element_lists: list[Path], videos: Path,
                        output: Path, *, classes: str = "FX", shard=None,
                        progress: str = "auto") -> list[Path]:

    ann = load_annotation(annotation)
    elements = [e for path in element_lists for e in select_subset(load_elements(path), classes)]
    if not elements:
        raise InputError(f"no {classes} elements in {', '.join(map(str, element_lists))}")
    elements, _ = apply_shard(elements, shard)
    out = Path(output)
    clips = out / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    rows, failures = [], {}
    for e in track(elements, description="prepare-finegym", unit="clip", mode=progress):
        dest = clips / f"{e.name}.mp4"
        try:
            start, end = element_times(ann, e)
            if not dest.is_file():
                src = find_video(videos, e.video)
                if src is None:
                    raise InputError(f"source video {e.video} not in {videos}")
                frames, fps = read_time_range(src, start, end)
                write_video(dest, frames, fps=fps)
            rows.append({"video": f"clips/{dest.name}", "class": e.gym99_class,
                         "label": class_by_id(e.gym99_class).label, "split": e.split,
                         "source": e.video, "start_s": f"{start:.3f}", "end_s": f"{end:.3f}"})
        except InputError as exc:
            failures[e.name] = str(exc)
    suffix = "" if shard is None else f".shard-{shard[0]}-of-{shard[1]}"
    manifest = out / f"manifest{suffix}.csv"
    if rows:
        lines = [",".join(rows[0])] + [",".join(str(r[k]).replace(",", ";") for k in rows[0])
                                       for r in rows]
        atomic_write_text(manifest, "\n".join(lines) + "\n")
    classes_csv = out / "clips" / "classes.csv"   # what `score --reference` reads
    with open(classes_csv, "a" if classes_csv.exists() else "w", newline="") as fh:
        w = csv.writer(fh)
        if fh.tell() == 0:
            w.writerow(["video", "class"])
        for r in rows:
            w.writerow([Path(r["video"]).name, r["class"]])
    log.info("prepare-finegym: %d clips, %d failed", len(rows), len(failures))
    if failures:
        raise PartialFailure(failures, output=str(manifest))
    return [manifest, clips]
