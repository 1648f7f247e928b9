"""How a While op's host step runs its loop: natively, or from Python as cheaply as it can.

For each signature of loop-variable and captured-input shapes the loop meets, it picks:

- a native driver (runtime.loop_driver), once the loop has run NATIVE_AFTER_ITERATIONS
  iterations at that signature, in this run or earlier ones (so a short loop run a few
  times never pays the driver's compile, a long one hands over mid-run), where the
  cond's and body's plans allow one (tf.conds in the body included: their branches'
  plans become an `if` in the driver; and gathers, whose index check becomes native);
- else the per-plan runners of the cond and the body (runtime.runner: straight-line
  Python with its checks inlined), called once per iteration;
- the general path (CompiledFunction.run_arrays) for any call a runner refuses, and for
  cond and body functions run in stages, per rank or reading state.

A loop whose variables change shapes meets a new signature per shape and stays on the
host path (its plans are per shape; the shape invariants are checked as before).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from codegen import warm_start
from graphjit.errors import ShapeError
from graphjit.graph import TensorShape
from runtime.loop_driver import Branches, Check, NotNative, build_driver
from runtime.runner import MISS

_log = logging.getLogger("graphjit.while_loop")

NATIVE_AFTER_ITERATIONS = 64  # host iterations at one signature before the native driver
MAX_SIGNATURES = 8  # the signatures a loop keeps what it learned for


def check_invariants(values, invariants) -> None:
    """Loop variables after an iteration must fit their shape invariants (both engines)."""
    for i, (value, shape) in enumerate(zip(values, invariants)):
        if not TensorShape(shape).is_compatible_with(value.shape):
            raise ShapeError(
                f"loop variable {i} has shape {list(value.shape)} after an iteration, which "
                f"its shape invariant {TensorShape(shape)} does not allow (shape_invariants "
                "of tf.while_loop)")


class Signature:
    """What a loop learned at one signature: iterations run, its driver or why none."""

    __slots__ = ("iterations", "driver", "why_not")

    def __init__(self):
        self.iterations = 0
        self.driver = None
        self.why_not: str | None = None


def signature_of(signatures: dict, lock: threading.Lock, key: tuple) -> Signature:
    """The Signature kept for `key` in `signatures` (made on first sight; the oldest
    dropped past MAX_SIGNATURES), shared by the while loop and the stacking loops."""
    seen = signatures.get(key)
    if seen is None:
        with lock:
            seen = signatures.setdefault(key, Signature())
            while len(signatures) > MAX_SIGNATURES:
                signatures.pop(next(iter(signatures)))
    return seen


class CompiledLoop:
    """A While op's loop over its cond's and body's CompiledFunctions (shared by every
    plan of the op's graphs, and safe to call from several threads)."""

    def __init__(self, cond, body, invariants: tuple):
        self.cond, self.body, self.invariants = cond, body, invariants
        self.n = len(invariants)
        self._signatures: dict[tuple, Signature] = {}
        self._lock = threading.Lock()

    def run(self, values: list, extra: list) -> list:
        seen = signature_of(self._signatures, self._lock,
                            tuple(a.shape for a in values + extra))
        if seen.driver is not None:
            return self._native(seen, values, extra)
        return self._host_loop(seen, values, extra)

    def _native(self, seen: Signature, values: list, extra: list) -> list:
        driver = seen.driver
        try:
            values, finished = driver.run(values, extra)
        except NotNative as exc:  # (a graphjit bug, not the user's: run on the host)
            _log.warning("while loop stays on the host: %s\n%s", exc, driver.source)
            seen.driver, seen.why_not = None, str(exc)
            return self._host_loop(seen, values, extra, native=False)
        if finished:
            return values
        # a check failed: the host loop runs that iteration again, raising its error
        return self._host_loop(seen, values, extra, native=False)

    def _make_driver(self, seen: Signature, values: list, extra: list) -> None:
        if warm_start.settling():  # (Numba's import on the background thread: next run)
            return
        cond = self.cond.single_plan(values + extra)
        body = self.body.single_plan(values + extra)
        with self._lock:
            if seen.driver is not None or seen.why_not is not None:
                return
            try:
                if cond is None or body is None:
                    raise NotNative("the cond or body runs in stages, per rank or with state")
                seen.driver = build_driver(cond.plan, body.plan, self.n, native_host_step)
            except NotNative as exc:
                seen.why_not = str(exc)
                _log.debug("while loop stays on the host: %s", exc)

    def _host_loop(self, seen: Signature, values: list, extra: list,
                   native: bool = True) -> list:
        """The loop from Python; it hands over to a native driver once the signature
        ran NATIVE_AFTER_ITERATIONS iterations (a long loop run once gets one too)."""
        cond_run, body_run = self._runners(values + extra)
        entry = shapes = [v.shape for v in values]
        native_at = max(0, NATIVE_AFTER_ITERATIONS - seen.iterations) \
            if seen.why_not is None and native else float("inf")
        iterations = 0
        try:
            while True:
                if iterations >= native_at and shapes == entry:
                    native_at = float("inf")  # (one try)
                    self._make_driver(seen, values, extra)
                    if seen.driver is not None:
                        return self._native(seen, values, extra)
                args = (*values, *extra)
                test = cond_run(args)
                if test is MISS:
                    test = self.cond.run_arrays(list(args))
                if not test[0]:
                    return values
                new = body_run(args)
                values = self.body.run_arrays(list(args)) if new is MISS else new
                iterations += 1
                if [v.shape for v in values] != shapes:
                    # (fixed shapes, the usual case: checked once)
                    check_invariants(values, self.invariants)
                    shapes = [v.shape for v in values]
                    cond_run, body_run = self._runners(values + extra)
        finally:
            seen.iterations += iterations

    def history(self, values: list, extra: list) -> list[list]:
        """The values each variable entered each iteration with (WhileHistory, for the
        gradient's backward loop), run on the host through the per-plan runners."""
        cond_run, body_run = self._runners(values + extra)
        shapes = [v.shape for v in values]
        seen: list[list] = [[] for _ in range(self.n)]
        while True:
            args = (*values, *extra)
            test = cond_run(args)
            if test is MISS:
                test = self.cond.run_arrays(list(args))
            if not test[0]:
                return seen
            for j, v in enumerate(values):
                seen[j].append(v)
            new = body_run(args)
            values = self.body.run_arrays(list(args)) if new is MISS else new
            if [v.shape for v in values] != shapes:  # (stack_history refuses them)
                shapes = [v.shape for v in values]
                cond_run, body_run = self._runners(values + extra)

    def _runners(self, arrays: list):
        """The per-plan runners of the cond and the body at these shapes (each may
        answer MISS: the general path)."""
        runners = []
        for fn in (self.cond, self.body):
            executor = fn.single_plan(arrays)
            runners.append(_no_runner if executor is None else executor.arrays_runner())
        return runners


def native_host_step(step, specs: list):
    """What a host step of a cond or body plan is in a native driver (runtime.loop_driver):
    a tf.cond's branches where each is one plan, a gather's index check; else None."""
    host = step.host
    if host is None:
        return None
    if host.kernel == "check_gather_indices" and len(specs) == 1 \
            and np.issubdtype(specs[0][1], np.integer):
        from graphjit.lower.native_checks import indices_in_range
        return Check(indices_in_range, (int(host.attrs["n"]),))
    if host.kernel != "cond":
        return None
    arrays = [np.empty(shape, dtype) for shape, dtype in specs[1:]]
    plans = []
    for branch in host.attrs["branches"]:
        executor = branch.single_plan(arrays)
        if executor is None:
            return None
        plans.append(executor.plan)
    return Branches(tuple(plans))


def _no_runner(args: tuple) -> object:
    return MISS

