"""The model folder format of finephys' own nn.Modules: `config.json` (the dataclass config
plus `model_type`) and `model.safetensors`, each written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ModelNotFoundError, SchemaError
from .atomic import atomic_write_text


def write_model_folder(folder: Path, model_type: str, config: dict[str, Any],
                       state: dict[str, Any]) -> Path:
    """`state`: name -> tensor (moved to the CPU, made contiguous)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "config.json",
                      json.dumps({"model_type": model_type, **config}, indent=2, default=list))
    tmp = folder / "model.safetensors.partial"
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp))
    tmp.replace(folder / "model.safetensors")
    return folder


def read_model_folder(folder: Path, model_type: str, device: str = "cpu"
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the config.json fields, the state dict on `device`) of a `model_type` folder."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelNotFoundError(f"{folder}: no such model folder")
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise ModelNotFoundError(f"{folder}: expected config.json and model.safetensors")
    raw = json.loads((folder / "config.json").read_text())
    if raw.get("model_type") != model_type:
        raise SchemaError(f"{folder}: a {raw.get('model_type')} model, expected {model_type}")
    return raw, load_file(str(folder / "model.safetensors"), device=device)

