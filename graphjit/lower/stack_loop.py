"""How the host steps of WhileStack and ScanStack (graphjit.lower.while_stack) hand their
loop over to a native driver (runtime.stack_driver): the rule of graphjit.lower.while_loop.

For each signature of the body's input shapes a loop meets, once it ran
NATIVE_AFTER_ITERATIONS iterations at that signature (in this run or earlier ones), and
where the body's plan allows one, the rest of the loop runs as one native call writing
each iteration's rows straight into the stacked outputs; a loop whose rows' count is
not known grows them by doubling between calls. Else, and for loops whose variables
change shapes, the host loop goes on.
"""

from __future__ import annotations

import logging
import threading
from weakref import WeakKeyDictionary

import numpy as np

from codegen import warm_start
from graphjit.lower import while_loop
from graphjit.lower.while_loop import Signature, native_host_step, signature_of
from runtime.loop_driver import DONE, NotNative
from runtime.runner import MISS, no_runner
from runtime.stack_driver import StackDriver, build_stack_driver

_log = logging.getLogger("graphjit.stack_loop")

UNBOUNDED = 1 << 62  # the rows a loop with no stacked output may run to in one call


class StackLoop:
    """A WhileStack's or ScanStack's body (a CompiledFunction) and what it learned per
    signature (shared by every plan of the op's graphs; safe from several threads)."""

    def __init__(self, body, n: int, rows: int, sequences: int, has_cond: bool):
        self.body, self.n, self.rows = body, n, rows
        self.sequences, self.has_cond = sequences, has_cond
        self._signatures: dict[tuple, Signature] = {}
        self._lock = threading.Lock()

    def signature(self, shapes: list) -> Signature:
        return signature_of(self._signatures, self._lock, tuple(shapes))

    def driver(self, seen: Signature, inputs: list) -> StackDriver | None:
        """The signature's driver, built on first use; None where the body's plan
        allows none (why: `seen.why_not`), or while Numba is being imported on the
        background thread (codegen.warm_start: the driver needs Numba here; asked again
        next run)."""
        if seen.driver is None and seen.why_not is None and not warm_start.settling():
            executor = self.body.single_plan(inputs)
            with self._lock:
                if seen.driver is None and seen.why_not is None:
                    try:
                        if executor is None:
                            raise NotNative("the body runs in stages, per rank or with state")
                        seen.driver = build_stack_driver(executor.plan, self.n, self.sequences,
                                                         self.rows, self.has_cond,
                                                         native_host_step)
                    except NotNative as exc:
                        seen.why_not = str(exc)
                        _log.debug("stacking loop stays on the host: %s", exc)
        return seen.driver

    def paths(self) -> list[tuple[bool, str | None]]:
        """(has a native driver, why not) for each signature the loop met."""
        return [(s.driver is not None, s.why_not) for s in list(self._signatures.values())]

    def handover(self, extra: list, sequences: list = ()) -> Handover:
        return Handover(self, extra, list(sequences))


class Handover:
    """One run's hand-over: the host loop asks it before each iteration (`while_step`,
    `scan_step`); it answers None (run the iteration on the host) until the signature's
    driver should take over, then runs the loop natively, once per run."""

    def __init__(self, loop: StackLoop, extra: list, sequences: list):
        self.loop, self.extra, self.sequences = loop, extra, sequences
        self.seen: Signature | None = None
        self.entry: list | None = None
        self.host_iterations, self.native_at = 0, -1
        self._runner, self._runner_shapes = no_runner, None

    def run_body(self, arrays: list) -> list:
        """The body on the host: its per-plan runner at these shapes (runtime.runner),
        else (MISS) the general path."""
        shapes = [a.shape for a in arrays]
        if shapes != self._runner_shapes:
            executor = self.loop.body.single_plan(arrays)
            self._runner = no_runner if executor is None else executor.arrays_runner()
            self._runner_shapes = shapes
        outs = self._runner(tuple(arrays))
        if outs is MISS:
            outs = self.loop.body.run_arrays(arrays)
        return [a if a.flags.c_contiguous else np.ascontiguousarray(a) for a in outs]

    def _driver(self, inputs) -> StackDriver | None:
        """The driver to run the loop on from here, else None (the host runs the next
        iteration); `inputs()`: the body's inputs of that iteration (made only when
        needed: this runs before every host iteration)."""
        if self.host_iterations < self.native_at:
            self.host_iterations += 1
            return None
        arrays = inputs()
        shapes = [a.shape for a in arrays]
        if self.seen is None:  # (the first iteration: native_at was -1)
            self.seen, self.entry = self.loop.signature(shapes), shapes
            self.native_at = float("inf") if self.seen.why_not is not None else max(
                0, while_loop.NATIVE_AFTER_ITERATIONS - self.seen.iterations)
            return self._driver(lambda: arrays)
        self.native_at = float("inf")  # (one try a run)
        return self.loop.driver(self.seen, arrays) if shapes == self.entry else None

    def _run(self, driver: StackDriver, values: list, stacks: list, pos: int,
             stop: int | None):
        """driver.run_rows, growing the stacks while the rows outgrow them (`stop`: the
        sequences' length, else None): (values, pos, status), None where the driver
        failed to compile (nothing ran)."""
        while True:
            buffers = [s.reserve(shape, dtype) for s, (shape, dtype)
                       in zip(stacks, driver.row_specs)]
            end = min((len(b) for b in buffers), default=UNBOUNDED) if stop is None else stop
            try:
                values, new, status = driver.run_rows(values, self.extra, self.sequences,
                                                      buffers, pos, end)
            except NotNative as exc:  # (a graphjit bug, not the user's: run on the host)
                _log.warning("stacking loop stays on the host: %s\n%s", exc, driver.source)
                self.seen.driver, self.seen.why_not = None, str(exc)
                return None
            for s in stacks:
                s.filled = new
            pos = new
            if status != DONE and stop is None and pos == end:
                continue  # the stacks are full: grown, and on
            return values, pos, status

    def while_step(self, values: list, stacks: list) -> tuple | None:
        """None (the host runs the next iteration), else (values, go) after the driver
        ran (go: the cond still holds, as when a check stopped the driver, for the host
        to run that iteration and raise its error)."""
        driver = self._driver(lambda: values + self.extra)
        if driver is None:
            return None
        done = self._run(driver, values, stacks, stacks[0].filled if stacks else 0, None)
        return None if done is None else (done[0], done[2] != DONE)

    def scan_step(self, states: list, stacks: list, i: int) -> tuple | None:
        """None (the host runs row i), else (states, the next row) after the driver ran."""
        driver = self._driver(lambda: states + [s[i, ...] for s in self.sequences] + self.extra)
        if driver is None:
            return None
        done = self._run(driver, states, stacks, i, len(self.sequences[0]))
        return None if done is None else done[:2]

    def close(self) -> None:
        """Counts this run's host iterations for its signature."""
        if self.seen is not None:
            self.seen.iterations += self.host_iterations


_loops: WeakKeyDictionary = WeakKeyDictionary()  # body Function -> StackLoop
_loops_lock = threading.Lock()


def stack_loop(body, n: int, rows: int, sequences: int, has_cond: bool) -> StackLoop:
    """The StackLoop of a body Function, one per body (shared by the op's plans)."""
    with _loops_lock:
        found = _loops.get(body)
        if found is None:
            found = _loops[body] = StackLoop(body.compiled(), n, rows, sequences, has_cond)
        return found
