"""IR-to-IR passes the Numba backend runs on a verified kernel before printing it.

Every decision about the code a kernel becomes is made here, on the loop IR, where it
can be printed and tested: running the outer loop in chunks, hoisting invariant
assignments (codegen.licm), letting a float reduction reassociate, overlapping a row
kernel's passes across rows (codegen.pipeline), Numba's parallel and fastmath flags.
The printer (codegen.render, codegen.numba_backend) then only spells what `prepare`
returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from codegen import vecmath_names
from codegen.licm import hoist_invariants
from codegen.loopir import (
    PARALLEL,
    SERIAL,
    Assign,
    Call,
    Dim,
    Fn,
    Kernel,
    Load,
    Loop,
    Store,
    Var,
)
from codegen.pipeline import pipeline_rows
from codegen.record import Record

#: the arguments bounding a chunked kernel's outer loop (codegen.parallel)
CHUNK_PARAMS = ("chunk_lo", "chunk_hi")

#: float accumulations that may reassociate (codegen.exact.reduce_add and friends)
REASSOCIATED = {Fn.ADD: Fn.REDUCE_ADD, Fn.MUL: Fn.REDUCE_MUL, Fn.MAXIMUM: Fn.REDUCE_MAX,
                Fn.MINIMUM: Fn.REDUCE_MIN}


@dataclass(frozen=True, eq=False, repr=False)
class Prepared(Record):
    """A kernel as the backend prints it."""

    kernel: Kernel  # as verified: its name, parameters and structural hash
    body: tuple  # the statements to print
    chunked: Loop | None  # the outer parallel loop now run in chunks, as it was
    parallel: bool  # a prange loop remains: Numba's parallel=True
    fastmath: frozenset  # Numba's kernel-wide fastmath flags


def prepare(kernel: Kernel) -> Prepared:
    """The passes, in order; `kernel` has passed `loopir.verify`."""
    loop = chunkable_loop(kernel)
    body = kernel.body if loop is None else (chunk_loop(loop),)
    body = hoist_invariants(body, {p.name for p in kernel.params if p.is_output})
    body = reassociate_reductions(body)
    if loop is not None:
        body = _pipelined(body, {p.name for p in kernel.params if p.is_output})
    return Prepared(kernel, body, loop, has_parallel(body), kernel_fastmath(body))


def has_parallel(body) -> bool:
    return any(isinstance(s, Loop) and (s.kind == PARALLEL or has_parallel(s.body))
               for s in body)


# -- chunking the outer loop --------------------------------------------------


def chunkable_loop(kernel: Kernel) -> Loop | None:
    """The kernel's one outer parallel loop when graphjit's runtime can run it in chunks
    (codegen.parallel): a loop from 0 to an extent computable from the array shapes."""
    if len(kernel.body) != 1:
        return None
    loop = kernel.body[0]
    if not (isinstance(loop, Loop) and loop.kind == PARALLEL and loop.start == 0):
        return None
    return loop if shape_expr(loop.stop) else None


def shape_expr(e) -> bool:
    """Whether `e` is computable from the arrays' shapes alone (ints, dims, + and *, and
    // by a positive int: a count of blocks)."""
    if isinstance(e, (int, Dim)):
        return True
    if isinstance(e, Call) and e.fn == Fn.FLOORDIV and len(e.args) == 2:
        return isinstance(e.args[1], int) and e.args[1] > 0 and shape_expr(e.args[0])
    return (isinstance(e, Call) and e.fn in (Fn.MUL, Fn.ADD) and len(e.args) == 2
            and all(shape_expr(a) for a in e.args))


def chunk_loop(loop: Loop) -> Loop:
    """`loop` as a serial loop from chunk_lo to chunk_hi, over an unsigned twin of its
    variable where that indexes an array directly: Numba wraps negative indices, and
    for a loop from a run-time start LLVM cannot drop that check (a chunked gelu loop
    took 13.3 ms instead of 8.4 ms). The signed variable stays for everything else."""
    unsigned = loop.var + "_u"
    signed = Assign(loop.var, Call(Fn.CAST, (Var(unsigned),), "int64"), "int64")
    body = _rename_indices(loop.body, Var(loop.var), Var(unsigned))
    return Loop(unsigned, Var(CHUNK_PARAMS[0]), Var(CHUNK_PARAMS[1]), (signed,) + body,
                SERIAL)


def _rename_indices(body: tuple, old: Var, new: Var) -> tuple:
    def index(ix: tuple) -> tuple:
        return tuple(new if i == old else expr(i) for i in ix)

    def expr(e):
        if isinstance(e, Call):
            return replace(e, args=tuple(expr(a) for a in e.args))
        if isinstance(e, Load):
            return replace(e, index=index(e.index))
        return e

    out = []
    for s in body:
        if isinstance(s, Loop):
            s = replace(s, body=_rename_indices(s.body, old, new))
        elif isinstance(s, Assign):
            s = replace(s, value=expr(s.value))
        elif isinstance(s, Store):
            s = replace(s, index=index(s.index), value=expr(s.value))
        out.append(s)
    return tuple(out)


def _pipelined(body: tuple, outputs: set[str]) -> tuple:
    """The chunked row loop with its row passes software-pipelined (codegen.pipeline)."""
    out = []
    for s in body:
        if isinstance(s, Loop) and s.start == Var(CHUNK_PARAMS[0]):
            s = pipeline_rows(s, outputs)
        out.extend(s if isinstance(s, tuple) else (s,))
    return tuple(out)


# -- fastmath -------------------------------------------------------------------


def reassociate_reductions(body: tuple) -> tuple:
    """`acc = add(acc, x)` (mul, maximum, minimum) of a float accumulator becomes
    `acc = reduce_add(acc, x)`: 'reassoc' on that one instruction lets LLVM split the
    reduction into vector lanes, where kernel-wide it would also change other results
    (codegen.exact, REDUCTION_FLAGS)."""
    out = []
    for s in body:
        if isinstance(s, Loop):
            s = replace(s, body=reassociate_reductions(s.body))
        elif isinstance(s, Assign):
            v, acc = s.value, Var(s.target)
            if isinstance(v, Call) and v.fn in REASSOCIATED and v.dtype.startswith("float") \
                    and len(v.args) == 2 and acc in v.args:
                x = v.args[1] if v.args[0] == acc else v.args[0]
                s = replace(s, value=Call(REASSOCIATED[v.fn], (acc, x), v.dtype))
        out.append(s)
    return tuple(out)


def kernel_fastmath(body: tuple) -> frozenset:
    """Kernel-wide fastmath flags: none for any kernel today (codegen.vecmath,
    KERNEL_FASTMATH, says what each flag would break)."""
    return vecmath_names.KERNEL_FASTMATH
