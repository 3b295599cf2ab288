"""Saving and loading finephys nn.Modules; the folder format itself is io/model_files.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..io.model_files import read_model_folder, write_model_folder


class SavableMixin:
    """For modules with a dataclass `config` and a `config_class`."""

    config: Any
    config_class: type
    # Fields added after a model was first shipped, with the value that reproduces how models
    # saved before them were trained (their config.json has no such key).
    legacy_defaults: dict[str, Any] = {}

    def save_pretrained(self, folder: Path, extra: dict | None = None) -> Path:
        return write_model_folder(folder, type(self).__name__,
                                  {**dataclasses.asdict(self.config), **(extra or {})},
                                  self.state_dict())  # type: ignore[attr-defined]

    @classmethod
    def from_pretrained(cls, folder: Path, device: str = "cpu"):
        raw, state = read_model_folder(folder, cls.__name__, device)
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        raw = {**cls.legacy_defaults, **raw}
        cfg = cls.config_class(**{k: (tuple(v) if isinstance(v, list) else v)
                                  for k, v in raw.items() if k in fields})
        model = cls(cfg)
        model.load_state_dict(state)  # type: ignore[attr-defined]
        return model.to(device).eval()  # type: ignore[attr-defined]
