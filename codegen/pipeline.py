"""Software-pipelining a row kernel's passes: pass t of row i runs in the same inner loop
as pass t-1 of row i+1.

A fused row kernel (softmax, layer norm) walks each row several times: a max or sum
pass, then passes that read the row back. Run one after another, each pass is bound by
one resource: the first by memory (the row arrives from DRAM), an exp pass by the FMA
units, softmax's division pass by the divider. Skewed so that one inner loop runs the
first pass on row i, the second on row i-1 and the third on row i-2, the three overlap:
softmax over (4096, 1024) float32 went from 2.23 to 1.82 ms on one thread (AVX-512),
with bit-identical results but for the order in which a reduction's vector lanes sum.

The outer loop runs `stages - 1` extra iterations; per iteration each stage's scalars
(row index, accumulators, values between passes) move one stage on, as copies named
`<var>_s<stage>` (modulo variable expansion), and each stage is active while its row is
in range. The inner loops keep one trip count chosen by `select`: the fused loop runs
when every stage is active, the stages' own loops at the start and end of the range.

Legal when rows are independent and each row touches only its own part of the outputs,
which is what this pass checks (else it leaves the loop alone): the loop is the chunked
parallel row loop; between the passes there are only scalar assignments without array
reads (after the last pass also stores of scalars at the row); the passes are flat
loops over the same bounds; every store, and every read of an output, is at the row's
own first index; no scalar is assigned in two stages or read by an earlier stage than
the one assigning it.
"""

from __future__ import annotations

from dataclasses import replace

from codegen.loopir import Assign, Call, Const, Fn, Load, Loop, Store, Var, variables

#: the most passes a row kernel is pipelined over: each stage adds a row of state, and
#: the fused loop grows with every pass (LLVM's compile time with it)
MAX_STAGES = 4


def pipeline_rows(loop: Loop, outputs: set[str]) -> Loop | tuple:
    """The statements replacing the chunked row loop `loop` (see the module docstring),
    or `loop` itself when its body is not a sequence of row passes."""
    stages = _stages(loop.body)
    if stages is None or not 2 <= sum(inner is not None for _, inner in stages) <= MAX_STAGES:
        return loop
    row_vars = {loop.var} | {s.target for pre, _ in stages for s in pre if isinstance(
        s, Assign) and s.value == Call(Fn.CAST, (Var(loop.var),), s.dtype)}
    if not _rows_independent(stages, row_vars, outputs):
        return loop
    owner, dtypes = _owners(stages, loop.var)
    if owner is None:
        return loop
    last_use = _last_uses(stages, owner)
    if last_use is None:
        return loop
    return _skew(loop, stages, owner, dtypes, last_use)


# -- recognizing row passes ------------------------------------------------------------

def _stages(body: tuple) -> list[tuple[tuple, Loop | None]] | None:
    """[(scalar assignments, the pass after them)], the last pass followed by its own
    trailing assignments and stores as a stage without a loop; None if `body` is not of
    that form."""
    stages, pre = [], []
    bounds = None
    for s in body:
        if isinstance(s, (Assign, Store)):
            if _reads_arrays(s.value) or (isinstance(s, Store) and _reads_arrays(s.index)):
                return None
            pre.append(s)
        elif isinstance(s, Loop):
            if any(isinstance(p, Store) for p in pre):  # only after the last pass
                return None
            if not all(isinstance(b, (Assign, Store)) for b in s.body):
                return None
            if bounds is None:
                bounds = (s.var, s.start, s.stop)
                if variables(s.start) or variables(s.stop):
                    return None
            elif (s.var, s.start, s.stop) != bounds:
                return None
            stages.append((tuple(pre), s))
            pre = []
        else:
            return None
    if not stages:
        return None
    if pre:  # assignments after the last pass: a stage of their own, run with it
        stages.append((tuple(pre), None))
    return stages


def _reads_arrays(e) -> bool:
    if isinstance(e, Load):
        return True
    return isinstance(e, Call) and any(_reads_arrays(a) for a in e.args)


def _loads(e):
    if isinstance(e, Load):
        yield e
        for i in e.index:
            yield from _loads(i)
    elif isinstance(e, Call):
        for a in e.args:
            yield from _loads(a)


def _rows_independent(stages, row_vars: set[str], outputs: set[str]) -> bool:
    """Every store, and every read of an output, is at the row's own first index."""
    def own_row(index: tuple) -> bool:
        return bool(index) and isinstance(index[0], Var) and index[0].name in row_vars

    for stage in stages:
        for s in _stage_stmts(stage):
            if isinstance(s, Store) and not own_row(s.index):
                return False
            values = (s.value,) + (s.index if isinstance(s, Store) else ())
            for v in values:
                for load in _loads(v):
                    if load.param in outputs and not own_row(load.index):
                        return False
    return True


def _stage_stmts(stage) -> tuple:
    pre, inner = stage
    return pre + (() if inner is None else inner.body)


def _owners(stages, row: str):
    """{scalar: the stage assigning it} and {scalar: dtype}; (None, None) when a scalar is
    assigned in two stages."""
    owner, dtypes = {row: 0}, {}
    inner_var = next(inner.var for _, inner in stages if inner is not None)
    for t, stage in enumerate(stages):
        for s in _stage_stmts(stage):
            if not isinstance(s, Assign):
                continue
            if s.target in (row, inner_var) or owner.get(s.target, t) != t:
                return None, None
            owner[s.target] = t
            dtypes[s.target] = s.dtype
    return owner, dtypes


def _last_uses(stages, owner: dict) -> dict | None:
    """{scalar: the last stage reading it}; None when a stage reads a scalar that a later
    stage assigns (a value carried from row to row: not a parallel loop's body)."""
    last = {}
    for t, (pre, inner) in enumerate(stages):
        used = set()
        for s in _stage_stmts((pre, inner)):
            used |= variables(s.value)
            if isinstance(s, Store):
                for i in s.index:
                    used |= variables(i)
        for name in used & owner.keys():
            if owner[name] > t:
                return None
            last[name] = max(last.get(name, t), t)
    return last


# -- the skewed loop -------------------------------------------------------------------

def _copy(name: str, stage: int) -> str:
    return f"{name}_s{stage}"


def _renamed(e, names: dict):
    if isinstance(e, Var):
        return Var(names.get(e.name, e.name))
    if isinstance(e, Load):
        return replace(e, index=tuple(_renamed(i, names) for i in e.index))
    if isinstance(e, Call):
        return replace(e, args=tuple(_renamed(a, names) for a in e.args))
    return e


def _renamed_stmt(s, names: dict):
    if isinstance(s, Assign):
        return Assign(names.get(s.target, s.target), _renamed(s.value, names), s.dtype)
    return replace(s, index=tuple(_renamed(i, names) for i in s.index),
                   value=_renamed(s.value, names))


def _skew(loop: Loop, stages, owner: dict, dtypes: dict, last_use: dict) -> tuple:
    k = sum(inner is not None for _, inner in stages)  # pipeline depth: one stage per pass
    row, it = loop.var, loop.var + "_it"

    def stage_of(t: int) -> int:  # trailing assignments run with the last pass
        return min(t, k - 1)

    # every scalar read beyond its own stage is carried in copies, one per stage
    carried = {name: range(stage_of(owner[name]), stage_of(last_use.get(name, owner[name])) + 1)
               for name in owner}
    carried[row] = range(0, k)
    act = "active"

    init, shifts = [], []
    for name, span in carried.items():
        for s in span:
            value = loop.start if name == row else Const(
                False if dtypes[name] == "bool" else 0, dtypes[name])
            init.append(Assign(_copy(name, s), value, "int64" if name == row else dtypes[name]))
        for s in reversed(span[1:]):
            dtype = "int64" if name == row else dtypes[name]
            shifts.append(Assign(_copy(name, s), Var(_copy(name, s - 1)), dtype))
    for s in range(k):
        init.append(Assign(_copy(act, s), Const(False, "bool"), "bool"))
    for s in reversed(range(1, k)):
        shifts.append(Assign(_copy(act, s), Var(_copy(act, s - 1)), "bool"))
    shifts.append(Assign(_copy(act, 0), Call(Fn.LESS, (Var(it), loop.stop), "bool"), "bool"))
    # an inactive first stage keeps a row in range (its assignments still run)
    shifts.append(Assign(_copy(row, 0), Call(
        Fn.SELECT, (Var(_copy(act, 0)), Var(it), Var(_copy(row, 0))), "int64"), "int64"))
    every = "all_active"
    shifts.append(Assign(every, Call(Fn.LOGICALAND, (Var(_copy(act, 0)),
                                                     Var(_copy(act, k - 1))), "bool"), "bool"))

    pres, bodies, trailing = [], [], []
    inner0 = next(inner for _, inner in stages if inner is not None)
    for t, (pre, inner) in enumerate(stages):
        st = stage_of(t)
        names = {name: _copy(name, st) for name in carried}
        renamed_pre = [_renamed_stmt(s, names) for s in pre]
        if inner is None:
            trailing.extend(renamed_pre)
            continue
        pres.extend(renamed_pre)
        bodies.append((st, tuple(_renamed_stmt(s, names) for s in inner.body)))

    def pass_loop(cond, body) -> Loop:
        stop = Call(Fn.SELECT, (cond, inner0.stop, inner0.start), "int64")
        return Loop(inner0.var, inner0.start, stop, body)

    fused = pass_loop(Var(every), tuple(s for _, body in bodies for s in body))
    alone = [pass_loop(Call(Fn.LOGICALAND, (Var(_copy(act, st)), Call(
        Fn.LOGICALNOT, (Var(every),), "bool")), "bool"), body) for st, body in bodies]
    # k - 1 more iterations drain the pipeline; an empty range stays empty (the stages'
    # assignments and trailing stores run even while inactive, at the range's first row)
    stop = Call(Fn.SELECT, (Call(Fn.LESS, (loop.start, loop.stop), "bool"), Call(
        Fn.ADD, (loop.stop, Const(k - 1, "uint64")), "uint64"), loop.start), "uint64")
    body = tuple(shifts) + tuple(pres) + (fused, *alone) + tuple(trailing)
    return tuple(init) + (Loop(it, loop.start, stop, body, loop.kind),)
