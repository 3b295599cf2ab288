"""Copy a trained PhysNet/MLP folder into the package with its weights stored in fp16 (half the
size in git; `from_pretrained` loads them back into fp32). The projection P stays fp32.
    python benchmarks/skeletons/ship_fp16.py RUN/model-best finephys_cli/assets/physnet"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file


def ship_fp16(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(src / "model.safetensors"))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()},
              str(dst / "model.safetensors"))
    for name in ("config.json", "projection.safetensors"):
        if (src / name).exists():
            shutil.copy(src / name, dst / name)


if __name__ == "__main__":
    ship_fp16(Path(sys.argv[1]), Path(sys.argv[2]))
    print(sys.argv[2])
