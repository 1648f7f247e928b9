"""Host-step checks as Numba predicates, for native loop drivers (graphjit.lower.while_loop):
imported only when a driver is made, since it imports Numba."""

from __future__ import annotations

from codegen.numba_cache import njit


@njit(nogil=True)
def indices_in_range(indices, n):
    """Whether every index lies in [0, n): where the host step check_gather_indices
    passes (graphjit.lower.host_kernels)."""
    flat = indices.reshape(indices.size)
    for i in range(flat.size):
        if flat[i] < 0 or flat[i] >= n:
            return False
    return True
