"""`--shard I/N`: which slice of a batch a Slurm array task does, and where it writes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError


@dataclass
class ShardInfo:
    index: int
    count: int
    start: int
    stop: int
    total: int


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`I/N` with 0 <= I < N (Slurm's 0-based SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT)."""
    if text is None or text == "":
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise UsageError(f"--shard expects I/N, e.g. 0/8, got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {text}: need 0 <= I < N")
    return i, n


def shard_slice(n_items: int, shard: tuple[int, int]) -> ShardInfo:
    i, n = shard
    return ShardInfo(index=i, count=n, start=i * n_items // n, stop=(i + 1) * n_items // n,
                     total=n_items)


def shard_output_path(output: Path, shard: tuple[int, int] | None) -> Path:
    if shard is None:
        return output
    i, n = shard
    suffix = output.suffix or ".h5"
    return output.with_name(f"{output.name[:-len(output.suffix)] if output.suffix else output.name}"
                            f".shard-{i}-of-{n}{suffix}")


def apply_shard(items: list, shard: tuple[int, int] | None) -> tuple[list, ShardInfo | None]:
    if shard is None:
        return items, None
    info = shard_slice(len(items), shard)
    return items[info.start:info.stop], info
