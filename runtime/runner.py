"""Per-plan runners: the per-call path of a plan as straight-line Python, generated once.

A runner takes the caller's positional arguments and either runs the plan or returns
MISS, meaning "take the general path" (Executor.run and its caller's checks and error
messages). It first checks, argument by argument, exactly what the plan was made for
(an ndarray, not a subclass; this dtype object; this shape; C-contiguous; once the
plan's driver runs, its fast entry checks them all natively), then calls
each step with its arrays as local variables: no signature tuple, no list of slots, no
loop over steps. A kernel with one compiled signature is called through its native
entry point, skipping Numba's per-call typing of every argument (~0.15 us a call),
where the arguments are known to match that signature: plan buffers, outputs,
constants and checked inputs, never a host step's results.

Intermediate buffers and recycled outputs come from the executor's pool (one set per
concurrent caller), as in Executor.run. A plan with no intermediates whose outputs are
small needs no pool: each output has a list of spares (at most one per concurrent
caller), taken back once the caller dropped it (np.empty costs 0.1-0.4 us).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from sys import getrefcount

import numpy as np

from runtime import trace
from runtime.host import owned_results
from runtime.plan import EXTERN, HOST, KERNEL, VIEW, Plan, materialize, output_empty

_log = logging.getLogger("graphjit.runtime")
MISS = object()  # a runner's answer when its checks fail: take the general path
SMALL_OUTPUT_BYTES = 4096  # fresh outputs below this cost no page faults: not recycled
# A runner switches to its plan's driver (runtime.plan_driver) at this call (never the
# first: the driver costs ~0.6 s to compile, ~0.03 s from the cache), as loops do after
# 64 iterations.
NATIVE_AFTER_CALLS = 64


def no_runner(args: tuple) -> object:
    """The runner of no plan: every call takes the general path."""
    return MISS


def run_host(fn: Callable, ins: tuple, n: int) -> list:
    """A host step's `n` results, as runtime.host.owned_results gives them."""
    return owned_results(fn(*ins), ins, n)


def native_entry(fn, specs: list[tuple[tuple, np.dtype]], any_layout: int = 0):
    """`fn`'s compiled entry point where `fn` is a Numba dispatcher with exactly one
    signature of C-contiguous arrays of these ranks and dtypes (the first `any_layout`
    of any layout); else `fn` itself."""
    overloads = getattr(fn, "overloads", None)
    if not overloads or len(overloads) != 1:
        return fn
    (signature, compiled), = overloads.items()
    from numba import types
    from numba.np.numpy_support import as_dtype
    if len(signature) != len(specs):
        return fn
    for k, (numba_type, (shape, dtype)) in enumerate(zip(signature, specs)):
        if not isinstance(numba_type, types.Array) \
                or numba_type.layout != ("A" if k < any_layout else "C") \
                or numba_type.ndim != len(shape) or as_dtype(numba_type.dtype) != dtype:
            return fn
    return getattr(compiled, "entry_point", None) or fn


def _trusted_slots(plan: Plan) -> set[int]:
    """Slots whose arrays are C-contiguous of their spec's shape and dtype on every call
    of a runner: checked inputs, outputs, buffers, contiguous constants, their views."""
    trusted = set()
    for i, spec in enumerate(plan.slots):
        if any(d is None for d in spec.shape):
            continue
        if spec.role in ("input", "output", "buffer"):
            trusted.add(i)
        elif spec.role == "const" and isinstance(spec.value, np.ndarray) \
                and spec.value.flags.c_contiguous and spec.value.dtype == spec.dtype \
                and spec.value.shape == tuple(spec.shape):
            trusted.add(i)
        elif spec.role == "view" and spec.base in trusted:
            trusted.add(i)
    return trusted


def _reads_pooled(plan: Plan) -> bool:
    """Whether a step uses a slot whose array only a pooled set holds: an intermediate
    buffer, or a view made once per set (not by a step of this call)."""
    made = set(plan.input_slots)
    for step in plan.steps:
        used = step.inputs + (step.outputs if step.kind in (KERNEL, EXTERN) else ())
        if any(s not in made and plan.slots[s].role not in ("const", "output")
               for s in used):
            return True
        if step.kind in (VIEW, HOST):
            made.update(step.outputs)
    return False


def build_runner(plan: Plan, pool: list, functions: list, input_dtypes: list,
                 finish: Callable[[list], object] | None = None,
                 single: bool = False) -> Callable[[tuple], object]:
    """The runner of `plan` for arguments of `input_dtypes` (one per input slot) and the
    input shapes the plan was made for. `functions`: what each step calls (the
    executor's). Returns the fetched values as a list, `finish(list)` when given, or
    the lone fetch itself (a NumPy scalar for 0-d) when `single`."""
    if len(input_dtypes) != len(plan.input_slots):  # (not one dtype per input: no runner)
        return no_runner
    # (the drivers' modules load with the first runner: a warm start's first calls, and
    # `import graphjit`, need neither)
    from runtime.loop_driver import NotNative
    from runtime.plan_driver import PlanDriver, build_plan_driver, wants_driver
    slots = plan.slots
    trusted = _trusted_slots(plan)
    use_pool = _reads_pooled(plan) or any(
        s.role == "output" and s.nbytes >= SMALL_OUTPUT_BYTES for s in slots)
    env: dict = {"MISS": MISS, "trace": trace, "ndarray": np.ndarray, "empty": np.empty,
                 "output_empty": output_empty,
                 "getrefcount": getrefcount, "materialize": materialize, "plan": plan,
                 "pool": pool, "run_host": run_host, "finish": finish}
    calls = []  # what each step calls: kernels with native entries where they have one
    for step, fn in zip(plan.steps, functions):
        used = step.inputs + step.outputs
        if step.kind in (KERNEL, EXTERN) and all(s in trusted for s in used):
            fn = native_entry(fn, [(slots[s].shape, slots[s].dtype) for s in used])
        calls.append(fn)
    # a plan of one kernel step alone: its kernel's own fast entry (no driver to compile)
    lone = len(plan.steps) == 1 and plan.steps[0].kind is KERNEL
    eligible = wants_driver(plan) and all(
        fn is not orig for step, fn, orig in zip(plan.steps, calls, functions)
        if step.kind is KERNEL)

    def exact_dtype(k: int | None, slot: int) -> np.dtype:
        """The dtype object a slot's arrays will have (input `k`: the one checked): a
        fast entry compares addresses."""
        if k is not None:
            return input_dtypes[k]
        return slots[slot].value.dtype if slots[slot].role == "const" else slots[slot].dtype

    def generate(driver: PlanDriver | None, countdown: bool, fast: bool = False) -> str:
        """The runner's source: each step, or one call of `driver`; `countdown`: the
        call NATIVE_AFTER_CALLS builds the plan's driver (upgrade); `fast`: the driver,
        else the lone kernel, is called through its fast entry (codegen.fast_entry),
        which checks every input."""
        names: dict[int, str] = {}
        head: list[str] = []  # the arrays a call starts with
        body: list[str] = []  # the steps
        tail: list[str] = []  # outputs kept for reuse once the caller drops them
        n = len(plan.input_slots)
        args = [f"x{k}" for k in range(n)]
        checks = []
        for k, slot in enumerate(plan.input_slots):
            names.setdefault(slot, args[k])
            env[f"d{k}"], env[f"s{k}"] = input_dtypes[k], tuple(slots[slot].shape)
            if fast:
                continue
            if driver is None:
                checks.append(f"type(x{k}) is not ndarray or x{k}.dtype is not d{k} or "
                              f"x{k}.shape != s{k} or not x{k}.flags.c_contiguous")
            else:  # the driver checks shapes and strides (Numba unboxes by rank)
                checks.append(f"type(x{k}) is not ndarray or x{k}.dtype is not d{k} or "
                              f"x{k}.ndim != {len(slots[slot].shape)}")

        def name(slot: int) -> str:
            """The local holding `slot` where a step uses it, loaded first if need be."""
            if slot in names:
                return names[slot]
            spec = slots[slot]
            local = names[slot] = f"v{slot}"
            if spec.role == "const":
                env[local] = spec.value
            elif spec.role == "output":
                env[f"shape{slot}"], env[f"dtype{slot}"] = tuple(spec.shape), spec.dtype
                fresh = f"empty(shape{slot}, dtype{slot})"
                if use_pool:  # recycled when only the pooled set (and this code) refer to it
                    head.append(f"{local} = arrays[{slot}]")
                    head.append(f"if {local} is None or getrefcount({local}) > 3:")
                    head.append(f"    {local} = arrays[{slot}] = output_{fresh}")
                else:  # a spare list per output: popped and put back whole, thread-safe
                    env[f"spare{slot}"] = []
                    head.extend(["try:", f"    {local} = spare{slot}.pop()",
                                 f"    if getrefcount({local}) > 2:  # the caller holds it",
                                 f"        {local} = {fresh}",
                                 "except IndexError:", f"    {local} = {fresh}"])
                    tail.append(f"spare{slot}.append({local})")
            else:
                head.append(f"{local} = arrays[{slot}]")
            return local

        if driver is not None:  # (its kernels' steps are in it; views are made here)
            body.append(f"if not drv({', '.join(args + [name(s) for s in driver.params])}):")
            body.append("    MISSED")  # (an input's shape or strides: nothing ran)
        for index, (step, fn) in enumerate(zip(plan.steps, calls)):
            if step.kind is KERNEL and driver is not None:
                continue
            if step.kind is KERNEL or step.kind is EXTERN:
                used = step.inputs + step.outputs
                if fast:  # (the lone kernel's fast entry, set by upgrade)
                    body.append(f"if not f{index}({', '.join(name(s) for s in used)}):")
                    body.append("    MISSED")
                    continue
                env[f"f{index}"] = fn
                body.append(f"f{index}({', '.join(name(s) for s in used)})")
            elif step.kind is VIEW:
                out = step.outputs[0]
                env[f"shape{out}"] = tuple(slots[out].shape)
                base = name(step.inputs[0])
                names[out] = f"v{out}"
                body.append(f"v{out} = {base}.reshape(shape{out})")
            elif step.kind is HOST:
                env[f"f{index}"] = fn
                ins = "".join(f"{name(s)}, " for s in step.inputs)
                for s in step.outputs:
                    names[s] = f"v{s}"
                outs = "".join(f"v{s}, " for s in step.outputs)
                call = f"run_host(f{index}, ({ins}), {len(step.outputs)})"
                body.append(f"{outs}= {call}" if outs else call)  # (a check has no result)
            else:  # pragma: no cover
                raise AssertionError(step.kind)
        fresh = {s for s, spec in enumerate(slots) if spec.role == "output"}
        fetched = [name(s) if s in fresh else f"{name(s)}.copy()" for s in plan.fetch_slots]
        if single:
            spec = slots[plan.fetch_slots[0]]
            if any(d is None for d in spec.shape):
                result = [f"r = {fetched[0]}", "return r[()] if r.ndim == 0 else r"]
            else:
                result = [f"return {fetched[0]}{'[()]' if len(spec.shape) == 0 else ''}"]
        elif finish is not None:
            result = [f"return finish([{', '.join(fetched)}])"]
        else:
            result = [f"return [{', '.join(fetched)}]"]
        if fast or driver is not None:  # what a refused call does: spares back
            at = body.index("    MISSED")
            body[at:at + 1] = [f"    {line}" for line in tail + ["return MISS"]]
        check = "".join(f"{c} or\n            " for c in checks)
        lines = ["def run(args):",
                 "    try:",  # (free in Python 3.11 unless the count is wrong)
                 f"        {', '.join(args)}{',' if n == 1 else ''} = args" if n else
                 "        () = args",
                 "    except ValueError:",
                 "        return MISS",
                 f"    if ({check}trace.active):", "        return MISS"]
        if countdown:  # (one global decrement a call, until the driver is built)
            lines[1:1] = ["    global calls_left"]
            lines += ["    calls_left -= 1", "    if calls_left == 0:", "        upgrade()"]
        if use_pool:
            lines += ["    arrays = pool.pop() if pool else materialize(plan)", "    try:"]
            lines += [f"        {line}" for line in head + body + result]
            lines += ["    finally:", "        pool.append(arrays)"]
        else:
            lines += [f"    {line}" for line in head + body + tail + result]
        return "\n".join(lines) + "\n"

    def make(source: str):
        exec(compile(source, f"<runner of {plan.summary or 'a plan'}>", "exec"), env)
        made = env.pop("run")  # (left in its own globals, it would be a reference cycle)
        made.source = source  # (for a reader debugging a call)
        return made

    def upgrade(target) -> None:
        """Build the plan's driver (runtime.plan_driver): `target`, the runner, calls it
        from its next call on; else it keeps calling each kernel (without counting)."""
        if lone and upgrade_lone(target):
            return
        try:
            driver = build_plan_driver(plan)
            specs = [(slots[s].shape, slots[s].dtype) for s in plan.input_slots]
            specs += [(slots[s].shape, slots[s].dtype) for s in driver.params]
            entry = native_entry(driver.function, specs, len(plan.input_slots))
            if entry is driver.function or not all(s in trusted for s in driver.params):
                raise NotNative("the driver takes arrays of other types than are checked")
            exact = [(slots[s].shape, exact_dtype(k, s)) for k, s in enumerate(plan.input_slots)]
            exact += [(slots[s].shape, exact_dtype(None, s)) for s in driver.params]
            fast_entry = fast_entry_of(driver.function, exact)
            # (without one: Numba's entry point, and type checks here)
            env["drv"] = fast_entry or entry
            new = make(generate(driver, False, fast_entry is not None))
        except Exception as exc:  # noqa: BLE001 - NotNative, else a graphjit bug: no driver
            log = _log.debug if isinstance(exc, NotNative) else _log.warning
            log("%s keeps calling each kernel: %s", plan.summary or "a plan", exc)
            new = make(generate(None, False))
        switch(target, new)

    def upgrade_lone(target) -> bool:
        """Switch `target` to call the lone kernel through its fast entry (no driver to
        compile); False where there is none (the plan's driver is tried then)."""
        (step,) = plan.steps
        inputs = {s: k for k, s in enumerate(plan.input_slots)}
        exact = [(slots[s].shape, exact_dtype(inputs.get(s), s))
                 for s in step.inputs + step.outputs]
        fast_entry = fast_entry_of(functions[0], exact)
        if fast_entry is None:
            return False
        env["f0"] = fast_entry
        switch(target, make(generate(None, False, True)))
        return True

    def fast_entry_of(function, exact: list):
        """`function`'s fast entry (codegen.fast_entry) for arrays of exactly these
        shapes and dtypes, or None where there is none."""
        from codegen.fast_entry import NotAvailable, build_fast_entry
        try:
            return build_fast_entry(function, exact)
        except NotAvailable as exc:
            _log.debug("%s: no fast entry: %s", plan.summary or "a plan", exc)
            return None

    def switch(target, new) -> None:
        """The runner `target` runs `new`'s code from its next call on."""
        target.__code__ = new.__code__
        target.source = new.source

    run = make(generate(None, eligible))
    if eligible:  # after NATIVE_AFTER_CALLS calls, the runner upgrades itself
        env["calls_left"] = NATIVE_AFTER_CALLS
        run.upgrade = upgrade
        ref = weakref.ref(run)  # (the runner's globals hold no reference to it)
        env["upgrade"] = lambda: ref().upgrade(ref())
    return run
