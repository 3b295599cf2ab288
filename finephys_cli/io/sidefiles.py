"""Side files a command reads besides its main input (COCO annotations, ratings, prompt
lists): read once at the boundary, so a wrong file is a one-line error, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError


def read_text(path: Path, what: str) -> str:
    """The file as UTF-8 text; a missing, unreadable or binary file (an HDF5 file, a video)
    is an InputError naming `what` was expected."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected {what})")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: a binary file, not {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: unreadable ({exc.strerror or exc})") from None


def read_json(path: Path, what: str) -> Any:
    """The parsed JSON of a side file; not JSON at all is an InputError naming `what`."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}); expected "
                         f"{what}") from None
