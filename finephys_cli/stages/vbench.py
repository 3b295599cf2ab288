"""`export-vbench`: a generated set in VBench's custom_input layout, so users can run
`vbench evaluate --videos_path DIR --mode custom_input --prompt_file DIR/prompts.json` themselves
(VBench needs its own weights and network; we do not depend on it)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ..errors import InputError
from ..io.atomic import atomic_write_text
from ..io.fingerprint import file_fingerprint
from ..io.folder_output import FolderOutput


def vbench_name(prompt: str) -> str:
    """VBench derives the prompt from the file name, so keep it readable and path-safe."""
    return re.sub(r"\s+", " ", re.sub(r"[/\\:*?\"<>|\n\r\t]", " ", prompt)).strip()[:180]


def export_vbench(items, output: Path, *, overwrite: bool = False) -> list[Path]:
    """Copy each generated mp4 as '<prompt>-<i>.mp4' and write prompts.json; a rerun over the
    same videos skips, over other ones is refused without --overwrite."""
    output = Path(output)
    for it in items:
        if not it.prompt:
            raise InputError(f"{it.path}: no prompt (needs a generate sidecar)")
        if it.path.suffix.lower() != ".mp4":
            raise InputError(f"{it.path}: VBench reads mp4")
    folder = FolderOutput(output, command="export-vbench", key={
        "videos": [[it.name, it.prompt, file_fingerprint(it.path)] for it in items]},
        overwrite=overwrite)
    if folder.up_to_date:
        return [output, output / "prompts.json"]
    with folder.building() as tmp:
        counts: dict[str, int] = {}
        mapping = {}
        for it in items:
            base = vbench_name(it.prompt)
            i = counts.get(base, 0)
            counts[base] = i + 1
            dest = tmp / f"{base}-{i}.mp4"
            shutil.copy2(it.path, dest)
            mapping[dest.name] = it.prompt
        atomic_write_text(tmp / "prompts.json", json.dumps(mapping, indent=1))
    return [output, output / "prompts.json"]
