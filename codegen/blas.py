"""BLAS threads inside graphjit's thread budget: extern GEMM kernels run under a `GemmSite`.

OpenBLAS (and MKL, BLIS) start their own threads, which spin a while after each call. On a
machine whose cores are held by other processes, a GEMM split over threads waits for the
ones that are not running (a 128x784 by 784x256 product: 44 ms instead of 0.9 ms on two
busy cores). The generated code of an extern kernel therefore enters its site before the
calls: the site gives BLAS one thread when the machine is busy (codegen.wake_cost) or when
the GEMMs take too little time to pay for waking more (the rule of codegen.parallel), and
otherwise the user's own BLAS thread count, at most the cores. graphjit's helpers sleep
while a kernel's GEMM runs (the runtime waits for every chunked kernel before the next
step), so graphjit and BLAS together never run more threads than there are cores. The
user's setting is restored on exit: graphjit changes nothing outside its own calls.

With POOL_SPLIT (off: see there), where a site chooses more than one thread, the product
runs as blocks of rows (or of columns) on graphjit's pool, each block a one-thread BLAS
call (`split_matmul`), not on BLAS's own threads: one pool holds the thread budget, BLAS's
workers never wake (after a call they spin for a while, and graphjit's helpers then wait
for a core), and a helper that starts late costs no stall: the caller takes its block
(codegen.parallel), where BLAS's split waits for its late worker (a 128x784 by 784x256
product on two busy cores: 0.26 ms most calls, 20-35 ms when the worker waited).
"""

from __future__ import annotations

import threading
import time
from threading import get_ident

import numpy as np

from codegen import parallel, wake_cost

_libs: list | None = None  # threadpoolctl's controllers of the BLAS libraries loaded
_libs_lock = threading.Lock()


class _Library:
    """One BLAS library's thread count, read and set through its own symbols where
    threadpoolctl exposes them (its public getter costs ~3 us a call, the symbol ~0.2 us):
    a small GEMM pays both on every call."""

    __slots__ = ("get_num_threads", "set_num_threads", "user", "now")

    def __init__(self, controller):
        self.user = self.now = 1  # (while sites are inside: the user's count, the count now)
        self.get_num_threads = controller.get_num_threads
        self.set_num_threads = controller.set_num_threads  # ~5 us a call, the symbol ~0.3
        symbol = getattr(controller, "_get_symbol", None)
        if symbol is not None and getattr(controller, "internal_api", "") == "openblas" \
                and getattr(controller, "threading_layer", "") != "openmp":
            get, set_ = symbol("openblas_get_num_threads"), symbol("openblas_set_num_threads")
            if get is not None and set_ is not None:
                self.get_num_threads, self.set_num_threads = get, set_


def blas_libraries() -> list:
    """The loaded BLAS libraries, through threadpoolctl (empty without any)."""
    global _libs
    if _libs is None:
        with _libs_lock:
            if _libs is None:
                try:
                    from threadpoolctl import ThreadpoolController
                    found = [_Library(c) for c in
                             ThreadpoolController().select(user_api="blas").lib_controllers]
                except Exception:  # noqa: BLE001 - no BLAS to limit, or no threadpoolctl
                    found = []
                _libs = found
    return _libs


def blas_threads() -> int:
    """The thread count the first BLAS library has now (1 without one)."""
    libs = blas_libraries()
    return max(1, libs[0].get_num_threads() or 1) if libs else 1


# Whether a site's multi-thread choice runs on graphjit's pool (split_matmul) instead of
# BLAS's threads. Off: on a 2-core machine shared with other jobs (load about 3),
# benchmarks/gemm_budget.py (a process per setting) gave W4 1.55x NumPy split against
# 1.23x as shipped, W5 1.39x against 1.13x; each block packs the operand it does not
# split again, where BLAS's threads share one packing. Half the CPU on W4 in one loaded
# process (2.7 against 5.3 ms: BLAS's workers spin after each call), the same wall time.
# Nor did it pay for the batch-128 MLP's products (128x784 by 784x256, 128x256 by
# 256x256) beside two busy processes, with 1, 2 or 4 blocks a thread (one process,
# interleaved: 0.64-0.71 ms quiet, 0.70-1.04 loaded, against 0.63 / 0.65 as shipped):
# on a 2-core virtual machine a split's fork and join cost about 0.1 ms (the put 16 us,
# the helper starting 45 us later, the caller woken 60 us after the last block), and a
# block of half the rows took 58% of the whole product's time (each packs all of b).
POOL_SPLIT = False
# Trying the choice a site did not take costs what the try's calls take beyond the
# taken choice's time; the next try waits until the site has run 1 / EXPLORE_SHARE times
# that cost on the taken choice, so trying costs about this share of the site's time
# (and a try costs at least one call of the taken choice: at most one try per 32 calls).
EXPLORE_SHARE = 1 / 32
WINDOW = 8  # a choice's time is the mean of its last WINDOW timed calls: stalls included
# ... and a try's cost halves every DEBT_HALF_LIFE_S: what it cost says less of the
# machine the longer ago it was (a loaded minute's 30 ms tries kept W4's next quiet
# stretch on one thread, 1.5x NumPy's two).
DEBT_HALF_LIFE_S = 2.0

# The sites inside their `with` now (of any thread); the first to enter reads each BLAS
# library's own thread count (the user's: _Library.user) and the last puts it back.
_count_lock = threading.Lock()
_inside = 0


class GemmSite:
    """One extern kernel's BLAS calls: `with site:` runs them on one thread or on the
    budget's threads, whichever this site measured faster lately.

    Whether several BLAS threads pay depends on the GEMM's size and on what else holds
    the cores: on two cores with other work running, a 128x784 by 784x256 product took
    0.43 ms on two threads one minute and 30 ms the next (0.53 ms on one). So the site
    keeps a mean time for each choice and takes the faster. A mean, not a median: on two
    busy cores the two-thread calls of that product took 0.31 ms in most calls and 27 ms
    in about one of three, whose median kept them (mean 27 ms against 0.45 on one).

    It tries the other choice now and then, to see whether the machine changed, but a try
    costs at most EXPLORE_SHARE of the site's time, whatever the call rate: on a loaded
    machine the two-thread tries of W5's products took 14-47 ms against 0.5-1.7 ms, and
    trying each site every two seconds made one W5 call in five 30-90 ms slower. A try
    made while the machine was busy (codegen.wake_cost.busy) says nothing once it is
    quiet: the first call that finds it quiet tries again.

    The first call after a switch pays for the switch (BLAS's workers, asleep after a
    stretch of one-thread calls, woken; or spinning beside a one-thread call), not the
    choice's steady cost: it is not timed, and the next call keeps the choice and is;
    so do the calls after it while they beat the other choice. An MLP's product on a
    loaded 2-core machine: two threads took 0.25 ms a call back to back, but 24-36 ms on
    about half the lone tries.

    BLAS's thread count is one per process: the first site to enter (of any thread)
    reads the user's setting, the last to leave puts it back, under one lock, and a site
    entered while another runs takes one thread (two threads of the user already hold
    cores) and decides nothing from its call."""

    __slots__ = ("seconds", "recent", "calls", "_start", "_used", "_timed", "_split",
                 "_last", "_again", "_owner", "_spent", "_debt", "_debt_busy", "_trying",
                 "_try_cost", "_debt_at")

    def __init__(self):
        self.seconds: dict[int, float] = {}  # the calls' mean time, by thread count
        self.recent: dict[int, list] = {}  # the last WINDOW times, by thread count
        self.calls = 0
        self._start = 0
        self._used = 1
        self._timed = False
        self._split = 1  # threads of graphjit's pool for the calls inside (split_matmul)
        self._last = 0  # the threads of the previous call (0: none yet)
        self._again = 0  # the threads the next call keeps: a switch, or a try running on
        self._owner = 0  # the thread whose call this site decides from (0: none inside)
        self._spent = 0.0  # seconds on the taken choice since the last try ended
        self._debt = 0.0  # what the last try cost: the next waits for spent to pay it
        self._debt_busy = False  # the machine was busy when the last try began
        self._trying = 0  # the choice being tried (0: none)
        self._try_cost = 0.0
        self._debt_at = 0.0  # time.monotonic() when the last try ended

    @staticmethod
    def budget(user: int) -> int:
        """The most BLAS threads a call may use: `user` (the library's setting now), the
        cores and graphjit's thread count. One thread (OPENBLAS_NUM_THREADS=1, say) is
        decided without reading the others: tiny GEMMs pay for every microsecond here."""
        return 1 if user <= 1 else min(user, wake_cost.cores(), parallel.num_threads())

    def threads(self, budget: int) -> int:
        """The BLAS threads for this call, at most `budget` (GemmSite.budget)."""
        if budget <= 1:
            return 1
        if 0 < self._again <= budget:
            return self._again  # a switch's call was not timed, or a try runs on
        one, many = self.seconds.get(1), self.seconds.get(budget)
        if one is None and many is None:
            return 1 if wake_cost.busy() else budget
        if one is not None and one < parallel.WAKE_FACTOR * wake_cost.quiet():
            return 1  # too short to pay for waking BLAS's threads, even on a quiet machine
        # (not the live wake cost: it is seen on graphjit's pool, and whether BLAS's own
        # threads pay on a busy machine is what this site's timings measure)
        if one is None or many is None:
            return 1 if one is None else budget  # measure the choice not yet seen
        best, other = (1, budget) if one <= many else (budget, 1)
        if not self._trying and (self._spent * EXPLORE_SHARE >= self._debt
                                 or self._spent * EXPLORE_SHARE >= self._debt * 0.5 ** (
                                     (time.monotonic() - self._debt_at) / DEBT_HALF_LIFE_S)
                                 or (self._debt_busy and not wake_cost.busy())):
            return other
        return best

    def __enter__(self):
        global _inside
        libs = blas_libraries()
        if not libs:
            self._used, self._split, self._timed = 1, 1, False
            return self
        me = get_ident()
        with _count_lock:
            if _inside == 0:
                for lib in libs:
                    lib.user = lib.now = max(1, lib.get_num_threads() or 1)
            _inside += 1
            if _inside == 1:
                budget = self.budget(libs[0].user)
                used = self.threads(budget)
                self._owner = me
                self._used = used
                self._split = used if POOL_SPLIT else 1
                self._timed = budget > 1  # (one thread allowed: nothing to time)
            else:
                used = 1  # (the owner's bookkeeping of a site shared with us stays)
            for lib in libs:
                want = 1 if POOL_SPLIT else min(used, lib.user)
                if lib.now != want:  # (more threads: graphjit's pool, one-thread calls)
                    lib.set_num_threads(want)
                    lib.now = want
        if self._timed and self._owner == me:
            self._start = time.perf_counter_ns()
        return self

    def __exit__(self, *exc) -> None:
        global _inside
        end = time.perf_counter_ns()
        libs = blas_libraries()
        if libs:
            me = get_ident()
            with _count_lock:
                _inside -= 1
                if _inside == 0:
                    for lib in libs:
                        if lib.now != lib.user:
                            lib.set_num_threads(lib.user)
                            lib.now = lib.user
                if self._owner != me:
                    return
                self._owner = 0
        self._split = 1
        self._record(end)

    def _record(self, end: int) -> None:
        """Book this call: the calls count; where timed, its choice's mean, and the try's
        cost or the time spent on the taken choice."""
        self.calls += 1
        used = self._used
        switched = used != self._last
        self._last = used
        if not self._timed:
            return
        took = (end - self._start) * 1e-9
        seconds = self.seconds
        rival = mine = None
        for t, v in seconds.items():  # (one or two choices)
            if t == used:
                mine = v
            elif rival is None or v < rival:
                rival = v
        if rival is not None and (mine is None or mine > rival):  # a try of the other
            if not self._trying:
                self._trying, self._try_cost = used, 0.0
                self._debt_busy = wake_cost.busy()
            self._try_cost += took - rival
        elif self._trying:
            self._end_try(used, took, mine, rival, switched)
        else:
            self._spent += took
        if switched:
            self._again = used
            return
        self._again = 0
        recent = self.recent.get(used)
        if recent is None:
            recent = self.recent[used] = []
        recent.append(took)
        if len(recent) > WINDOW:
            del recent[0]
        mean = seconds[used] = sum(recent) / len(recent)
        # A call faster than the other choice's mean while this choice's older calls
        # still say slower: keep it, so its times catch up with the machine now (each
        # such call is faster than what the site would run instead)
        if rival is not None and took < rival < mean:
            self._again = used

    def _end_try(self, used: int, took: float, mine, rival, switched: bool) -> None:
        """The first call on the taken choice after a try: the next try waits until the
        site has spent 1 / EXPLORE_SHARE times what this one cost. A lost try's cost is
        its calls' time beyond the taken choice's, and switching back; one that won says
        nothing of trying the old choice, which may cost a switch and a call at its mean."""
        typical = mine if mine is not None else took
        lost = 0.0
        if self._trying != used:
            lost = self._try_cost + (took - typical if switched else 0.0)
        expected = 2 * (rival - typical) if rival is not None else 0.0
        self._debt = max(typical, expected, lost)
        self._debt_at = time.monotonic()
        self._spent = typical if switched and self._trying != used else took
        self._trying = 0

    def matmul(self, a, b, out) -> None:
        """np.matmul(a, b, out=out) on the threads this call was given: split between
        graphjit's threads where it is a 2-D product, else on BLAS's own."""
        if self._split <= 1:
            np.matmul(a, b, out=out)
        elif out.ndim == 2 and a.ndim == 2 and b.ndim == 2:
            split_matmul(a, b, out, self._split)
        else:  # (a batched product: BLAS's threads, as the budget allows)
            libs = blas_libraries()
            for lib in libs:
                lib.set_num_threads(self._split)
            try:
                np.matmul(a, b, out=out)
            finally:
                for lib in libs:
                    lib.set_num_threads(1)


class _Threads:
    """A codegen.parallel site that runs a call on a fixed number of threads."""

    __slots__ = ("count",)

    def __init__(self, count: int):
        self.count = count

    def threads(self, work: int, available: int) -> int:
        return min(self.count, available)

    def measured(self, ns: int, units: float) -> None:
        pass


def split_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, threads: int) -> None:
    """out = a @ b (2-D) as `threads` blocks on graphjit's pool, each a BLAS call on the
    calling thread's BLAS setting (one thread inside a GemmSite). Each block packs the
    operand it does not split again, so the blocks split the longer side of the output:
    rows when N <= M (each block packs all of b), else columns (each packs all of a)."""
    m, n = out.shape
    by_rows = n <= m
    length = m if by_rows else n
    blocks = max(1, min(threads, length))
    if blocks == 1:
        np.matmul(a, b, out=out)
        return

    def block(lo: int, hi: int) -> None:
        lo, hi = lo * length // blocks, hi * length // blocks
        if by_rows:
            np.matmul(a[lo:hi], b, out=out[lo:hi])
        else:
            np.matmul(a, b[:, lo:hi], out=out[:, lo:hi])
    parallel.run_chunked(block, (), blocks, blocks, _Threads(threads))


class GemmSites:
    """A GemmSite for each set of operand shapes an extern kernel meets. One compiled
    extern kernel serves every product of its structure: in an MLP, the 512x784 by
    784x256 product (threads pay) and the 512x256 by 256x10 one (they do not) ran under
    one site, whose mixed timings kept the large one on one thread at 1.6x the time."""

    __slots__ = ("by_shapes",)

    def __init__(self):
        self.by_shapes: dict[tuple, GemmSite] = {}

    def __call__(self, *shapes) -> GemmSite:
        site = self.by_shapes.get(shapes)
        if site is None:
            site = self.by_shapes[shapes] = GemmSite()
        return site
