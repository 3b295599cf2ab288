"""`export-vbench`: a generated set in VBench's custom_input layout, so users can run
`vbench evaluate --videos_path DIR --mode custom_input --prompt_file DIR/prompts.json` themselves
(VBench needs its own weights and network; we do not depend on it)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ..errors import InputError, OutputExistsError
from ..io.atomic import atomic_write_text


def vbench_name(prompt: str) -> str:
    """VBench derives the prompt from the file name, so keep it readable and path-safe."""
    return re.sub(r"\s+", " ", re.sub(r"[/\\:*?\"<>|\n\r\t]", " ", prompt)).strip()[:180]


def export_vbench(items, output: Path, *, overwrite: bool = False) -> list[Path]:
    output = Path(output)
    if output.exists():
        if not overwrite:
            raise OutputExistsError(f"{output} exists; pass --overwrite")
        shutil.rmtree(output)
    output.mkdir(parents=True)
    counts: dict[str, int] = {}
    mapping = {}
    for it in items:
        if not it.prompt:
            raise InputError(f"{it.path}: no prompt (needs a generate sidecar)")
        if it.path.suffix.lower() != ".mp4":
            raise InputError(f"{it.path}: VBench reads mp4")
        base = vbench_name(it.prompt)
        i = counts.get(base, 0)
        counts[base] = i + 1
        dest = output / f"{base}-{i}.mp4"
        shutil.copy2(it.path, dest)
        mapping[dest.name] = it.prompt
    prompts = output / "prompts.json"
    atomic_write_text(prompts, json.dumps(mapping, indent=1))
    return [output, prompts]
