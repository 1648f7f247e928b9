"""A warm start's kernels: native entries first, Numba's dispatchers once ready, with
Numba's import done on a background thread instead of in the middle of a call.

A process that finds its kernels cached runs them from their native entries
(codegen.native) without importing Numba. Numba's entry point is still worth having
for long runs (it sets up a call's arguments in C, the native path in Python: about
20 us a kernel call) but importing it costs about 0.25 s of CPU: done inside a call,
that call stalls. So once any kernel has made NATIVE_CALLS native calls (a process
that calls again and again; a short script's few calls never pay for it), one daemon
thread imports Numba and loads the dispatcher of every kernel running natively, while
their calls go on natively; each kernel switches as its dispatcher is ready, and the
runtime builds its per-call runner once all of a plan's kernels have.

The thread shares the GIL with the caller: Python code switches every 5 ms, and
Numba's import holds it in C only briefly (an extension's init, a module's unmarshal:
about a millisecond each on average). A shorter switch interval while the thread works
measured no better for the caller's calls, so the process's is left alone.
"""

from __future__ import annotations

import logging
import threading
import weakref

from codegen import long_lived

_log = logging.getLogger("graphjit.cache")

# Native calls of one kernel after which the background thread starts.
NATIVE_CALLS = 16

_pending: weakref.WeakSet = weakref.WeakSet()  # kernels the thread is to settle
_state_lock = threading.Lock()
_thread: threading.Thread | None = None


class WarmStart:
    """A cached serial kernel loaded without Numba, for a process that has not imported
    it: calls run the native entry until Numba's dispatcher (`load()`, run on the
    background thread) is ready, then the dispatcher. A call with arguments the entry
    cannot check, or one after the background thread failed to load it, loads the
    dispatcher there and then."""

    def __init__(self, entry, load, path: str, name: str, source: str):
        self.entry, self.path, self.name, self.source = entry, path, name, source
        self._load = load
        self.native_calls_left = NATIVE_CALLS
        self.chunked = False  # (set by the caller that counts a call's chunks as one)
        self._dispatcher = None
        self._failed = False
        self._lock = threading.Lock()
        with _state_lock:
            _pending.add(self)

    @property
    def dispatcher(self):
        if self._dispatcher is None:
            with self._lock:
                if self._dispatcher is None:
                    self._dispatcher = self._load()
        return self._dispatcher

    def settled(self):
        """The Numba dispatcher once calls go to it, else None (still native)."""
        return self._dispatcher

    def __call__(self, *args):
        dispatcher = self._dispatcher
        if dispatcher is not None:
            return dispatcher(*args)
        if not self._failed and self.entry.accepts(args):
            if not self.chunked:
                self.count_call()
            return self.entry(*args)
        return self.dispatcher(*args)

    def count_call(self) -> None:
        """One more call of the kernel (a chunked kernel's caller counts each of its
        calls once, not each chunk)."""
        self.native_calls_left -= 1
        if self.native_calls_left == 0:
            start_settling()


def start_settling() -> None:
    """Start the background thread that loads the dispatchers of the kernels running
    natively (once: kernels made later while it runs are settled by it too)."""
    global _thread
    with _state_lock:
        if _thread is not None:
            return
        _thread = threading.Thread(target=_settle_all, name="graphjit-numba-import",
                                   daemon=True)
    _thread.start()


def wait_settled(timeout: float | None = None) -> bool:
    """Start the background thread if it has not started and wait for it: whether every
    kernel made so far has its dispatcher now (benchmarks and tests want calls that no
    longer switch)."""
    start_settling()
    thread = _thread
    if thread is not None:
        thread.join(timeout)
    return thread is None or not thread.is_alive()


def settling() -> bool:
    """Whether the background thread is importing Numba or loading dispatchers (Numba
    may be in sys.modules before it is ready)."""
    return _thread is not None


def _next_pending() -> WarmStart | None:
    global _thread
    with _state_lock:
        for kernel in _pending:
            _pending.discard(kernel)
            return kernel
        _thread = None  # (a kernel made from now on starts a new thread)
        return None


def _settle_all() -> None:
    try:  # (the collector is off for the process meanwhile: codegen.long_lived)
        long_lived.import_numba()
    except Exception:  # (each kernel's load below reports it)
        pass
    while (kernel := _next_pending()) is not None:
        try:
            kernel.dispatcher  # noqa: B018 - loads it
        except Exception as exc:  # the call path loads it again and reports it
            kernel._failed = True
            _log.info("kernel %s: loading it through Numba in the background failed "
                      "(%s: %s)", kernel.name, type(exc).__name__, exc)
