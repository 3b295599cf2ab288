"""What an output was made from: a fingerprint per input item, so a rerun can tell a finished
output for *these* inputs from one made of others (or of an older version of the same file)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

HEAD_BYTES = 1 << 16


def file_fingerprint(path: Path) -> str:
    """size + mtime + sha256 of the first 64 KiB: cheap on long videos, and it changes when a file
    is rewritten or still being copied."""
    path = Path(path)
    try:
        st = path.stat()
        h = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}:".encode())
        with open(path, "rb") as fh:
            h.update(fh.read(HEAD_BYTES))
    except OSError as exc:
        from ..errors import InputError

        raise InputError(f"{path}: unreadable ({exc.strerror or exc})") from None
    return h.hexdigest()[:24]


def combine(*parts: object) -> str:
    """One short digest of several parts (config hashes, upstream fingerprints, ids)."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:24]


def inputs_hash(inputs: Mapping[str, str]) -> str:
    """The digest of a whole input map {item id: fingerprint}, independent of its order."""
    return combine(*(f"{k}={inputs[k]}" for k in sorted(inputs)))


_HASHES: dict[tuple[str, int, float], str] = {}


def model_fingerprint(path: Path | None) -> str | None:
    """sha256 over a model's weight and config files (name, then content), cached per run: a
    model retrained or reconfigured in place gets another fingerprint."""
    if path is None:
        return None
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix in
        (".safetensors", ".bin", ".ckpt", ".pt", ".json", ".txt"))
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        key = (str(f.resolve()), st.st_size, st.st_mtime)
        if key not in _HASHES:
            fh = hashlib.sha256()
            with open(f, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 22), b""):
                    fh.update(block)
            _HASHES[key] = fh.hexdigest()
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        h.update(_HASHES[key].encode())
    return h.hexdigest()
