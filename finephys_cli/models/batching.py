"""Batched inference of the pose models in pieces, spread over the CPU cores by piece.

The lifter's and PhysNet's ops are small (17 joints × 16-32 frames, width 64-192), so PyTorch's
intra-op threads split each op too finely: on 2 cores, 2 intra-op threads run the lifter only
1.5x faster than one. Independent pieces of the batch on separate Python threads, each with one
intra-op thread, scale close to 2x (torch releases the GIL inside its ops). Measured in
benchmarks/results/pose_throughput_cpu.json; outputs are those of a sequential run.
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
    import torch

    # The intra-op thread count is per thread under OpenMP, so this leaves the caller's alone.
    return ThreadPoolExecutor(workers, thread_name_prefix="finephys-cpu",
                              initializer=torch.set_num_threads, initargs=(1,))


def map_pieces(fn: Callable[["torch.Tensor"], T], batch: "torch.Tensor", piece_size: int,
               device) -> list[T]:
    """`fn` on consecutive pieces of at most `piece_size` rows of `batch`, results in order, under
    inference mode. On CPU with several intra-op threads, the pieces are made small enough to
    give every thread one and run on a pool of that many single-threaded workers."""
    import torch

    def run(piece):
        with torch.inference_mode():       # thread-local: each worker enters its own
            return fn(piece)

    workers = torch.get_num_threads() if torch.device(device).type == "cpu" else 1
    n = len(batch)
    if workers < 2 or n < 2:
        return [run(p) for p in batch.split(max(piece_size, 1))]
    size = max(1, min(piece_size, math.ceil(n / workers)))
    pieces = batch.split(size)
    results = list(_pool(min(workers, len(pieces)), os.getpid()).map(run, pieces))
    if torch.get_num_threads() != workers:   # a thread pool backend without per-thread counts
        torch.set_num_threads(workers)
    return results
