"""The loop IR: the contract between graphjit's lowering and the native backends.

A Kernel is a function over array parameters whose body is a small tree of
statements (loops, scalar assignments, stores) over scalar expressions (loads,
constants, calls). Nodes are frozen dataclasses, so kernels compare and hash by
structure; `kernel_hash` leaves out the kernel's name, so two regions that
compute the same thing compile once. `format_kernel` prints the text a person
reads in `compiled.ir("loops")`.

Loop bounds are expressions over `Dim(param, axis)`, read from the arrays at
run time: kernels are shape-generic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# -- scalar expressions --------------------------------------------------


@dataclass(frozen=True)
class Var:
    """A loop index or a scalar local (accumulators, temporaries)."""

    name: str


@dataclass(frozen=True)
class Const:
    value: float | int | bool
    dtype: str


@dataclass(frozen=True)
class Dim:
    """The run-time extent of axis `axis` of array parameter `param`."""

    param: str
    axis: int


@dataclass(frozen=True)
class Load:
    """param[index...]: index expressions express strides, broadcasting, transposes."""

    param: str
    index: tuple


@dataclass(frozen=True)
class Call:
    """A scalar function (add, exp, select, cast, ...) producing a value of `dtype`."""

    fn: str
    args: tuple
    dtype: str


Expr = Var | Const | Dim | Load | Call

# -- statements ----------------------------------------------------------

SERIAL = "serial"
PARALLEL = "parallel"


@dataclass(frozen=True)
class Assign:
    """target = value, for a scalar local."""

    target: str
    value: Expr
    dtype: str


@dataclass(frozen=True)
class Store:
    param: str
    index: tuple
    value: Expr


@dataclass(frozen=True)
class Loop:
    """for var in range(start, stop): body — `kind` is serial or parallel (prange)."""

    var: str
    start: Expr
    stop: Expr
    body: tuple
    kind: str = SERIAL


@dataclass(frozen=True)
class ArrayView:
    """Array parameter `param` seen with shape `shape` (a reshape of the C-contiguous
    array; None keeps its shape), its last two axes swapped when `transposed`."""

    param: str
    shape: tuple | None = None
    transposed: bool = False


@dataclass(frozen=True)
class ExternCall:
    """out = fn(*args) over whole arrays: a library routine instead of a loop nest.

    Matrix products go to BLAS (`matmul`): no loop nest we emit comes near a tuned
    GEMM, and the views let a convolution's im2col columns feed it without a copy.
    """

    fn: str
    args: tuple  # ArrayView inputs
    out: ArrayView


EXTERN_FUNCTIONS = ("matmul",)

Stmt = Assign | Store | Loop | ExternCall


@dataclass(frozen=True)
class Param:
    """An array parameter: inputs are read, outputs written (never both)."""

    name: str
    dtype: str
    rank: int
    is_output: bool


@dataclass(frozen=True)
class Kernel:
    name: str
    params: tuple
    body: tuple


# -- printing and hashing -------------------------------------------------


def format_expr(e) -> str:
    if isinstance(e, Var):
        return e.name
    if isinstance(e, Const):
        return f"{e.value!r}:{e.dtype}"
    if isinstance(e, Dim):
        return f"{e.param}.shape[{e.axis}]"
    if isinstance(e, Load):
        return f"{e.param}[{', '.join(format_expr(i) for i in e.index)}]"
    if isinstance(e, Call):
        return f"{e.fn}({', '.join(format_expr(a) for a in e.args)})"
    if isinstance(e, int):
        return str(e)
    raise TypeError(f"not a loop IR expression: {e!r}")


def format_view(v: ArrayView) -> str:
    text = v.param
    if v.shape is not None:
        text = f"reshape({text}, ({', '.join(format_expr(d) for d in v.shape)}))"
    return f"transpose({text})" if v.transposed else text


def _format_stmt(s, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    if isinstance(s, ExternCall):
        args = ", ".join(format_view(a) for a in s.args)
        lines.append(f"{pad}{format_view(s.out)} = extern {s.fn}({args})")
    elif isinstance(s, Loop):
        kw = "parallel for" if s.kind == PARALLEL else "for"
        lines.append(f"{pad}{kw} {s.var} in [{format_expr(s.start)}, {format_expr(s.stop)}):")
        for b in s.body:
            _format_stmt(b, indent + 1, lines)
    elif isinstance(s, Assign):
        lines.append(f"{pad}{s.target}: {s.dtype} = {format_expr(s.value)}")
    elif isinstance(s, Store):
        index = ", ".join(format_expr(i) for i in s.index)
        lines.append(f"{pad}{s.param}[{index}] = {format_expr(s.value)}")
    else:
        raise TypeError(f"not a loop IR statement: {s!r}")


def format_body(body) -> str:
    lines: list[str] = []
    for s in body:
        _format_stmt(s, 1, lines)
    return "\n".join(lines)


def format_kernel(kernel: Kernel) -> str:
    params = ", ".join(
        f"{'out ' if p.is_output else ''}{p.name}: {p.dtype}[{p.rank}d]" for p in kernel.params)
    return f"kernel {kernel.name}({params}):\n{format_body(kernel.body)}"


def kernel_hash(kernel: Kernel) -> str:
    """A structural hash: same params (by position) and body, whatever the kernel's name."""
    params = ";".join(f"{p.name}:{p.dtype}:{p.rank}:{p.is_output}" for p in kernel.params)
    text = params + "\n" + format_body(kernel.body)
    return hashlib.sha256(text.encode()).hexdigest()[:24]
