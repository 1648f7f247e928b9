"""codegen.parallel: chunked outer loops on graphjit's threads (no graphjit imports)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from codegen import numba_backend, parallel
from tests.codegen.test_backend import add_exp_kernel


def recorder():
    seen, lock = [], threading.Lock()

    def fn(out, lo, hi):
        with lock:
            seen.append((lo, hi, threading.current_thread().name))
        out[lo:hi] += 1
    return fn, seen


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_every_index_is_run_exactly_once(set_threads, n, monkeypatch):
    set_threads(2)
    fn, seen = recorder()
    out = np.zeros(n, np.int64)
    parallel.run_chunked(fn, (out,), n)
    assert (out == 1).all()
    largest = -(-n // min(n, 2))
    smallest = min(largest, -(-n // (2 * parallel.CHUNKS_PER_THREAD_BUSY)))
    assert sorted(lo for lo, _, _ in seen) == [
        lo for lo, _ in parallel.chunk_bounds(n, 2, largest, smallest)]


@pytest.mark.parametrize("n", [1, 2, 3, 31, 32, 33, 1000, 4096, 100_003])
@pytest.mark.parametrize("threads", [2, 3, 8])
@pytest.mark.parametrize("per_thread", [1, 4, parallel.CHUNKS_PER_THREAD_BUSY])
def test_guided_chunks_cover_the_loop_and_shrink_to_the_end(n, threads, per_thread):
    largest = -(-n // min(n, threads * per_thread))
    smallest = min(largest, -(-n // (threads * parallel.CHUNKS_PER_THREAD_BUSY)))
    bounds = parallel.chunk_bounds(n, threads, largest, smallest)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # no gap, no overlap
    sizes = [hi - lo for lo, hi in bounds]
    assert all(s >= 1 for s in sizes) and max(sizes) <= largest
    assert all(s >= smallest for s in sizes[:-1])  # only the last may be shorter
    assert sizes == sorted(sizes, reverse=True)
    # guided: about threads * log(largest / smallest) chunks, then the short ones
    assert len(bounds) <= 2 * threads * parallel.CHUNKS_PER_THREAD_BUSY


def test_the_first_chunk_is_a_threads_share_and_the_last_ones_short():
    """Few crossings into native code, and at the end of a call, where one thread may
    wait for another, short chunks."""
    assert parallel.chunk_bounds(4096, 2, 2048, 128) == [
        (0, 2048), (2048, 3072), (3072, 3584), (3584, 3840), (3840, 3968), (3968, 4096)]


def test_the_caller_takes_the_chunks_of_a_helper_that_never_wakes(set_threads, monkeypatch):
    class SleepingPool:
        class inbox:  # noqa: N801 - stands in for a queue nobody reads
            @staticmethod
            def put(work):
                pass
    set_threads(2)
    monkeypatch.setattr(parallel, "_pool", None)  # (a call uses a pool it has without asking)
    monkeypatch.setattr(parallel, "_get_pool", lambda helpers: SleepingPool)
    fn, seen = recorder()
    out = np.zeros(100, np.int64)
    parallel.run_chunked(fn, (out,), 100)
    assert (out == 1).all()
    assert {name for _, _, name in seen} == {threading.current_thread().name}


def test_an_error_in_a_chunk_reaches_the_caller(set_threads, monkeypatch):
    set_threads(2)

    def fn(lo, hi):
        if lo == 0:
            raise ValueError("chunk failed")
    with pytest.raises(ValueError, match="chunk failed"):
        parallel.run_chunked(fn, (), 50)


def test_long_loops_run_in_short_chunks_even_on_one_thread(set_threads, monkeypatch):
    """Python sees Ctrl-C only between native calls: no chunk may run for long."""
    set_threads(1)
    fn, seen = recorder()
    out = np.zeros(1000, np.int64)
    parallel.run_chunked(fn, (out,), 1000, work=100 * parallel.MAX_CHUNK_WORK)
    assert (out == 1).all() and len(seen) == 100


@pytest.mark.parametrize("threads", [1, 2])
def test_a_keyboard_interrupt_stops_the_chunks_not_started(set_threads, threads, monkeypatch):
    set_threads(threads)
    started = []

    def fn(lo, hi):
        started.append(lo)
        if len(started) == 3:
            raise KeyboardInterrupt  # as Python raises a Ctrl-C after a native call
    with pytest.raises(KeyboardInterrupt):
        parallel.run_chunked(fn, (), 10_000, work=10_000 * parallel.MAX_CHUNK_WORK)
    assert len(started) <= 4  # the other thread may have been inside one chunk


def test_a_parallel_kernel_compiles_serially_and_runs_in_chunks(set_threads, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    set_threads(2)
    compiled = numba_backend.compile_kernel(add_exp_kernel("chunked", constant=0.5))
    assert "parallel=False" in compiled.source
    assert "def chunked(in0, in1, out0, chunk_lo, chunk_hi):" in compiled.source
    assert "for i0_u in range(chunk_lo, chunk_hi):" in compiled.source
    assert "out0[i0_u, i1] = " in compiled.source  # unsigned: no negative-index wrap
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(37, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    out = np.empty((37, 5), np.float32)
    compiled.call(x, y, out)
    np.testing.assert_allclose(out, np.exp(x + y) * 0.5, rtol=1e-6)


def test_the_pool_grows_to_the_largest_thread_count_and_no_further(set_threads, monkeypatch):
    out = np.zeros(64, np.int64)
    for threads in (3, 2, 3, 1):
        set_threads(threads)
        fn, _ = recorder()
        parallel.run_chunked(fn, (out,), 64)
    assert (out == 4).all()
    helpers = parallel._get_pool(0).helpers
    alive = [t for t in threading.enumerate() if t.name.startswith("graphjit-")]
    assert helpers >= 2 and len(alive) == helpers  # grown for 3 threads, never replaced


def test_a_chunked_kernel_sizes_each_shape_by_its_own_extent(set_threads, tmp_path, monkeypatch):
    """The loop extent and work of a chunked call are remembered per argument shapes:
    a second shape must not run with the first one's extent."""
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    set_threads(2)
    compiled = numba_backend.compile_kernel(add_exp_kernel("sized", constant=2.0))
    rng = np.random.default_rng(2)
    y = rng.normal(size=5).astype(np.float32)
    for rows in (37, 3, 37, 0, 3):
        x = rng.normal(size=(rows, 5)).astype(np.float32)
        out = np.full((rows, 5), np.nan, np.float32)
        compiled.call(x, y, out)
        np.testing.assert_allclose(out, np.exp(x + y) * 2.0, rtol=1e-6)
