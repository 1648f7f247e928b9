"""This machine's roofline: memory bandwidth and peak FLOP/s, measured, for the
profiler's "% of limit" column.

A kernel cannot beat min(peak FLOP/s, bandwidth x arithmetic intensity) (the roofline
model); how close it comes says whether tuning it can pay. Datasheet numbers are not
what a shared or virtual machine delivers, so both ceilings are measured once with short
probes (a streaming triad for bandwidth, register-resident FMA chains and a BLAS GEMM
for FLOP/s), on one thread and on graphjit's threads, and cached on disk beside the
kernel cache, keyed by CPU model, core count and thread count. A cache file that does
not parse, holds other keys or implausible numbers is measured again, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from codegen import cache

FORMAT = 1  # bump when the probes change: older cache files are then measured again
TRIAD_BYTES = 192 << 20  # the triad's three arrays: far past any last-level cache
FMA_WIDTHS = (64, 128, 256)  # float32 lanes per chain block: enough to hide FMA latency
PROBE_SECONDS = 0.02  # how long one timed probe run aims to take (best of a few)
FMA_ROWS_PER_THREAD = 4  # rows of FMA chains per thread: the probe's chunks on threads


@dataclass(frozen=True)
class Ceiling:
    """What a kernel can reach on some number of threads."""

    threads: int
    bytes_per_s: float
    flops_per_s: float

    @property
    def ridge(self) -> float:
        """FLOPs per byte above which a kernel is compute bound."""
        return self.flops_per_s / self.bytes_per_s


@dataclass(frozen=True)
class Machine:
    """The ceilings of one thread and of graphjit's threads (the thread budget:
    codegen.parallel.num_threads)."""

    cpu: str
    cores: int
    one_thread: Ceiling
    all_threads: Ceiling

    def ceiling(self, parallel: bool) -> Ceiling:
        return self.all_threads if parallel else self.one_thread

    def __str__(self) -> str:
        def text(c: Ceiling) -> str:
            return (f"{c.threads} thread{'s' if c.threads > 1 else ''}: "
                    f"{c.bytes_per_s / 1e9:.1f} GB/s, {c.flops_per_s / 1e9:.1f} GFLOP/s")
        return f"{text(self.one_thread)}; {text(self.all_threads)} (measured)"


@dataclass(frozen=True)
class Roof:
    """A kernel against its ceiling: `fraction` is achieved / limit (1.0: on the roof),
    `limit_flops_per_s` is min(peak, bandwidth x intensity)."""

    fraction: float
    bound: str  # "memory" or "compute"
    intensity: float  # FLOPs per byte moved
    limit_flops_per_s: float
    threads: int


def roof(flops: int, nbytes: int, seconds: float, ceiling: Ceiling) -> Roof | None:
    """Where a step that moved `nbytes` and did `flops` in `seconds` stands; None for a
    step that moves and computes nothing (views) or was never timed."""
    if seconds <= 0 or (flops <= 0 and nbytes <= 0):
        return None
    memory_s = nbytes / ceiling.bytes_per_s
    compute_s = flops / ceiling.flops_per_s
    intensity = flops / nbytes if nbytes else math.inf
    limit = min(ceiling.flops_per_s, ceiling.bytes_per_s * intensity)
    # achieved / limit, in time: the least time the ceilings allow over the time taken
    return Roof(max(memory_s, compute_s) / seconds,
                "compute" if compute_s > memory_s else "memory", intensity, limit,
                ceiling.threads)


# -- the probes ----------------------------------------------------------------------------
@functools.cache
def _triad_kernel():
    import numba

    @numba.njit(nogil=True, fastmath=True)
    def triad(a, b, c, s, lo, hi):
        for i in range(lo, hi):
            a[i] = b[i] + s * c[i]
    return triad


@functools.cache
def _fma_kernel(width: int):
    """FMA chains over rows of `width` float32: the inner loop's addresses do not change
    across repetitions, so LLVM keeps a row in vector registers and the loop is FMAs."""
    import numba

    @numba.njit(nogil=True, fastmath=True)
    def fma(acc, reps, m, c, lo, hi):
        for b in range(lo, hi):
            row = acc[b]
            for _ in range(reps):
                for j in range(width):
                    row[j] = row[j] * m + c
    return fma


def _best_time(run, repeats: int = 3) -> float:
    run()  # warm-up: compiles, faults the pages in
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-9)


def _run(kernel, args: tuple, n: int, threads: int) -> None:
    if threads > 1:
        from codegen import parallel  # (Numba: loaded when a probe runs)
        parallel.run_chunked(kernel, args, n, n)
    else:
        kernel(*args, 0, n)


def measure_bandwidth(threads: int, nbytes: int = TRIAD_BYTES) -> float:
    """Bytes per second of a streaming triad a = b + s*c (two reads, one write)."""
    n = max(nbytes // 3 // 8, 1)
    a, b, c = np.empty(n), np.ones(n), np.ones(n)
    kernel = _triad_kernel()
    seconds = _best_time(lambda: _run(kernel, (a, b, c, 0.5), n, threads))
    return 3 * n * 8 / seconds


def measure_fma(threads: int, seconds: float = PROBE_SECONDS) -> float:
    """FLOP/s of independent float32 FMA chains held in registers, the best width (how
    many chains hide the FMA latency depends on the CPU: measured, not assumed)."""
    return max(_fma_rate(width, threads, seconds) for width in FMA_WIDTHS)


def _fma_rate(width: int, threads: int, seconds: float) -> float:
    kernel = _fma_kernel(width)
    rows = max(threads * FMA_ROWS_PER_THREAD, 1)
    acc = np.ones((rows, width), np.float32)

    def run(reps: int, repeats: int) -> float:
        args = (acc, reps, np.float32(0.999), np.float32(1e-3))
        return _best_time(lambda: _run(kernel, args, rows, threads), repeats)
    reps = max(int(64 * seconds / run(64, 1)), 1)  # aim each timed run at `seconds`
    return 2 * rows * width * reps / run(reps, 3)


def measure_gemm(size: int = 1024) -> float:
    """FLOP/s of NumPy's float32 matmul (BLAS, its own threads): graphjit's extern steps."""
    a = np.ones((size, size), np.float32)
    out = np.empty_like(a)
    return 2 * size ** 3 / _best_time(lambda: np.matmul(a, a, out=out), 2)


def measure(threads: int) -> tuple[Ceiling, Ceiling]:
    """Both ceilings, measured now (well under a second each on a usual machine)."""
    one = Ceiling(1, measure_bandwidth(1), measure_fma(1))
    if threads == 1:
        return one, Ceiling(1, one.bytes_per_s, max(one.flops_per_s, measure_gemm()))
    # (on a busy machine more threads may measure less: one thread's ceiling still holds)
    return one, Ceiling(threads, max(measure_bandwidth(threads), one.bytes_per_s),
                        max(measure_fma(threads), measure_gemm(), one.flops_per_s))


# -- the cache -------------------------------------------------------------------------------
def machine_key() -> dict:
    """What the ceilings depend on: the CPU model, its cores, graphjit's thread count."""
    from codegen.target import cpu_key
    return {"format": FORMAT, "cpu": cpu_key(), "cores": os.cpu_count() or 1,
            "threads": _num_threads()}


def _num_threads() -> int:
    from codegen import parallel
    return parallel.num_threads()


def cache_path(key: dict) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(cache.cache_dir(), "roofline", f"machine-{digest}.json")


def _plausible(c: Ceiling) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) and 0 < v < 1e18
               for v in (c.bytes_per_s, c.flops_per_s)) and c.threads >= 1


def load(path: str, key: dict) -> Machine | None:
    """The machine a cache file describes, or None when it is missing, corrupt, written
    for another key (a copied cache, another CPU) or holds implausible numbers."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("key") != key:
            return None
        machine = Machine(key["cpu"], key["cores"], Ceiling(**data["one_thread"]),
                          Ceiling(**data["all_threads"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    ok = _plausible(machine.one_thread) and _plausible(machine.all_threads) \
        and machine.one_thread.threads == 1 and machine.all_threads.threads == key["threads"]
    return machine if ok else None


def save(path: str, key: dict, machine: Machine) -> None:
    data = {"key": key, "one_thread": asdict(machine.one_thread),
            "all_threads": asdict(machine.all_threads)}
    try:
        cache.atomic_write(path, json.dumps(data, indent=1).encode())
    except OSError:  # a read-only cache: measured again by the next process, no harm
        pass


_measured: dict[str, Machine] = {}  # this process's, by cache path
_lock = threading.Lock()


def machine(remeasure: bool = False) -> Machine:
    """This machine's ceilings: from this process, else the disk cache, else measured
    now (and cached unless GRAPHJIT_NO_CACHE). `remeasure=True` measures again and
    replaces the cached numbers (say, when they were measured on a busy machine)."""
    key = machine_key()
    path = cache_path(key)
    with _lock:
        found = None if remeasure else _measured.get(path)
        if found is None and not remeasure and not cache.caching_disabled():
            found = load(path, key)
        if found is None:
            one, all_threads = measure(key["threads"])
            found = Machine(key["cpu"], key["cores"], one, all_threads)
            if not cache.caching_disabled():
                save(path, key, found)
        _measured[path] = found
        return found
