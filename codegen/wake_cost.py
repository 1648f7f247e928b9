"""What handing work to a sleeping helper thread costs on this machine, and whether the
machine is busy now.

A chunked kernel (codegen.parallel) pays off on helper threads only when its work is
large next to the time a helper needs to wake up and start. That time differs tenfold
between machines (bare metal, virtual machines, containers), so it is measured once (a
helper blocked on a queue, woken, timing its start) and cached as JSON in
GRAPHJIT_CACHE_DIR/wake_cost.json, keyed by CPU model and core count. The lower quartile
of the probes is kept: the measurement should not depend on a burst of other load.

On a busy machine a woken helper waits for a core: `observe` takes the start latencies
the pool sees and `current` reports the quiet cost plus the median excess of the last
LIVE_SAMPLES of them, each decaying back to nothing within seconds. A median, because one
late wake among fast ones is a burst of other work that is already over, not a busy
machine: a moving average of the excess took a single 3 ms wake for a busy machine, and
softmax over (4096, 1024) then ran on one thread for the next second or so, since a site
on one thread wakes no helper and sees no fast wake to correct it (1.9 ms a call instead
of 1.2 ms on two threads, on a quiet 2-core machine).
`others_running` reads the kernel's instantaneous count of runnable tasks.
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
import time

from codegen import cache

FORMAT = 1  # bump when the probe changes: older cache files are then measured again
PROBES = 48
FALLBACK_S = 50e-6  # used only while no probe could run (e.g. threads unavailable)
LIVE_HALF_LIFE_S = 1.0  # how fast a slow observed wake is forgotten
LIVE_SAMPLES = 3  # recent wakes whose median excess counts: one slow wake moves nothing
BUSY_SAMPLE_S = 0.05  # /proc/loadavg is read at most this often

_quiet: float | None = None
_quiet_lock = threading.Lock()
# (monotonic time, seconds of excess over the quiet cost) of the latest wakes, newest last
_live: tuple[tuple[float, float], ...] = ()
_busy_read_at = -1.0
_busy_avg = 0.0
_cores: int | None = None  # (cores())


def cores() -> int:
    """The cores this process may run on, read once (busy() and every GEMM site ask on
    each call: the system call cost ~0.3 us); a forked child reads them again."""
    global _cores
    if _cores is None:
        _cores = read_cores()
    return _cores


def read_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _forget_cores() -> None:
    global _cores
    _cores = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_cores)


def cache_key() -> dict:
    from codegen import native  # (the CPU as Numba compiles for it, without Numba)
    return {"format": FORMAT, "cpu": native.environment()[1], "cores": os.cpu_count() or 1}


def cache_path() -> str:
    return os.path.join(cache.cache_dir(), "wake_cost.json")


def measure(probes: int = PROBES) -> float:
    """Seconds from putting an item in a sleeping helper's queue to the helper running
    it (lower quartile of `probes`)."""
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    started = [0]
    ran = threading.Event()

    def serve():
        while True:
            item = inbox.get()
            if item is None:
                return
            started[0] = time.perf_counter_ns()
            ran.set()

    helper = threading.Thread(target=serve, name="graphjit-wake-probe", daemon=True)
    helper.start()
    samples = []
    try:
        for _ in range(probes):
            time.sleep(0.0005)  # let the helper block again: a cold wake is measured
            ran.clear()
            posted = time.perf_counter_ns()
            inbox.put(1)
            ran.wait()
            samples.append((started[0] - posted) * 1e-9)
    finally:
        inbox.put(None)
    samples.sort()
    return max(samples[len(samples) // 4], 1e-7)


def _load(key: dict) -> float | None:
    try:
        with open(cache_path(), encoding="utf-8") as f:
            data = json.load(f)
        value = float(data["seconds"])
        if data.get("key") != key or not (math.isfinite(value) and 0 < value < 0.1):
            return None
        return value
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def quiet(remeasure: bool = False) -> float:
    """The measured wake cost in seconds: this process's, else the disk cache's, else
    measured now (about 50 ms) and cached unless GRAPHJIT_NO_CACHE."""
    global _quiet
    if _quiet is not None and not remeasure:
        return _quiet
    with _quiet_lock:
        if _quiet is not None and not remeasure:
            return _quiet
        key = cache_key()
        found = None if remeasure or cache.caching_disabled() else _load(key)
        if found is None:
            try:
                found = measure()
            except RuntimeError:  # no threads to be had: the helpers will not run either
                found = FALLBACK_S
            if not cache.caching_disabled():
                data = {"key": key, "seconds": found}
                try:
                    cache.atomic_write(cache_path(), json.dumps(data, indent=1).encode())
                except OSError:  # a read-only cache: measured again next process
                    pass
        _quiet = found
        return found


def observe(seconds: float) -> None:
    """A helper started `seconds` after its work was posted."""
    global _live
    excess = max(0.0, seconds - quiet())
    # (helpers call this concurrently: a lost sample among simultaneous ones is harmless)
    _live = (*_live, (time.monotonic(), excess))[-LIVE_SAMPLES:]


def _excess(now: float) -> float:
    """The median of the recent wakes' excess, each decayed by its age; a wake not yet
    seen counts as no excess."""
    decayed = [excess * 0.5 ** (max(0.0, now - at) / LIVE_HALF_LIFE_S) for at, excess in _live]
    decayed += [0.0] * (LIVE_SAMPLES - len(decayed))
    return sorted(decayed)[LIVE_SAMPLES // 2]


def current() -> float:
    """The wake cost to plan with now: the quiet cost plus what recent wakes took more."""
    return quiet() + _excess(time.monotonic())


def others_running() -> float:
    """Runnable tasks besides this caller, averaged over recent reads of /proc/loadavg
    (its fourth field is the instantaneous count); 0 where there is no such file."""
    global _busy_read_at, _busy_avg
    now = time.monotonic()
    if now - _busy_read_at < BUSY_SAMPLE_S:
        return _busy_avg
    _busy_read_at = now
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    _busy_avg = 0.7 * _busy_avg + 0.3 * max(0, running - 1)
    return _busy_avg


def busy() -> bool:
    """Other work holds every core, by the runnable count or by slow recent wakes."""
    return others_running() >= cores() - 0.25 or current() > 8 * quiet()
