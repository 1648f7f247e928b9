"""Execution plans: ordered steps over numbered value slots, with buffers planned once.

A slot holds one array during a call. Inputs are the caller's arrays; constants
belong to the plan; outputs are allocated fresh on every call (so a result the
user holds is never overwritten); intermediates live in buffers shared by
liveness: two intermediates whose lifetimes do not overlap use the same bytes.
Views (reshapes) alias the slot they view.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codegen.record import MutableRecord
from runtime.host import HostCall


class StepKind(str, enum.Enum):
    """What a step runs. A member is its own string (printed, compared and hashed as
    one), so profiles and `fn.kernels` read as before."""

    KERNEL = "kernel"  # a native kernel compiled from loop IR
    EXTERN = "extern"  # a library call (BLAS) described by loop IR
    VIEW = "view"  # a reshape of another slot's array: nothing is computed
    HOST = "host"  # a registered host kernel (runtime.host)

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


KERNEL, EXTERN, VIEW, HOST = StepKind.KERNEL, StepKind.EXTERN, StepKind.VIEW, StepKind.HOST


@dataclass(eq=False, repr=False)
class SlotSpec(MutableRecord):
    """What a slot holds: its concrete shape and dtype, and where its array comes from."""

    shape: tuple  # (None dims: a host step's result whose shape it decides when it runs)
    dtype: np.dtype
    role: str  # "input", "const", "output", "buffer", "view", "host"
    value: np.ndarray | None = None  # constants
    base: int | None = None  # views: the viewed slot

    @property
    def nbytes(self) -> int:
        return math.prod(0 if d is None else d for d in self.shape) * self.dtype.itemsize


@dataclass(eq=False, repr=False)
class Step(MutableRecord):
    """One call of the plan: a native kernel, a library call, a view or a host function
    (`host`, a registered host kernel, else `fn`)."""

    name: str
    kind: StepKind
    fn: Callable | None
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    ops: tuple[str, ...] = ()  # graph ops this step computes (for reports)
    flops: int = 0
    bytes: int = 0
    host: HostCall | None = None
    sources: tuple[str, ...] = ()  # the user's file:line of each op in `ops` (traces)
    parallel: bool = False  # runs on several threads (the profiler's roofline ceiling)

    def function(self) -> Callable | None:
        """What the executor calls: the bound host kernel, else `fn`."""
        return self.host.bind() if self.host is not None else self.fn


@dataclass(eq=False, repr=False)
class Plan(MutableRecord):
    slots: list[SlotSpec]
    steps: list[Step]
    input_slots: tuple[int, ...]
    fetch_slots: tuple[int, ...]  # None-free; one per fetched tensor
    buffer_of: dict[int, tuple[int, int]] = field(default_factory=dict)  # slot -> (buf, bytes)
    buffer_sizes: list[int] = field(default_factory=list)
    summary: str = ""  # "the plan computing 'y:0' from x:0 float32[8]": traces, errors

    def peak_bytes(self) -> int:
        """Bytes of intermediate buffers the plan holds (after sharing by liveness)."""
        return sum(self.buffer_sizes)

    def intermediate_bytes(self) -> int:
        """Bytes all intermediates would take without sharing."""
        return sum(self.slots[s].nbytes for s in self.buffer_of)

    def output_bytes(self) -> int:
        return sum(s.nbytes for s in self.slots if s.role == "output")


def _roots(plan: Plan) -> list[int]:
    """Each slot's own storage: the slot itself, or the slot a view (of a view) views."""
    root = []
    for i in range(len(plan.slots)):
        r = i
        while plan.slots[r].role == "view":
            r = plan.slots[r].base
        root.append(r)
    return root


def _last_uses(plan: Plan, root: list[int]) -> dict[int, int]:
    """Storage slot -> the last step reading or writing it (len(steps): fetched)."""
    last_use: dict[int, int] = {}
    for step_index, step in enumerate(plan.steps):
        for s in step.inputs + step.outputs:
            last_use[root[s]] = step_index
    for s in plan.fetch_slots:
        last_use[root[s]] = len(plan.steps)  # fetched values live to the end
    return last_use


def live_ranges(plan: Plan) -> dict[int, tuple[int, int]]:
    """Buffer slot -> (the step writing it first, the last step using it, views
    included): the lifetimes assign_buffers shares buffers by (fn.memory())."""
    root = _roots(plan)
    last_use = _last_uses(plan, root)
    first: dict[int, int] = {}
    for step_index, step in enumerate(plan.steps):
        for s in step.outputs:
            first.setdefault(root[s], step_index)
    return {s: (first.get(s, 0), last_use.get(s, first.get(s, 0))) for s in plan.buffer_of}


def assign_buffers(plan: Plan) -> None:
    """Share intermediate buffers between slots whose lifetimes do not overlap."""
    root = _roots(plan)
    last_use = _last_uses(plan, root)
    free: list[int] = []
    sizes: list[int] = []
    plan.buffer_of = {}
    dying: dict[int, list[int]] = {}  # step index -> buffer slots last used there
    for step_index, step in enumerate(plan.steps):
        for s in step.outputs:
            if plan.slots[s].role != "buffer" or s in plan.buffer_of:
                continue
            need = plan.slots[s].nbytes
            # best fit among free buffers, else a new one
            candidates = [b for b in free if sizes[b] >= need]
            if candidates:
                b = min(candidates, key=lambda b: sizes[b])
                free.remove(b)
            elif free:
                b = max(free, key=lambda b: sizes[b])
                free.remove(b)
                sizes[b] = need
            else:
                b = len(sizes)
                sizes.append(need)
            plan.buffer_of[s] = (b, need)
            dying.setdefault(last_use.get(s, -1), []).append(s)
        for s in dying.pop(step_index, ()):  # (indexed by step: planning stays linear)
            b = plan.buffer_of[s][0]
            if b not in free:
                free.append(b)
    plan.buffer_sizes = sizes


# Arrays the kernels read with vector loads start on a cache line: a vector load that
# crosses one is two loads (NumPy aligns to 16 bytes). The packed MatMul's weight panels
# (graphjit.lower.packed_matmul) 16 bytes off a line: 784x256 at batch 1 10.2 -> 7.1 us,
# at batch 32 83 -> 80 us (AVX-512; an AVX2 vector of 32 bytes crosses a line as well).
ALIGN_BYTES = 64


def aligned_empty(shape, dtype) -> np.ndarray:
    """np.empty(shape, dtype) starting on an ALIGN_BYTES boundary."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + ALIGN_BYTES, np.uint8)
    start = -raw.ctypes.data % ALIGN_BYTES
    return raw[start:start + nbytes].view(dtype).reshape(shape)


# Outputs of at least this many bytes start on a cache line too: a kernel storing whole
# vectors into a misaligned output splits every store over two lines (softmax over
# (4096, 1024) into an output 16 or 48 bytes off a line: 1.77-1.90 ms of CPU on one
# thread, 1.57 ms aligned, AVX-512). Below it np.empty is cheaper and the stores few.
ALIGNED_OUTPUT_BYTES = 4096


def output_empty(shape, dtype) -> np.ndarray:
    """A fresh output array: aligned_empty from ALIGNED_OUTPUT_BYTES, else np.empty."""
    dtype = np.dtype(dtype)
    if math.prod(shape) * dtype.itemsize >= ALIGNED_OUTPUT_BYTES:
        return aligned_empty(shape, dtype)
    return np.empty(shape, dtype)


def aligned_zeros(shape, dtype) -> np.ndarray:
    """np.zeros(shape, dtype) starting on an ALIGN_BYTES boundary."""
    array = aligned_empty(shape, dtype)
    array[...] = 0
    return array


def materialize(plan: Plan) -> list:
    """A fresh set of slot arrays for one concurrent caller: constants and buffers filled."""
    arrays: list = [None] * len(plan.slots)
    raw = [aligned_empty((max(size, 1),), np.uint8) for size in plan.buffer_sizes]
    for i, spec in enumerate(plan.slots):
        if spec.role == "const":
            arrays[i] = spec.value
        elif spec.role == "buffer" and i not in plan.buffer_of:
            arrays[i] = np.empty(spec.shape, spec.dtype)  # empty: no step writes it
        elif spec.role == "buffer":
            b, nbytes = plan.buffer_of[i]
            arrays[i] = raw[b][:nbytes].view(spec.dtype).reshape(spec.shape)
    for i, spec in enumerate(plan.slots):  # views of constants/buffers are fixed too
        if spec.role == "view" and arrays[spec.base] is not None:
            arrays[i] = arrays[spec.base].reshape(spec.shape)
    return arrays
