"""A native loop driver: a while loop's cond and body plans run as one Numba function.

A loop run from Python pays a plan dispatch for its cond and one for its body on every
iteration (a few microseconds each, against nanoseconds of work for a small body). When
both plans consist of serial native kernels only (Numba dispatchers with one compiled
signature) and views, over concrete shapes, and the body gives each loop variable back
in its shape and dtype, the loop is generated once as Numba source calling those
kernels directly:

- each loop variable lives in a pair of arrays allocated once per run (double
  buffering): the body reads the current ones and writes the other ones, then they
  swap; a body result that is not a kernel's own output (a variable passed through, a
  constant, a result given twice) is copied into its array;
- the plans' intermediate buffers and constants are made once per concurrent caller;
- the cond's 0-d result is read natively;
- host steps the caller knows natively: one choosing between two plans by a bool (a
  tf.cond in the body) becomes an `if` over both plans' steps, which write its results
  where the step's consumers read them; one that only checks its inputs (a gather's
  index range) becomes a Numba predicate, and where it fails the driver stops before
  that iteration, which the host loop then runs (raising the check's own error).

The driver runs a chunk of iterations per call (Ctrl-C is seen between chunks) and
returns how many it ran, which says which array of each pair holds the values.
Everything else (other host steps, library calls, chunked or parallel kernels, several
signatures, shapes that change) keeps the host loop: build_driver raises NotNative
saying why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

import numpy as np

from codegen import cache, warm_start
from runtime.host import Fresh
from runtime.plan import HOST, KERNEL, VIEW, Plan, SlotSpec, Step, materialize

# A driver call runs at most a chunk of iterations, sized to take about CHUNK_SECONDS:
# a native call cannot be interrupted, and Python raises KeyboardInterrupt between calls.
CHUNK_SECONDS = 0.05
FIRST_CHUNK = 1024
MAX_CHUNK = 1 << 40


class NotNative(Exception):
    """Why a plan pair cannot run in a native driver."""


def _dispatcher(fn):
    """The Numba dispatcher with exactly one signature a kernel step calls, else raise."""
    if warm_start.settling():
        # Numba imported here while a warm start's thread imports it can come back
        # partly initialized (Python breaks the two threads' import deadlock so): an
        # ImportError that killed a loop's first native run about one time in two
        warm_start.wait_settled()
    from numba.core.dispatcher import Dispatcher
    if hasattr(fn, "settled") and hasattr(fn, "dispatcher"):  # a warm start: Numba's now
        fn = fn.dispatcher
    if not isinstance(fn, Dispatcher):
        raise NotNative("a step is not a serial Numba kernel (a chunked, parallel or "
                        "library call)")
    if len(fn.overloads) != 1:
        raise NotNative("a kernel has several compiled signatures")
    return fn


@dataclass(frozen=True)
class Branches:
    """A host step choosing between two plans by its first input, a bool scalar (true:
    the first), each taking its other inputs and giving its outputs."""

    plans: tuple


@dataclass(frozen=True)
class Check:
    """A host step that only checks its inputs (raising on bad ones): `predicate(*inputs,
    *constants)`, a Numba function, is true where the host step would pass. Where it is
    false the driver stops before that iteration, for the host loop to run it (and
    raise the host step's error)."""

    predicate: Callable
    constants: tuple = ()


HostSteps = Callable[[Step, list], "Branches | Check | None"]


def no_host_steps(step: Step, specs: list) -> None:
    """What no host step does natively: every host step keeps the loop on the host."""
    return None


DONE, MORE, STOPPED = 0, 1, 2  # the driver's status: cond false, chunk over, a check failed


def _indented(lines: list[str]) -> list[str]:
    return [f"    {line}" for line in lines]


class DriverSource:
    """The driver's source being written: the kernels it calls (`env`) and, per plan
    emitted, the slots whose arrays it takes as arguments, made once per caller."""

    def __init__(self, host_steps: HostSteps,
                 freeze: Callable[[SlotSpec], bool] | None = None):
        self.env: dict = {}
        self.host_steps = host_steps
        self.emitters: list[_Emitter] = []
        # constants `freeze` picks are the module's globals (Numba compiles them into
        # the driver: no argument to pass), each named in `frozen` with its bytes' hash
        # for the source, so the cached driver is that of these values
        self.freeze = freeze
        self.frozen: list[str] = []

    def emit(self, plan: Plan, inputs: list[str], targets: list) -> tuple[list, list]:
        """The lines running `plan` on the arrays named `inputs`, and the names of its
        fetched arrays: `targets[j]` where not None (the array fetch j is written or
        copied to), else the plan's own."""
        _check_shapes(plan)
        emitter = _Emitter(self, f"p{len(self.emitters)}_", plan, inputs)
        self.emitters.append(emitter)
        writes, copies = {}, []
        for slot, target in zip(plan.fetch_slots, targets):
            if target is None:
                continue
            if plan.slots[slot].role in ("output", "host") and slot not in writes:
                writes[slot] = target  # the step making it writes there
            else:  # passed through, a constant, fetched twice: copied
                copies.append((slot, target))
        emitter.steps(writes)
        for slot, target in copies:
            src = emitter.name(slot)
            emitter.lines.append(f"{target}.reshape({target}.size)[:] = "
                                 f"{src}.reshape({src}.size)")
        names = [emitter.name(s) if t is None else t
                 for s, t in zip(plan.fetch_slots, targets)]
        return emitter.lines, names


class _Emitter:
    """The Numba source of one plan's steps, its arrays named as driver arguments."""

    def __init__(self, source: DriverSource, tag: str, plan: Plan, inputs: list[str]):
        if len(inputs) != len(plan.input_slots):
            raise NotNative("a plan takes other inputs than it is given")
        self.source, self.tag, self.plan = source, tag, plan
        self.names = dict(zip(plan.input_slots, inputs))
        self.params: list[str] = []  # arguments made once per caller (constants, buffers)
        self.slots: list[int] = []  # their slots
        self.lines: list[str] = []

    def name(self, slot: int, target: str | None = None) -> str:
        if slot in self.names:
            return self.names[slot]
        spec = self.plan.slots[slot]
        if spec.role == "view":  # (of a constant or buffer: made once by materialize)
            base = self.name(spec.base)
            self.names[slot] = f"{self.tag}{slot}"
            self.lines.append(f"{self.tag}{slot} = {base}.reshape({tuple(spec.shape)!r})")
            return self.names[slot]
        if spec.role == "const" and target is None and self.source.freeze is not None \
                and self.source.freeze(spec):
            local = self.names[slot] = f"{self.tag}k{slot}"
            self.source.env[local] = spec.value
            digest = hashlib.sha256(spec.value.tobytes()).hexdigest()
            self.source.frozen.append(f"# {local}: {spec.value.dtype} "
                                      f"{spec.value.shape} sha256 {digest}")
            return local
        self.names[slot] = target or f"{self.tag}{slot}"
        if target is None:
            self.params.append(self.names[slot])
            self.slots.append(slot)
        return self.names[slot]

    def steps(self, outputs: dict[int, str]) -> None:
        """The plan's steps; `outputs` names the arrays some slots are written to."""
        for index, step in enumerate(self.plan.steps):
            if step.kind is VIEW:
                out, base = step.outputs[0], self.name(step.inputs[0])
                shape = tuple(self.plan.slots[out].shape)
                self.names[out] = f"{self.tag}{out}"
                self.lines.append(f"{self.tag}{out} = {base}.reshape({shape!r})")
            elif step.kind is KERNEL:
                fn = f"{self.tag}f{index}"
                self.source.env[fn] = _dispatcher(step.function())
                args = [self.name(s, outputs.get(s)) for s in step.inputs + step.outputs]
                self.lines.append(f"{fn}({', '.join(args)})")
            elif step.kind is HOST:
                self._host(index, step, outputs)
            else:
                raise NotNative(f"the plan has a {step.kind} step ({step.name})")

    def _host(self, index: int, step: Step, outputs: dict[int, str]) -> None:
        """A host step the caller knows natively (host_steps): a check, or branches."""
        specs = [(tuple(self.plan.slots[s].shape), self.plan.slots[s].dtype)
                 for s in step.inputs]
        native = self.source.host_steps(step, specs)
        if isinstance(native, Check) and not step.outputs:
            fn = f"{self.tag}f{index}"
            self.source.env[fn] = native.predicate
            args = [self.name(s) for s in step.inputs] + [repr(c) for c in native.constants]
            self.lines += [f"if not {fn}({', '.join(args)}):",
                           f"    return iterations, {STOPPED}"]
        elif isinstance(native, Branches) and step.inputs and specs[0] == ((), np.bool_):
            self._branches(step, native.plans, outputs)
        else:
            raise NotNative(f"the plan has a host step ({step.name})")

    def _branches(self, step: Step, plans: tuple, outputs: dict[int, str]) -> None:
        pred = self.name(step.inputs[0])
        inputs = [self.name(s) for s in step.inputs[1:]]
        targets = [self.name(s, outputs.get(s)) for s in step.outputs]
        want = [(tuple(self.plan.slots[s].shape), self.plan.slots[s].dtype)
                for s in step.outputs]
        self.lines.append(f"if {pred}[()]:")
        for i, plan in enumerate(plans):
            got = [(tuple(plan.slots[s].shape), plan.slots[s].dtype) for s in plan.fetch_slots]
            if got != want:
                raise NotNative(f"a branch of {step.name} gives other shapes than its step")
            lines, _ = self.source.emit(plan, inputs, targets)
            self.lines.extend(_indented(lines or ["pass"]))
            if i == 0:
                self.lines.append("else:")


def _check_shapes(plan: Plan) -> None:
    if any(d is None for spec in plan.slots for d in spec.shape):
        raise NotNative("a shape is known only when a step ran")


class LoopDriver:
    """A while loop as one native function: run(values, extra) -> (values, finished);
    not finished: a Check failed, and the values are those entering that iteration.
    NotNative from run: Numba could not compile it (nothing ran)."""

    def __init__(self, source: str, env: dict, specs: list, emitters: list[_Emitter]):
        self.source = source
        self._module = import_driver(source, env)
        self._fn = self._module.driver
        self._first_lock = threading.Lock()
        self._specs = specs
        self._plans = [(e.plan, e.slots) for e in emitters]
        self._pool: list[list] = []
        self._spares: list[list] = []  # sets of loop variables no caller holds
        self._limit = FIRST_CHUNK  # iterations a call runs at most (adapted)
        # (entry point, its extra inputs' (dtype, ndim)); None before the first call,
        # False where there is none
        self._entry = None

    def _arrays(self) -> list:
        """The constants and buffers of the plans, for one caller (writeable: a
        read-only array would be another Numba type than the kernels take)."""
        out = []
        for plan, slots in self._plans:
            arrays = materialize(plan)
            for slot in slots:
                a = arrays[slot]
                if a is None:  # an output or host result the driver keeps
                    a = np.empty(plan.slots[slot].shape, plan.slots[slot].dtype)
                out.append(a if a.flags.writeable else a.copy())
        return out

    def _first(self, args: tuple):
        """The first call, which compiles the driver or loads it from the cache: Numba
        records, then looks up, its module by name (left registered no longer)."""
        from numba.core.errors import NumbaError
        with self._first_lock:
            sys.modules[self._module.__name__] = self._module
            try:
                return self._fn(*args)
            except NumbaError as exc:  # (nothing ran: the caller loops on the host)
                raise NotNative(f"Numba could not compile the loop driver "
                                f"{self._module.__file__}: {exc}") from exc
            finally:
                sys.modules.pop(self._module.__name__, None)

    def _call_for(self, extra: list):
        """What runs the driver with these extra inputs: its compiled entry point where
        they are of the kinds it was compiled for (the other arguments are the driver's
        own arrays), which skips Numba's typing of every argument (1 us of a 2 us call
        with 14 arguments); else Numba's dispatcher (the first call compiles there)."""
        if not self._entry:
            return self._fn if self._entry is False else self._dispatch
        entry, kinds = self._entry
        if len(kinds) == len(extra) and all(
                e.dtype == dtype and e.ndim == ndim and e.flags.c_contiguous
                for e, (dtype, ndim) in zip(extra, kinds)):
            return entry
        return self._fn

    def _dispatch(self, *args):
        """The first call, through Numba's dispatcher; then the entry point is taken
        where the driver has one signature, of the argument kinds run() passes."""
        result = self._fn(*args) if self._fn.overloads else self._first(args)
        if self._entry is None:
            entry = _entry_point(self._fn, args)
            start = 1 + 2 * len(self._specs)
            stop = len(args) - sum(len(slots) for _, slots in self._plans)
            self._entry = (entry, [(e.dtype, e.ndim) for e in args[start:stop]]) \
                if entry is not None else False
        return result

    def run(self, values: list, extra: list) -> tuple[list, bool]:
        """The values after the loop (runtime.host.Fresh: arrays of this call), or those
        entering the iteration whose check failed, and whether the loop finished."""
        # (a copy is 0.1 us, np.empty and np.copyto 0.6 us: a copy where it will do)
        current = [v.copy() if v.dtype == dtype and v.shape == shape else _copied(v, shape, dtype)
                   for v, (shape, dtype) in zip(values, self._specs)]
        extra = [e if e.flags.writeable else e.copy() for e in extra]
        fixed = self._pool.pop() if self._pool else self._arrays()
        # the pair's other arrays: a set a call did not return (np.empty is 0.2 us each)
        other = self._spares.pop() if self._spares else \
            [np.empty(shape, dtype) for shape, dtype in self._specs]
        call = self._call_for(extra)
        try:
            while True:  # in bursts of about CHUNK_SECONDS: Ctrl-C is seen between them
                start = perf_counter()
                args = (self._limit, *current, *other, *extra, *fixed)
                ran, status = call(*args)
                if ran % 2:
                    current, other = other, current
                if status != MORE:
                    self._spares.append(other)
                    return Fresh(current), status == DONE
                self._limit = next_chunk_limit(self._limit, perf_counter() - start)
        finally:
            self._pool.append(fixed)


def next_chunk_limit(limit: int, took: float) -> int:
    """The iterations for a driver's next burst, after `limit` of them took `took`
    seconds: doubled or halved towards about CHUNK_SECONDS a burst (Ctrl-C between)."""
    if took < CHUNK_SECONDS / 2:
        return min(limit * 2, MAX_CHUNK)
    if took > CHUNK_SECONDS * 2:
        return max(limit // 2, 1)
    return limit


def _copied(value: np.ndarray, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A new array of `shape` and `dtype` holding `value` (np.copyto's casting rules)."""
    out = np.empty(shape, dtype)
    np.copyto(out, value)
    return out


def _entry_point(fn, args: tuple):
    """The entry point of the dispatcher `fn` where its one signature is an integer,
    then C-ordered writeable arrays of the kinds of `args`; else None."""
    from numba import types
    from numba.np.numpy_support import as_dtype
    if len(fn.overloads) != 1:
        return None
    (signature, compiled), = fn.overloads.items()
    entry = getattr(compiled, "entry_point", None)
    if entry is None or len(signature) != len(args) \
            or not isinstance(signature[0], types.Integer):
        return None
    for numba_type, a in zip(signature[1:], args[1:]):
        if not (isinstance(numba_type, types.Array) and numba_type.layout == "C"
                and numba_type.mutable and numba_type.ndim == a.ndim
                and as_dtype(numba_type.dtype) == a.dtype):
            return None
    return entry


def build_driver(cond_plan: Plan, body_plan: Plan, n: int,
                 host_steps: HostSteps = no_host_steps) -> LoopDriver:
    """The native driver of a loop of `n` variables whose cond and body plans take the
    variables, then the same extra inputs; raises NotNative saying why there is none.
    `host_steps(step, input specs)`: what a host step is natively (Branches, a Check),
    else None."""
    specs = [(tuple(body_plan.slots[s].shape), body_plan.slots[s].dtype)
             for s in body_plan.input_slots[:n]]
    results = [(tuple(body_plan.slots[s].shape), body_plan.slots[s].dtype)
               for s in body_plan.fetch_slots]
    if results != specs:
        raise NotNative("the body changes the shape or dtype of a loop variable")
    (fetch,) = cond_plan.fetch_slots
    if cond_plan.slots[fetch].shape != () or cond_plan.slots[fetch].dtype != np.bool_:
        raise NotNative("the cond does not give a bool scalar")
    k = len(body_plan.input_slots) - n
    cur, nxt = [f"c{j}" for j in range(n)], [f"d{j}" for j in range(n)]
    ext = [f"e{j}" for j in range(k)]
    source = DriverSource(host_steps)
    cond_lines, (test,) = source.emit(cond_plan, cur + ext, [None])
    body_lines, _ = source.emit(body_plan, cur + ext, nxt)
    swap = f"{', '.join(cur + nxt)} = {', '.join(nxt + cur)}"
    params = cur + nxt + ext + [p for e in source.emitters for p in e.params]
    lines = [f"def driver(limit, {', '.join(params)}):", "    iterations = 0",
             "    while iterations < limit:",
             *_indented(_indented(cond_lines)),
             f"        if not {test}[()]:", f"            return iterations, {DONE}",
             *_indented(_indented(body_lines)),
             f"        {swap}", "        iterations += 1",
             f"    return iterations, {MORE}"]
    kernels = [f"# {name}: {kernel_id(fn)}" for name, fn in source.env.items()]
    text = "\n".join([DRIVER_HEADER, *kernels, "", "", "@njit(nogil=True, error_model='numpy')",
                      *lines]) + "\n"
    return LoopDriver(text, source.env, specs, source.emitters)


DRIVER_HEADER = '''"""A graphjit while-loop driver (runtime.loop_driver); the kernels it calls are
given to its module before it runs, as named below."""
from codegen.numba_cache import njit
'''


def kernel_id(fn) -> str:
    """What names a function's code: its module (a kernel's is named by the hash of its
    source, compilers and CPU), its name and a hash of its bytecode (a helper's changes
    with graphjit); the driver's file name hashes these."""
    code = hashlib.sha256(marshal.dumps(fn.py_func.__code__)).hexdigest()[:16]
    return f"{fn.py_func.__module__}.{fn.py_func.__qualname__} {code}"


def import_driver(source: str, kernels: dict, package: str = "graphjit_loops"):
    """The driver a source defines, from a content-hashed file in the kernel cache, so
    Numba's cache keeps its machine code as it keeps the kernels' (about a second of
    compiling, once per machine)."""
    found = cache.source_file(source)
    name = f"{package}." + os.path.splitext(os.path.basename(found.path))[0]
    spec = importlib.util.spec_from_file_location(name, found.path)
    module = importlib.util.module_from_spec(spec)
    vars(module).update(kernels)
    spec.loader.exec_module(module)  # (compiles nothing: the driver's first call does)
    return module
