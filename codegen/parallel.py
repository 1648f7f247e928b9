"""Running a kernel's outer loop in chunks on graphjit's own threads.

A parallel kernel is compiled serially with its outer loop bounded by two extra
arguments (lo, hi); `run_chunked` hands the loop out in chunks, each a share of what
is left (guided scheduling: large first, short last), and the calling thread and the
pool's helpers take chunks until none is left (the kernels release the GIL). Numba's
`prange` splits the loop once, equally, over its threads: on a shared or virtual
machine a thread that wakes late then doubles the run (softmax rows: 1.4 ms when both
threads started at once, 2.8 ms when one was late), while here the awake thread takes
the late one's chunks.
Compiling without `parallel=True` also skips Numba's slow parfor passes.

Helpers cost a wake-up each (codegen.wake_cost, measured on this machine), and on a busy
machine a woken helper waits for a core. A call site (`Site`) therefore measures what its
work costs per unit and wakes helpers only when a call's estimated time is at least
WAKE_FACTOR times the wake cost seen now; below that, or with one thread, the chunks run
on the caller alone with no pool, lock or event. Helpers block on their queue: they never
spin.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time

from codegen import wake_cost

# On a busy machine a helper may lose its core in the middle of a chunk, and the caller
# then waits for that chunk: finer chunks shorten the wait (W2 and W3 beside two busy
# processes: 7.6 and 3.5 ms with 16 equal chunks a thread, 11.8 and 7.3 ms with 4). A
# busy machine's calls get chunks of this share; on any machine the last chunks of a
# call are this short, so no thread waits long for another's last one.
CHUNKS_PER_THREAD_BUSY = 16
# A chunk covers at most this many inner iterations (a few milliseconds): Python sees a
# Ctrl-C only between native calls, so a long run stays interruptible between chunks.
MAX_CHUNK_WORK = 1 << 22
# A call wakes helpers only when its estimated time is this many times the wake cost: a
# helper that starts `wake` late shares the rest, and the caller may sleep once more
# waiting for the helper's last chunk.
WAKE_FACTOR = 4


# The process's thread budget: set_num_threads's value, else read once, at first use
# (initial_num_threads). A call reads this global, never the environment: reading
# os.environ cost ~1.7 us a call (a missing key raises inside), a fifth of a small
# GEMM's time. A plain int, so every thread sees one value and a fork inherits it.
_num_threads: int | None = None
_num_threads_lock = threading.Lock()


def num_threads() -> int:
    """The thread budget: parallel kernels' threads, the caller's included, and the most
    BLAS threads a GEMM site gives (set_num_threads; GRAPHJIT_NUM_THREADS at first use)."""
    global _num_threads
    n = _num_threads
    if n is None:
        with _num_threads_lock:
            if _num_threads is None:
                _num_threads = initial_num_threads()
            n = _num_threads
    return n


def set_num_threads(n: int) -> None:
    """Set the thread budget for every later call, of any thread (process-wide, as
    numba.set_num_threads and torch.set_num_threads)."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be a positive integer, got {n!r}")
    with _num_threads_lock:  # (not lost to a first use reading the environment meanwhile)
        _num_threads = n


@contextlib.contextmanager
def thread_budget(n: int):
    """set_num_threads(n) inside the block; the budget before it is put back after
    (process-wide: other threads' calls meanwhile get `n` too)."""
    global _num_threads
    before = _num_threads  # (None: read at first use again, as before the block)
    set_num_threads(n)
    try:
        yield
    finally:
        with _num_threads_lock:
            _num_threads = before


def initial_num_threads() -> int:
    """GRAPHJIT_NUM_THREADS, else Numba's thread count (the usable cores): the budget
    until set_num_threads changes it, read by the first call that needs it."""
    value = os.environ.get("GRAPHJIT_NUM_THREADS")
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"GRAPHJIT_NUM_THREADS must be a positive integer, got "
                             f"{value!r}") from None
        return max(1, n)
    # (no config yet, or one half made, while codegen.warm_start's thread imports Numba:
    # then Numba's default is read as Numba reads it)
    count = getattr(getattr(sys.modules.get("numba"), "config", None), "NUMBA_NUM_THREADS",
                    None)
    if isinstance(count, int):
        return max(1, count)
    # Numba's default, read without importing it (a warm start runs kernels loaded by
    # codegen.native): NUMBA_NUM_THREADS, else the cores this process may run on.
    value = os.environ.get("NUMBA_NUM_THREADS")
    if value:
        return max(1, int(value))
    return wake_cost.read_cores()


class _Pool:
    """Helper threads sharing one inbox; each runs the work items it takes (daemons,
    never joined). The pool only grows: a call hands out as many items as it wants
    helpers, and any idle helper takes one."""

    def __init__(self):
        self.pid = os.getpid()
        self.helpers = 0
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()

    def ensure(self, helpers: int) -> None:
        while self.helpers < helpers:
            threading.Thread(target=self._serve, name=f"graphjit-{self.helpers}",
                             daemon=True).start()
            self.helpers += 1

    def _serve(self) -> None:
        while True:
            self.inbox.get()()  # blocks: an idle helper sleeps, never spins


# While a trace records: observer(name, lo, hi, chunk count, start ns, end ns), called on
# the thread that ran the chunk (runtime.trace sets it; one test per chunked call else).
_chunk_observer = None


def observe_chunks(observer) -> None:
    """Report every chunk run from now on to `observer` (None: stop reporting)."""
    global _chunk_observer
    _chunk_observer = observer


def _observed(fn, count: int, observer):
    """`fn` timing each chunk it runs and telling `observer` (on the chunk's thread)."""
    name = getattr(fn, "__name__", "kernel")
    clock = time.perf_counter_ns

    def run(*args):
        start = clock()
        try:
            fn(*args)
        finally:
            observer(name, args[-2], args[-1], count, start, clock())
    return run


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _get_pool(helpers: int) -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = _Pool()  # (after a fork the parent's threads are gone)
        _pool.ensure(helpers)
        return _pool


def _forget_pool() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()  # (the parent's threads are gone)


if hasattr(os, "register_at_fork"):
    # (a call then reads _pool without a pid test; _get_pool still checks for safety)
    os.register_at_fork(after_in_child=_forget_pool)


class Site:
    """One chunked kernel's call site: what a unit of its work costs (ns, from the chunks
    it ran), hence how many threads a call of some size should get."""

    __slots__ = ("name", "ns_per_unit")

    def __init__(self, name: str = "kernel"):
        self.name = name
        self.ns_per_unit: float | None = None  # unknown until a first call measured it

    def threads(self, work: int, available: int) -> int:
        """1 until a call measured the cost; then as many threads as the estimated time
        pays wake-ups for (one more per WAKE_FACTOR x the wake cost seen now)."""
        if available <= 1 or self.ns_per_unit is None:
            return 1
        estimate = work * self.ns_per_unit * 1e-9
        per_thread = WAKE_FACTOR * wake_cost.current()
        return max(1, min(available, 1 + int(estimate // per_thread)))

    def measured(self, ns: int, units: float) -> None:
        if units <= 0:
            return
        rate = ns / units
        old = self.ns_per_unit
        self.ns_per_unit = rate if old is None else 0.7 * old + 0.3 * rate


def chunk_size(remaining: int, threads: int, largest: int, smallest: int) -> int:
    """The rows of the next chunk when `remaining` are left (guided scheduling, as
    OpenMP's): a 1/threads share of what is left, within [smallest, largest]. The first
    chunks are large, so a call crosses between Python and native code few times (each
    crossing runs the interpreter from cold caches: ~10 us), and the last ones short, so
    no thread waits long for another's last chunk (a helper that woke late, one that lost
    its core). Softmax over (4096, 1024) on 2 threads: 6 chunks instead of 8 equal ones,
    4-12% faster (helpers forced on, rotated and back to back, interleaved in one process
    run on a shared 2-core machine)."""
    return min(remaining, max(smallest, min(largest, -(-remaining // threads))))


def chunk_bounds(n: int, threads: int, largest: int, smallest: int) -> list[tuple[int, int]]:
    """Every chunk of [0, n) in the order they are handed out (what `chunk_size` gives)."""
    bounds, lo = [], 0
    while lo < n:
        hi = lo + chunk_size(n - lo, threads, largest, smallest)
        bounds.append((lo, hi))
        lo = hi
    return bounds


class _Chunks:
    """One call's chunks: handed out under a lock, each sized when it is taken, so the
    caller knows when every chunk taken has finished (a helper that wakes after the last
    one takes nothing). `done` is a lock held until then: the caller blocks on it."""

    def __init__(self, fn, arrays, n: int, threads: int, largest: int, smallest: int):
        self.fn, self.arrays, self.n = fn, arrays, n
        self.threads, self.largest, self.smallest = threads, largest, smallest
        self.next = 0  # the first row not handed out
        self.running = 0
        self.ns = 0  # time the chunks took, all threads together
        self.lock = threading.Lock()
        self.done = threading.Lock()
        self.done.acquire()
        self.error: BaseException | None = None
        self.posted = 0

    def helper(self) -> None:
        """What a helper runs: its start latency tells wake_cost how busy cores are
        (told once its chunks are done: the call waits for chunks, not for this)."""
        started = time.perf_counter_ns()
        self.work()
        wake_cost.observe((started - self.posted) * 1e-9)

    def work(self) -> None:
        """Take chunks and run them until none is left: one critical section a chunk,
        which counts the chunk just run and hands out the next."""
        clock = time.perf_counter_ns
        n, lock = self.n, self.lock
        took = -1  # (no chunk run yet)
        while True:
            with lock:
                if took >= 0:
                    self.ns += took
                    self.running -= 1
                lo = self.next
                if lo >= n:
                    if took >= 0 and self.running == 0:
                        self.done.release()  # (once: the last chunk running has ended)
                    return
                hi = lo + chunk_size(n - lo, self.threads, self.largest, self.smallest)
                self.next = hi
                self.running += 1
            start = clock()
            try:
                if self.error is None:  # (read per chunk: a helper that takes none
                    self.fn(*self.arrays, lo, hi)  # never holds the caller's arrays)
            except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
                self.error = exc
            took = clock() - start


def _serial(fn, arrays: tuple, n: int, count: int, site: Site | None, work: int) -> None:
    """The chunks on this thread alone: no pool, no lock (one chunk per MAX_CHUNK_WORK,
    so Ctrl-C still stops a long run between chunks)."""
    clock = time.perf_counter_ns
    start = clock()
    for i in range(count):
        fn(*arrays, i * n // count, (i + 1) * n // count)
    if site is not None:
        site.measured(clock() - start, work)


def run_chunked(fn, arrays: tuple, n: int, work: int = 0, site: Site | None = None) -> None:
    """fn(*arrays, lo, hi) over [0, n) in chunks, on this thread and the pool's.

    `work` is the number of inner iterations of the whole loop (0: n): it caps the size
    of a chunk, so each one stays short. With a `site`, the threads are the site's choice
    (Site.threads); without, all of num_threads(). On several threads the chunks
    shrink towards the end (`chunk_size`). A KeyboardInterrupt (or any error) in a chunk
    stops the chunks not yet started and is raised here once the running ones have
    returned.
    """
    work = max(work, n)
    available = min(num_threads(), n)
    threads = available if site is None else site.threads(work, available)
    longest = -(-work // MAX_CHUNK_WORK)  # the fewest chunks that keep each one short
    if threads <= 1:
        count = min(n, longest)
        if _chunk_observer is not None:
            fn = _observed(fn, count, _chunk_observer)
        _serial(fn, arrays, n, count, site, work)
        return
    pool = _pool
    if pool is None or pool.helpers < threads - 1:
        pool = _get_pool(threads - 1)
    finest = threads * CHUNKS_PER_THREAD_BUSY
    # (a busy machine's chunks are all short: its helpers may lose their cores anywhere)
    largest = -(-n // min(n, max(finest if site is not None and wake_cost.busy() else threads,
                                 longest)))
    smallest = min(largest, -(-n // finest))
    chunks = _Chunks(fn, arrays, n, threads, largest, smallest)
    if _chunk_observer is not None:
        count = len(chunk_bounds(n, threads, largest, smallest))
        chunks.fn = _observed(fn, count, _chunk_observer)
    # Helpers first: each takes tens of microseconds to wake, while this thread starts.
    chunks.posted = time.perf_counter_ns()
    for _ in range(threads - 1):
        pool.inbox.put(chunks.helper)
    chunks.work()
    chunks.done.acquire()
    # A helper that wakes late still holds `chunks`: drop the arrays, or the runtime
    # would see its output buffers as held by someone and stop reusing them.
    chunks.fn, chunks.arrays = None, ()
    if chunks.error is not None:
        raise chunks.error
    if site is not None:
        site.measured(chunks.ns, work)
