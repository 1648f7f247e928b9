"""Host kernels: NumPy functions a plan calls by name where it has no native kernel.

The front end registers them; a plan's host step names one and carries its attributes
as plain data (a HostCall), so the runtime runs them without holding graph objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

_KERNELS: dict[str, Callable] = {}


def register_host_kernel(name: str, fn: Callable) -> Callable:
    """Register `fn(*arrays, **attrs) -> tuple of arrays` as host kernel `name`."""
    if _KERNELS.get(name, fn) is not fn:
        raise ValueError(f"host kernel {name!r} is registered already")
    _KERNELS[name] = fn
    return fn


def host_kernel(name: str) -> Callable:
    try:
        return _KERNELS[name]
    except KeyError:
        raise LookupError(f"no host kernel {name!r} is registered (have: "
                          f"{', '.join(sorted(_KERNELS)) or 'none'})") from None


@dataclass(frozen=True, eq=False)
class HostCall:
    """A call of a registered host kernel with keyword attributes."""

    kernel: str
    attrs: dict = field(default_factory=dict)

    def bind(self) -> Callable:
        """The function a plan's step calls with its input arrays (resolved once)."""
        fn, attrs = host_kernel(self.kernel), self.attrs

        def call(*arrays):
            return fn(*arrays, **attrs)
        return call

    def __repr__(self) -> str:
        return f"HostCall({self.kernel!r}, {sorted(self.attrs)})"


class Fresh(list):
    """A host kernel's results that it allocated in this call (C-ordered, sharing memory
    with nothing), which owned_results passes on unchecked: a While step's native driver
    returns its four results in one, where checking each against each of its five
    inputs with np.may_share_memory (0.2-0.3 us a pair) took a quarter of a small
    model's call."""

    __slots__ = ()


def owned_results(results, ins: tuple, n: int) -> list:
    """A host kernel's first `n` results as later steps may use them (owned_result)."""
    if type(results) is Fresh:
        return results[:n]
    return [owned_result(r, ins) for r in results[:n]]


def owned_result(r, ins: tuple):
    """A host kernel's result as later steps may use it: a C-ordered array (kernels take
    those; NumPy may return others, as astype of a transpose) not sharing memory with an
    input (an identity's reference, a loop that ran zero times, return an input itself,
    whose buffer a later step may reuse)."""
    if isinstance(r, np.ndarray) and (not r.flags.c_contiguous or any(
            np.may_share_memory(r, a) for a in ins)):
        return np.array(r, order="C")
    return r
