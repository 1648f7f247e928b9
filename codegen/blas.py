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
"""

from __future__ import annotations

import threading
import time

from codegen import parallel, wake_cost

_libs: list | None = None  # threadpoolctl's controllers of the BLAS libraries loaded
_libs_lock = threading.Lock()


class _Library:
    """One BLAS library's thread count, read through its own symbol where threadpoolctl
    exposes it (its public getter costs ~3 us a call, the symbol ~0.2 us)."""

    __slots__ = ("controller", "get_num_threads")

    def __init__(self, controller):
        self.controller = controller
        self.get_num_threads = controller.get_num_threads
        symbol = getattr(controller, "_get_symbol", None)
        if symbol is not None and getattr(controller, "internal_api", "") == "openblas" \
                and getattr(controller, "threading_layer", "") != "openmp":
            fast = symbol("openblas_get_num_threads")
            if fast is not None:
                self.get_num_threads = fast

    def set_num_threads(self, n: int) -> None:
        self.controller.set_num_threads(n)


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


class GemmSite:
    """One extern kernel's BLAS calls: `with site:` runs them on the threads the budget
    allows, and times them for the next call's choice."""

    __slots__ = ("seconds_one_thread", "_restore", "_start", "_used")

    def __init__(self):
        self.seconds_one_thread: float | None = None  # the calls' time on one thread
        self._restore: list = []
        self._start = 0
        self._used = 1

    def threads(self, user: int) -> int:
        """The BLAS threads for this call, at most `user` (the library's setting now)."""
        budget = min(user, wake_cost.cores(), parallel.num_threads())
        if budget <= 1 or wake_cost.busy():
            return 1
        if self.seconds_one_thread is None:
            return budget  # first call: BLAS's own choice within the budget
        if self.seconds_one_thread < parallel.WAKE_FACTOR * wake_cost.current():
            return 1
        return budget

    def __enter__(self):
        libs = blas_libraries()
        restore = []
        used = 1
        for lib in libs:
            user = max(1, lib.get_num_threads() or 1)
            used = self.threads(user)
            if used != user:
                lib.set_num_threads(used)
                restore.append((lib, user))
        self._restore = restore
        self._used = used if libs else 1
        self._start = time.perf_counter_ns()
        return self

    def __exit__(self, *exc) -> None:
        took = (time.perf_counter_ns() - self._start) * 1e-9
        for lib, user in self._restore:
            lib.set_num_threads(user)
        self._restore = []
        one = took * self._used  # at best the threads shared the work evenly
        old = self.seconds_one_thread
        self.seconds_one_thread = one if old is None else 0.7 * old + 0.3 * one
