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
- the cond's 0-d result is read natively.

The driver returns the number of iterations it ran, which says which array of each pair
holds the results. Everything else (host steps, library calls, chunked or parallel
kernels, several signatures, shapes that change) keeps the host loop: build_driver
returns None, with the reason in `why_not`.
"""

from __future__ import annotations

import numpy as np

from runtime.plan import KERNEL, VIEW, Plan, materialize


class NotNative(Exception):
    """Why a plan pair cannot run in a native driver."""


def _dispatcher(fn):
    """The Numba dispatcher with exactly one signature a kernel step calls, else raise."""
    from numba.core.dispatcher import Dispatcher
    if hasattr(fn, "settled") and hasattr(fn, "dispatcher"):  # a warm start: Numba's now
        fn = fn.dispatcher
    if not isinstance(fn, Dispatcher):
        raise NotNative("a step is not a serial Numba kernel (a chunked, parallel or "
                        "library call)")
    if len(fn.overloads) != 1:
        raise NotNative("a kernel has several compiled signatures")
    return fn


class _Emitter:
    """The Numba source of one plan's steps, its arrays named as driver arguments."""

    def __init__(self, tag: str, plan: Plan, inputs: list[str], env: dict):
        self.tag, self.plan, self.env = tag, plan, env
        self.names = dict(zip(plan.input_slots, inputs))
        self.params: list[str] = []  # arguments made once per caller (constants, buffers)
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
        self.names[slot] = target or f"{self.tag}{slot}"
        if target is None:
            self.params.append(self.names[slot])
        return self.names[slot]

    def steps(self, outputs: dict[int, str]) -> None:
        """The plan's steps; `outputs` names the arrays its output slots are written to."""
        for index, step in enumerate(self.plan.steps):
            if step.kind is VIEW:
                out, base = step.outputs[0], self.name(step.inputs[0])
                shape = tuple(self.plan.slots[out].shape)
                self.names[out] = f"{self.tag}{out}"
                self.lines.append(f"{self.tag}{out} = {base}.reshape({shape!r})")
            elif step.kind is KERNEL:
                fn = f"{self.tag}f{index}"
                self.env[fn] = _dispatcher(step.function())
                args = [self.name(s, outputs.get(s)) for s in step.inputs + step.outputs]
                self.lines.append(f"{fn}({', '.join(args)})")
            else:
                raise NotNative(f"the plan has a {step.kind} step ({step.name})")


def _check_shapes(plan: Plan) -> None:
    if any(d is None for spec in plan.slots for d in spec.shape):
        raise NotNative("a shape is known only when a step ran")


class LoopDriver:
    """A while loop as one native function: run(values, extra) -> the final values."""

    def __init__(self, source: str, env: dict, n: int, specs: list, cond_plan: Plan,
                 body_plan: Plan, cond_params: list[int], body_params: list[int]):
        import numba
        exec(compile(source, "<graphjit loop driver>", "exec"), env)
        self.source = source
        self._fn = numba.njit(nogil=True, error_model="numpy")(env.pop("driver"))
        self._n, self._specs = n, specs
        self._plans = ((cond_plan, cond_params), (body_plan, body_params))
        self._pool: list[list] = []

    def _arrays(self) -> list:
        """The constants and buffers of both plans, for one caller (writeable: a
        read-only array would be another Numba type than the kernels take)."""
        out = []
        for plan, params in self._plans:
            arrays = materialize(plan)
            for slot in params:
                a = arrays[slot]
                if a is None:  # an output the driver keeps (the cond's result)
                    a = np.empty(plan.slots[slot].shape, plan.slots[slot].dtype)
                out.append(a if a.flags.writeable else a.copy())
        return out

    def run(self, values: list, extra: list) -> list:
        current = [np.empty(shape, dtype) for shape, dtype in self._specs]
        other = [np.empty(shape, dtype) for shape, dtype in self._specs]
        for dst, src in zip(current, values):
            np.copyto(dst, src)
        extra = [e if e.flags.writeable else e.copy() for e in extra]
        fixed = self._pool.pop() if self._pool else self._arrays()
        try:
            iterations = self._fn(*current, *other, *extra, *fixed)
        finally:
            self._pool.append(fixed)
        return current if iterations % 2 == 0 else other


def build_driver(cond_plan: Plan, body_plan: Plan, n: int) -> LoopDriver:
    """The native driver of a loop of `n` variables whose cond and body plans take the
    variables, then the same extra inputs; raises NotNative saying why there is none."""
    for plan in (cond_plan, body_plan):
        _check_shapes(plan)
        if len(plan.input_slots) != len(body_plan.input_slots):
            raise NotNative("the cond and the body take different inputs")
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
    env: dict = {}
    cond = _Emitter("k", cond_plan, cur + ext, env)
    cond.steps({})
    body = _Emitter("m", body_plan, cur + ext, env)
    writes, copies = {}, []
    for j, slot in enumerate(body_plan.fetch_slots):
        if body_plan.slots[slot].role == "output" and slot not in writes:
            writes[slot] = nxt[j]
        else:
            copies.append(j)
    body.steps(writes)
    for j in copies:
        src = body.name(body_plan.fetch_slots[j])
        body.lines.append(f"{nxt[j]}.reshape({nxt[j]}.size)[:] = {src}.reshape({src}.size)")
    swap = f"{', '.join(cur + nxt)} = {', '.join(nxt + cur)}"
    params = cur + nxt + ext + cond.params + body.params
    lines = [f"def driver({', '.join(params)}):", "    iterations = 0", "    while True:",
             *(f"        {line}" for line in cond.lines),
             f"        if not {cond.name(fetch)}[()]:", "            return iterations",
             *(f"        {line}" for line in body.lines),
             f"        {swap}", "        iterations += 1"]
    source = "\n".join(lines) + "\n"

    def slots(emitter: _Emitter) -> list[int]:
        by_name = {v: s for s, v in emitter.names.items()}
        return [by_name[p] for p in emitter.params]
    return LoopDriver(source, env, n, specs, cond_plan, body_plan, slots(cond), slots(body))
