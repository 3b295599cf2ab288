"""Batched inference of the pose models in pieces, spread over the CPU cores by piece.

The lifter's and PhysNet's ops are small (17 joints × 16-32 frames, width 64-192), so PyTorch's
intra-op threads split each op too finely: on 2 cores, 2 intra-op threads run the lifter only
1.5x faster than one. Independent pieces of the batch on separate Python threads, each with one
intra-op thread, scale about 2x (torch releases the GIL inside its ops). Measured in
benchmarks/results/pose_throughput_cpu.json. Outputs equal a sequential run's within float
tolerance (smaller pieces can round differently: PhysNet ~1e-7).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


@lru_cache(maxsize=4)
def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """Per process: a forked child (a DataLoader worker) inherits the pool but not its
    threads, so it makes its own."""
    return ThreadPoolExecutor(workers, thread_name_prefix="finephys-cpu")


def map_pieces(fn: Callable[["torch.Tensor"], T], batch: "torch.Tensor", piece_size: int,
               device) -> list[T]:
    """`fn` on consecutive pieces of at most `piece_size` rows of `batch`, results in order, under
    inference mode. On CPU with several intra-op threads, the pieces are made small enough to
    give every thread one and run on a pool of that many single-threaded workers."""
    import torch

    def run(piece):
        with torch.inference_mode():       # thread-local: each worker enters its own
            return fn(piece)

    def run_single_threaded(piece):
        torch.set_num_threads(1)
        return run(piece)

    workers = torch.get_num_threads() if torch.device(device).type == "cpu" else 1
    n = len(batch)
    if workers < 2 or n < 2:
        return [run(p) for p in batch.split(max(piece_size, 1))]
    size = max(1, min(piece_size, math.ceil(n / workers)))
    try:
        return list(_pool(workers, os.getpid()).map(run_single_threaded, batch.split(size)))
    finally:
        # A worker's set_num_threads(1) also sets ATen's default for threads made later.
        torch.set_num_threads(workers)
