"""Saving and loading finephys nn.Modules as `config.json` + `model.safetensors`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ..errors import ModelNotFoundError, SchemaError


class SavableMixin:
    """For modules with a dataclass `config` and a `config_class`."""

    config: Any
    config_class: type
    # Fields added after a model was first shipped, with the value that reproduces how models
    # saved before them were trained (their config.json has no such key).
    legacy_defaults: dict[str, Any] = {}

    def save_pretrained(self, folder: Path, extra: dict | None = None) -> Path:
        from safetensors.torch import save_file

        from ..io.atomic import atomic_write_text

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        cfg = {"model_type": type(self).__name__, **dataclasses.asdict(self.config),
               **(extra or {})}
        atomic_write_text(folder / "config.json", json.dumps(cfg, indent=2, default=list))
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}  # type: ignore[attr-defined]
        tmp = folder / "model.safetensors.partial"
        save_file(state, str(tmp))
        tmp.replace(folder / "model.safetensors")
        return folder

    @classmethod
    def from_pretrained(cls, folder: Path, device: str = "cpu"):
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
            raise ModelNotFoundError(f"{folder}: expected config.json and model.safetensors")
        raw = json.loads((folder / "config.json").read_text())
        if raw.get("model_type") != cls.__name__:
            raise SchemaError(f"{folder}: a {raw.get('model_type')} model, expected {cls.__name__}")
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        raw = {**cls.legacy_defaults, **raw}
        cfg = cls.config_class(**{k: (tuple(v) if isinstance(v, list) else v)
                                  for k, v in raw.items() if k in fields})
        model = cls(cfg)
        model.load_state_dict(load_file(str(folder / "model.safetensors"), device=device))  # type: ignore[attr-defined]
        return model.to(device).eval()  # type: ignore[attr-defined]
