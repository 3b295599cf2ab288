"""`generate --compile`: torch.compile of the UNet and the VAE decoder, paid once per machine.

Two caches make the second process cheap: Inductor's FX-graph and AOTAutograd caches, pointed
at a persistent folder under the user cache dir (torch keeps them in /tmp by default), and
torch's mega-cache (`torch.compiler.save_cache_artifacts`), saved after the first compiled
sample and loaded before the next process compiles.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..console import log


def cache_dir() -> Path:
    base = os.environ.get("FINEPHYS_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") \
        or str(Path.home() / ".cache")
    sub = Path(base) if os.environ.get("FINEPHYS_CACHE_DIR") else Path(base) / "finephys"
    return sub / "compile"


def enable_persistent_cache() -> Path:
    """Point Inductor's caches at cache_dir() unless the user already chose a folder."""
    root = cache_dir()
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(root / "inductor"))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")
    Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    return root


def artifact_key(*parts: object) -> str:
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    text = "|".join(map(str, (torch.__version__, device, *parts)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_artifacts(key: str) -> bool:
    import torch

    path = cache_dir() / f"{key}.megacache"
    if not path.is_file():
        return False
    try:
        torch.compiler.load_cache_artifacts(path.read_bytes())
    except Exception as exc:  # a stale or foreign cache only costs a compile
        log.warning("compile cache %s unreadable (%s); compiling afresh", path, exc)
        return False
    return True


def save_artifacts(key: str) -> Path | None:
    import torch

    saved = torch.compiler.save_cache_artifacts()
    if not saved:
        return None
    data, _ = saved
    path = cache_dir() / f"{key}.megacache"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def cache_report() -> dict:
    """For `finephys env`: where the compile cache lives and how big it is."""
    root = cache_dir()
    inductor = Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR", root / "inductor"))
    files = [p for d in {root, inductor} if d.is_dir() for p in d.rglob("*") if p.is_file()]
    return {"dir": str(root), "inductor_dir": str(inductor),
            "megacaches": len(list(root.glob("*.megacache"))) if root.is_dir() else 0,
            "files": len(files), "mib": round(sum(p.stat().st_size for p in files) / 2 ** 20, 1)}
