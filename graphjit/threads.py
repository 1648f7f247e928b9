"""graphjit's thread budget: the threads its parallel kernels and BLAS GEMMs may use.

One value per process, as numba.set_num_threads and torch.set_num_threads: set here,
else GRAPHJIT_NUM_THREADS, else Numba's thread count (the usable cores), read once by
the first call that needs it. Calls read the value, never the environment, so setting
GRAPHJIT_NUM_THREADS after that first call changes nothing: use set_num_threads.
"""

from __future__ import annotations

import contextlib

from codegen import parallel
from graphjit.errors import InvalidArgumentError

__all__ = ["get_num_threads", "set_num_threads", "thread_budget"]


def _checked(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidArgumentError(
            f"the number of threads must be a positive integer, got {n!r}")
    return n


def get_num_threads() -> int:
    """The threads a parallel kernel may use, the caller's included; a GEMM gets at most
    this many BLAS threads (and at most the cores and BLAS's own setting)."""
    return parallel.num_threads()


def set_num_threads(n: int) -> None:
    """Use at most `n` threads from the next call on, in every thread of the process (a
    forked child keeps the value). A kernel still wakes helpers only when its measured
    work pays for the wake-up."""
    parallel.set_num_threads(_checked(n))


@contextlib.contextmanager
def thread_budget(n: int):
    """`with thread_budget(1): ...`: set_num_threads(n) inside the block, the budget
    before it back after. Process-wide: calls of other threads meanwhile get `n` too."""
    with parallel.thread_budget(_checked(n)):
        yield
