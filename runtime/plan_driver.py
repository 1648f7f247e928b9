"""A whole-plan native driver: a plan of serial native kernels and views as one Numba
function, which a plan's runner (runtime.runner) calls instead of each kernel's entry.

A runner calling a small plan's kernels one by one pays, per kernel, a native call
and the unboxing of each array it passes (constants included): about as much as a
small kernel's own work. The driver is one native call; the constants it reads (up to
FREEZE_BYTES each) are compiled into it, read-only as the kernels take them, so the
runner passes only the inputs, the outputs and the intermediate buffers (those of its
pooled set, one per concurrent caller, as without a driver). mlp4 at batch 1: the
three kernels' entries cost 0.80 us a call, the driver 0.49 us.

The driver also checks the inputs' shapes and strides (C-contiguous), natively: it
takes them as arrays of any layout and returns False, having run nothing, where one
is not what the plan was made for. The runner calls it through a fast entry
(codegen.fast_entry) that checks each input's type, dtype and rank as well, or where
there is none, through Numba's entry point after checking those in Python. A plan of
one kernel step calls that kernel's fast entry, with no driver; only where there is
none does it get a driver, for the native shape checks (W6, `a*b + c` on 8 elements:
1.5x NumPy eager's per-call cost -> 1.1-1.2x with a driver, 0.6x with a fast entry).

It is the loop driver's emitter (runtime.loop_driver) over one plan, cached on disk
the same way (its source names the kernels and the frozen constants' hashes). Where
a plan has a host step or a library call, a chunked, parallel or multi-signature
kernel, or a shape known only when a step ran, build_plan_driver raises NotNative.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from codegen.fast_entry import contiguous_strides
from runtime.loop_driver import (
    DRIVER_HEADER,
    DriverSource,
    NotNative,
    import_driver,
    kernel_id,
    no_host_steps,
)
from runtime.plan import KERNEL, VIEW, Plan, SlotSpec, materialize

MIN_KERNELS = 1  # (one kernel gains the native input checks)
FREEZE_BYTES = 1 << 16  # larger constants are passed (compiling them in is slow)


def wants_driver(plan: Plan) -> bool:
    """Whether a plan's structure allows a driver worth having (its kernels are checked
    when it is built)."""
    kinds = [step.kind for step in plan.steps]
    return kinds.count(KERNEL) >= MIN_KERNELS and all(k in (KERNEL, VIEW) for k in kinds) \
        and all(d is not None for spec in plan.slots for d in spec.shape)


def _frozen(spec: SlotSpec) -> bool:
    value = spec.value
    return isinstance(value, np.ndarray) and value.flags.c_contiguous \
        and value.nbytes <= FREEZE_BYTES and value.dtype == spec.dtype \
        and value.shape == tuple(spec.shape)


@dataclass(frozen=True)
class PlanDriver:
    """`function(*inputs, *arrays of params)`, compiled: True where it ran, False where
    an input is not of its slot's shape or not C-contiguous (nothing ran); `params`: the
    slots whose arrays follow the inputs (outputs, buffers, constants not compiled in)."""

    function: object
    params: tuple[int, ...]
    source: str


def build_plan_driver(plan: Plan) -> PlanDriver:
    """The plan's driver, compiled (or loaded from the cache); NotNative saying why not."""
    if not wants_driver(plan):
        raise NotNative("the plan is not native kernels and views over known shapes")
    from codegen import layout
    source = DriverSource(no_host_steps, freeze=_frozen)
    n = len(plan.input_slots)
    inputs = [f"x{k}" for k in range(n)]
    lines, _ = source.emit(plan, inputs, [None] * len(plan.fetch_slots))
    (emitter,) = source.emitters
    kernels = [f"# {name}: {kernel_id(fn)}" for name, fn in source.env.items()
               if hasattr(fn, "py_func")]
    checks = [c for k, s in enumerate(plan.input_slots)
              for c in input_checks(f"a{k}", plan.slots[s])]
    head = [f"if {' or '.join(checks)}:", "    return False"] if checks else []
    head += [f"x{k} = as_c_contiguous(a{k})" for k in range(n)]
    text = "\n".join([DRIVER_HEADER.replace("while-loop", "plan"),
                      "from codegen.layout import as_c_contiguous",
                      f"# as_c_contiguous: codegen.layout {layout.source_hash()}",
                      *kernels, *source.frozen,
                      "", "", "@njit(nogil=True, error_model='numpy')",
                      f"def driver({', '.join([f'a{k}' for k in range(n)] + emitter.params)}):",
                      *[f"    {line}" for line in head + lines], "    return True"]) + "\n"
    module = import_driver(text, source.env, "graphjit_plans")
    arrays = materialize(plan)
    sample = [np.empty(plan.slots[s].shape, plan.slots[s].dtype) for s in plan.input_slots]
    for slot in emitter.slots:
        spec = plan.slots[slot]
        sample.append(arrays[slot] if arrays[slot] is not None
                      else np.empty(spec.shape, spec.dtype))
    kernels = [fn for fn in source.env.values() if hasattr(fn, "overloads")]
    counts = [len(fn.overloads) for fn in kernels]
    _compile(module, sample, n)
    if [len(fn.overloads) for fn in kernels] != counts:
        raise NotNative("the driver passes a kernel arrays of other types than it takes")
    return PlanDriver(module.driver, tuple(emitter.slots), text)


def input_checks(name: str, spec: SlotSpec) -> list[str]:
    """Numba conditions true where the array `name` is not of `spec`'s shape or not
    C-contiguous (as NumPy's flag says: strides of dimensions of 1 are not looked at, nor
    any where a dimension is 0)."""
    shape = tuple(spec.shape)
    return [f"{name}.shape[{i}] != {d}" for i, d in enumerate(shape)] + [
        f"{name}.strides[{i}] != {stride}"
        for i, stride in reversed(contiguous_strides(shape, spec.dtype.itemsize))]


def _compile(module, sample: list, n: int) -> None:
    """Compile the driver for the sample's types, the first `n` (the inputs) of any
    layout, running nothing: Numba records, then looks up, its module by name
    (registered only meanwhile)."""
    from numba import typeof
    from numba.core.errors import NumbaError
    types = [typeof(a) for a in sample]
    types[:n] = [t.copy(layout="A") for t in types[:n]]
    sys.modules[module.__name__] = module
    try:
        module.driver.compile(tuple(types))
    except NumbaError as exc:
        raise NotNative(f"Numba could not compile the plan driver {module.__file__}: "
                        f"{exc}") from exc
    finally:
        sys.modules.pop(module.__name__, None)
