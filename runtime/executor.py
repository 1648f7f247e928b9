"""The executor: runs a Plan on input arrays with no graph walking and no allocation
beyond the outputs.

Each concurrent caller takes a private set of buffers from a pool (created on
demand, returned after the call), so calls from several threads on one plan are
safe without a lock around the kernels.
"""

from __future__ import annotations

import numpy as np

from runtime.plan import EXTERN, HOST, KERNEL, VIEW, Plan, materialize


class Executor:
    """Runs one Plan; `run(inputs)` returns the fetched arrays (fresh, never reused)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self._pool: list[list] = []
        self._outputs = [(i, spec.shape, spec.dtype) for i, spec in enumerate(plan.slots)
                         if spec.role == "output"]
        # Fetched slots whose arrays are not freshly allocated get copied on return.
        fresh = {i for i, _, _ in self._outputs}
        self._copy_fetch = [s not in fresh for s in plan.fetch_slots]
        self._program = [(step.kind, step.fn, step.inputs, step.outputs,
                          plan.slots[step.outputs[0]].shape if step.kind == VIEW else None)
                         for step in plan.steps]

    def run(self, inputs: list[np.ndarray], timer=None) -> list[np.ndarray]:
        arrays = self._pool.pop() if self._pool else materialize(self.plan)
        try:
            for slot, value in zip(self.plan.input_slots, inputs):
                arrays[slot] = value
            for slot, shape, dtype in self._outputs:
                arrays[slot] = np.empty(shape, dtype)
            if timer is None:
                self._run_steps(arrays)
            else:
                timer.run(self.plan, self._program, arrays)
            return [arrays[s].copy() if copy else arrays[s]
                    for s, copy in zip(self.plan.fetch_slots, self._copy_fetch)]
        finally:
            for slot in self.plan.input_slots:
                arrays[slot] = None  # drop references to the caller's arrays
            self._pool.append(arrays)

    def _run_steps(self, arrays: list) -> None:
        for kind, fn, ins, outs, view_shape in self._program:
            run_step(kind, fn, ins, outs, view_shape, arrays)


def run_step(kind, fn, ins, outs, view_shape, arrays) -> None:
    if kind == KERNEL or kind == EXTERN:
        fn(*[arrays[i] for i in ins], *[arrays[o] for o in outs])
    elif kind == VIEW:
        arrays[outs[0]] = arrays[ins[0]].reshape(view_shape)
    elif kind == HOST:
        results = fn(*[arrays[i] for i in ins])
        for o, r in zip(outs, results):
            arrays[o] = r
    else:  # pragma: no cover
        raise AssertionError(kind)
