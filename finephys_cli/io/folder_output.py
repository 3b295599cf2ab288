"""Folder outputs (`export-vbench`, `study make`) under the rerun rule of every other stage:
the same config and inputs skip (exit 0, the paths printed again), other ones are refused
without --overwrite. The folder is built as OUT.partial/ and renamed into place, with a stamp
(finephys_output.json) recording what it was made from."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..console import log
from ..errors import OutputExistsError
from .atomic import OutputLock, partial_path
from .fingerprint import combine

STAMP = "finephys_output.json"


class FolderOutput:
    def __init__(self, path: Path, *, command: str, key: Mapping[str, Any],
                 overwrite: bool = False):
        self.path = Path(path)
        self.command = command
        self.key = combine(command, json.dumps(key, sort_keys=True, default=str))
        self.overwrite = overwrite

    @property
    def up_to_date(self) -> bool:
        """The folder exists and was made from this config and these inputs. A folder made
        otherwise (or by an older finephys, without a stamp) is refused unless --overwrite."""
        if not self.path.exists():
            return False
        try:
            made = json.loads((self.path / STAMP).read_text()).get("key")
        except (OSError, ValueError):
            made = None
        if made == self.key and not self.overwrite:
            log.info("%s is up to date; use --overwrite to redo it", self.path)
            return True
        if not self.overwrite:
            why = "other settings or inputs" if made else "no finephys stamp"
            raise OutputExistsError(f"{self.path} exists ({why}); use --overwrite to replace "
                                    "it, or another output")
        return False

    @contextmanager
    def building(self) -> Iterator[Path]:
        """The folder to fill; renamed to the output (replacing an old one) once the body is
        done. An interrupted build leaves OUT.partial/, cleared by the next run."""
        tmp = partial_path(self.path)
        with OutputLock(self.path):
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            yield tmp
            (tmp / STAMP).write_text(json.dumps({"command": self.command, "key": self.key}))
            if self.path.exists():
                shutil.rmtree(self.path)
            os.replace(tmp, self.path)
