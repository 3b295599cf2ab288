"""FineGym's official annotations (Shao et al. 2020): the Gym99 element lists
(`gym99_train_element_v1.1.txt`, `gym99_val_element.txt`: "<name> <gym99 class>" per line, with
name = <youtube id>_E_<event>_A_<segment>) and the temporal annotation
(`finegym_annotation_info_v1.1.json`: video -> event -> {"timestamps": [[start, end]] in seconds
of the source video, "segments": {segment -> {"timestamps": [[start, end], ...]} in seconds
from the event start}}). The FX subsets are Gym99 classes 6-40 (paper Table 3)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

_NAME = re.compile(r"^(?P<video>.+)_(?P<event>E_\d+_\d+)_(?P<segment>A_\d+_\d+)$")


@dataclass(frozen=True)
class Element:
    name: str
    video: str
    event: str
    segment: str
    gym99_class: int
    split: str


def parse_name(name: str) -> tuple[str, str, str]:
    m = _NAME.match(name)
    if not m:
        raise InputError(f"{name!r} is not a FineGym element name (<video>_E_..._A_...)")
    return m["video"], m["event"], m["segment"]


def load_elements(path: Path, split: str | None = None) -> list[Element]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such element list")
    split = split or ("val" if "val" in path.name else "train")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise InputError(f"{path}:{n}: expected '<element name> <class id>', got {line!r}")
        video, event, segment = parse_name(parts[0])
        out.append(Element(parts[0], video, event, segment, int(parts[1]), split))
    return out


def select_subset(elements: list[Element], classes: str = "FX") -> list[Element]:
    """FX (all of FX-JUMP, FX-TURN, FX-SALTO), one subset, or class ids (as `synth`)."""
    from .classes import select_classes

    wanted = {c.gym99_class for c in select_classes("all" if classes == "FX" else classes)}
    return [e for e in elements if e.gym99_class in wanted]


def element_times(annotation: dict, element: Element) -> tuple[float, float]:
    """Start and end of the element in seconds of the source video."""
    try:
        event = annotation[element.video][element.event]
        seg = event["segments"][element.segment]
    except (KeyError, TypeError) as exc:
        raise InputError(f"{element.name}: not in the temporal annotation") from exc
    start = float(event["timestamps"][0][0])
    ts = seg["timestamps"]
    return start + float(ts[0][0]), start + float(ts[-1][1])


def load_annotation(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such annotation file")
    return json.loads(path.read_text())
