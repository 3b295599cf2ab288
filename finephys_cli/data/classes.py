"""The Gym99 floor-exercise class table (FX-JUMP, FX-TURN, FX-SALTO), read from package data."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..errors import InputError, UsageError

SUBSETS = ("FX-JUMP", "FX-TURN", "FX-SALTO")


@dataclass(frozen=True)
class GymClass:
    gym99_class: int
    subset: str
    subset_id: int
    label: str


@lru_cache(maxsize=1)
def load_classes() -> tuple[GymClass, ...]:
    text = resources.files("finephys_cli.assets").joinpath("gym99_fx_classes.csv").read_text()
    rows = csv.DictReader(text.splitlines())
    return tuple(GymClass(int(r["gym99_class"]), r["subset"], int(r["subset_id"]), r["label"])
                 for r in rows)


def class_by_id(gym99_class: int) -> GymClass:
    for c in load_classes():
        if c.gym99_class == gym99_class:
            return c
    raise InputError(f"unknown Gym99 FX class {gym99_class} (valid: 6-40)")


def select_classes(spec: str) -> list[GymClass]:
    """`all`, a subset name (`FX-JUMP`), or a comma list of ids and subsets (`6,7,FX-TURN`)."""
    spec = spec.strip()
    if spec.lower() == "all":
        return list(load_classes())
    chosen: list[GymClass] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part.upper() in SUBSETS:
            chosen += [c for c in load_classes() if c.subset == part.upper()]
        elif re.fullmatch(r"\d+", part):
            try:
                chosen.append(class_by_id(int(part)))
            except InputError as exc:   # the option's value, not bad data: a usage error
                raise UsageError(f"--classes: {part} is not a Gym99 FX class id (valid: "
                                 f"6-40)") from exc
        else:
            raise UsageError(f"--classes: {part!r} is neither a class id (6-40) nor one of "
                             f"{', '.join(SUBSETS)}")
    if not chosen:
        raise UsageError(f"--classes {spec!r} names no class")
    seen, unique = set(), []
    for c in chosen:
        if c.gym99_class not in seen:
            seen.add(c.gym99_class)
            unique.append(c)
    return unique
