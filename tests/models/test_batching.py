import threading

import pytest
import torch

from finephys_cli.models.batching import map_pieces


def test_pieces_in_order_under_inference_mode_on_worker_threads():
    seen = []

    def fn(piece):
        seen.append((threading.current_thread().name, torch.is_inference_mode_enabled(),
                     torch.get_num_threads()))
        return piece * 2

    batch = torch.arange(10.0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = map_pieces(fn, batch, 16, "cpu")
        assert torch.get_num_threads() == 2          # the caller's count is left alone
        later = []                                   # and so is the default of new threads
        t = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
        t.start()
        t.join()
        assert later == [2]
    finally:
        torch.set_num_threads(before)
    # 10 rows, 2 intra-op threads: two pieces of 5, one per single-threaded worker.
    assert [len(p) for p in out] == [5, 5]
    torch.testing.assert_close(torch.cat(out), batch * 2)
    assert all(name.startswith("finephys-cpu") and inference and threads == 1
               for name, inference, threads in seen)


def test_one_thread_or_cuda_runs_sequential_pieces_in_the_caller():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        names = []
        out = map_pieces(lambda p: names.append(threading.current_thread().name) or p,
                         torch.arange(7.0), 3, "cpu")
    finally:
        torch.set_num_threads(before)
    assert [len(p) for p in out] == [3, 3, 1]
    assert set(names) == {threading.current_thread().name}


def test_errors_in_a_piece_reach_the_caller():
    def fail(piece):
        raise ValueError("bad piece")

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="bad piece"):
            map_pieces(fail, torch.zeros(4), 2, "cpu")
    finally:
        torch.set_num_threads(before)


def test_a_forked_child_gets_its_own_workers():
    """Regression guard: the pool is cached per process, so a fork (DataLoader workers) that
    inherits it without its threads does not wait forever."""
    import multiprocessing as mp

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        map_pieces(lambda p: p, torch.zeros(64), 2, "cpu")   # the parent's pool, 32 pieces done
        ctx = mp.get_context("fork")
        with ctx.Pool(1) as pool:
            got = pool.apply_async(_child_sum).get(timeout=60)
    finally:
        torch.set_num_threads(before)
    assert got == 12.0


def _child_sum():
    torch.set_num_threads(2)
    return float(torch.cat(map_pieces(lambda p: p * 2, torch.arange(4.0), 2, "cpu")).sum())
