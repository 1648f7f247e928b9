"""The loop IR: the contract between graphjit's lowering and the native backends.

A Kernel is a function over array parameters whose body is a small tree of
statements (loops, scalar assignments, stores) over scalar expressions (loads,
constants, calls). Nodes are frozen dataclasses (their equality, hash and repr
shared from codegen.record), so kernels compare and hash by structure;
`kernel_hash` leaves out the kernel's name, so two regions that compute the same
thing compile once. `format_kernel` prints the text a person
reads in `compiled.ir("loops")`.

Loop bounds are expressions over `Dim(param, axis)`, read from the arrays at
run time: kernels are shape-generic.

The scalar functions a Call may name (`Fn`) and the kinds of loop (`LoopKind`) are
closed vocabularies: the lowering builds only these, `verify` refuses any other, and a
backend renders each (tests/codegen/test_vocabulary.py walks them all).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

from codegen.record import Record

# -- vocabulary ------------------------------------------------------------


class _Word(str, Enum):
    """A member is its own string: kernels that name it print and hash as they did
    when the IR held plain strings (the on-disk kernel cache is keyed by that text)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Fn(_Word):
    """The scalar functions of the loop IR. Their meaning is NumPy's for the Call's
    dtype; where NumPy's integer and float meanings differ (realdiv, floordiv, pow),
    the dtype decides."""

    # arithmetic
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    REALDIV = "realdiv"  # integer division truncates (TF's integer Mean)
    FLOORDIV = "floordiv"
    FLOORMOD = "floormod"
    POW = "pow"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    NEG = "neg"
    ABS = "abs"
    SIGN = "sign"
    SQUARE = "square"
    RECIPROCAL = "reciprocal"
    RELU = "relu"
    IDENTITY = "identity"
    # rounding
    FLOOR = "floor"
    CEIL = "ceil"
    ROUND = "round"  # half to even, as np.rint
    # transcendental
    SQRT = "sqrt"
    RSQRT = "rsqrt"
    EXP = "exp"
    EXPM1 = "expm1"
    LOG = "log"
    LOG1P = "log1p"
    SIN = "sin"
    ASIN = "asin"
    ACOS = "acos"
    ATAN = "atan"
    COS = "cos"
    TANH = "tanh"
    SIGMOID = "sigmoid"
    ERF = "erf"
    # comparisons: bool results of two arguments of one dtype
    EQUAL = "equal"
    NOTEQUAL = "notequal"
    LESS = "less"
    LESSEQUAL = "lessequal"
    GREATER = "greater"
    GREATEREQUAL = "greaterequal"
    # logic on bools
    LOGICALAND = "logicaland"
    LOGICALOR = "logicalor"
    LOGICALNOT = "logicalnot"
    # structure
    SELECT = "select"  # select(condition, if_true, if_false)
    # muladd(a, b, c) = a * b + c, rounded once where the target fuses it (a dot product's
    # accumulation, whose rounding no reference fixes)
    MULADD = "muladd"
    CAST = "cast"  # to the Call's dtype
    # a float accumulator's update, acc = f(acc, x), whose order may change: 'reassoc'
    # on this one operation lets a reduction vectorize (codegen.passes chooses these)
    REDUCE_ADD = "reduce_add"
    REDUCE_MUL = "reduce_mul"
    REDUCE_MAX = "reduce_max"
    REDUCE_MIN = "reduce_min"
    # acc + x * y for a dot product's accumulator: muladd's fusion, plus 'reassoc' on the
    # add so the loop over the products vectorizes (codegen.exact.reduce_muladd)
    REDUCE_MULADD = "reduce_muladd"


COMPARISONS = frozenset({Fn.EQUAL, Fn.NOTEQUAL, Fn.LESS, Fn.LESSEQUAL, Fn.GREATER,
                         Fn.GREATEREQUAL})
LOGICAL = frozenset({Fn.LOGICALAND, Fn.LOGICALOR, Fn.LOGICALNOT})
REDUCTIONS = frozenset({Fn.REDUCE_ADD, Fn.REDUCE_MUL, Fn.REDUCE_MAX, Fn.REDUCE_MIN})
#: functions of floats only
FLOAT_FNS = frozenset({Fn.FLOOR, Fn.CEIL, Fn.ROUND, Fn.SQRT, Fn.RSQRT, Fn.EXP, Fn.EXPM1,
                       Fn.LOG, Fn.LOG1P, Fn.SIN, Fn.COS, Fn.ASIN, Fn.ACOS, Fn.ATAN, Fn.TANH,
                       Fn.SIGMOID, Fn.ERF, Fn.RECIPROCAL, Fn.MULADD, Fn.REDUCE_MULADD}) \
    | REDUCTIONS
#: functions of numbers, integer or float (comparisons: of their arguments), not bools
NUMBER_FNS = frozenset({Fn.ADD, Fn.SUB, Fn.MUL, Fn.REALDIV, Fn.FLOORDIV, Fn.FLOORMOD,
                        Fn.POW, Fn.MAXIMUM, Fn.MINIMUM, Fn.NEG, Fn.ABS, Fn.SIGN, Fn.SQUARE,
                        Fn.RELU, Fn.LESS, Fn.LESSEQUAL, Fn.GREATER, Fn.GREATEREQUAL})
# The others take any dtype: identity, select, cast, equal, notequal; LOGICAL takes bools.
_BINARY = frozenset({Fn.ADD, Fn.SUB, Fn.MUL, Fn.REALDIV, Fn.FLOORDIV, Fn.FLOORMOD, Fn.POW,
                     Fn.MAXIMUM, Fn.MINIMUM, Fn.LOGICALAND, Fn.LOGICALOR}) | COMPARISONS \
    | REDUCTIONS
#: how many arguments each function takes
ARITY = {fn: 3 if fn in (Fn.SELECT, Fn.MULADD, Fn.REDUCE_MULADD) else 2 if fn in _BINARY
         else 1 for fn in Fn}


class LoopKind(_Word):
    SERIAL = "serial"
    PARALLEL = "parallel"  # iterations are independent: a backend may run them on threads


# -- scalar expressions --------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Var(Record):
    """A loop index or a scalar local (accumulators, temporaries)."""

    name: str


@dataclass(frozen=True, eq=False, repr=False)
class Const(Record):
    value: float | int | bool
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class Dim(Record):
    """The run-time extent of axis `axis` of array parameter `param`."""

    param: str
    axis: int


@dataclass(frozen=True, eq=False, repr=False)
class Load(Record):
    """param[index...]: index expressions express strides, broadcasting, transposes.

    `holds` names a value parked in an output (see Store); empty, the read means the
    parameter's own values (an input, or an output read back as an accumulator).
    """

    param: str
    index: tuple
    holds: str = ""


@dataclass(frozen=True, eq=False, repr=False)
class Call(Record):
    """A scalar function (add, exp, select, cast, ...) producing a value of `dtype`.
    `fn` is a member of Fn (or its string, which equals it)."""

    fn: Fn
    args: tuple
    dtype: str


Expr = Var | Const | Dim | Load | Call

# -- statements ----------------------------------------------------------

SERIAL = LoopKind.SERIAL
PARALLEL = LoopKind.PARALLEL


@dataclass(frozen=True, eq=False, repr=False)
class Assign(Record):
    """target = value, for a scalar local."""

    target: str
    value: Expr
    dtype: str


@dataclass(frozen=True, eq=False, repr=False)
class Store(Record):
    """param[index...] = value. A store with `holds` parks a value in an output before the
    output's own value overwrites it (a kernel reads it back instead of recomputing it);
    `verify` proves every read of a parked value sees that value."""

    param: str
    index: tuple
    value: Expr
    holds: str = ""


@dataclass(frozen=True, eq=False, repr=False)
class Loop(Record):
    """for var in range(start, stop): body — `kind` is serial or parallel (prange)."""

    var: str
    start: Expr
    stop: Expr
    body: tuple
    kind: LoopKind = SERIAL


@dataclass(frozen=True, eq=False, repr=False)
class ArrayView(Record):
    """Array parameter `param` seen with shape `shape` (a reshape of the C-contiguous
    array; None keeps its shape), its last two axes swapped when `transposed`."""

    param: str
    shape: tuple | None = None
    transposed: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class ExternCall(Record):
    """out = fn(*args) over whole arrays: a library routine instead of a loop nest.

    Matrix products go to BLAS (`matmul`): no loop nest we emit comes near a tuned
    GEMM, and the views let a convolution's im2col columns feed it without a copy.
    """

    fn: str
    args: tuple  # ArrayView inputs
    out: ArrayView


EXTERN_FUNCTIONS = ("matmul",)


@dataclass(frozen=True, eq=False, repr=False)
class MatmulTile(Record):
    """outs[o][row:row+rows, panel*width : panel*width+width] = the epilogue's stage
    stores[o] of a[row:row+rows] @ the weights of panels[panel]: one register-blocked
    tile (codegen.microkernel; `a` and the outputs may be C-contiguous stacks of rows,
    rank > 2, their leading dims the rows), its edges handled inside (rows <= rows_max; columns
    past the outputs' last are not stored).

    `panels` is (P, K, width), the weights' columns in panels of `width`; `bias` ("" for
    none) a (P*width,) row added to the product, then relu if `relu`; the stages are
    counted as present: 0 the product, then after the bias, then after relu. `lanes` is
    the vector length the tile is written in (width is a multiple of it). Only k in
    [k0, k1) is summed: a tile with k0 > 0 adds to the partial sums in outs[0], and one
    with k1 < K leaves its partial sums there, unfinished (K in blocks that stay in
    cache).

    `conv` (19 ints: codegen.microkernel.ConvGeometry) makes it a convolution's tile:
    `a` is the NHWC input, the outputs NHWC, their rows the output cells, and a row's
    k = tap*Cin + ci reads the input at that tap's cell (zero in the padding): no
    columns buffer. K is then the filter's KH*KW*Cin, summed whole (k0 = 0, k1 = K).
    With a max pool in the geometry, rows go by pooling windows, `row` and `rows`
    count conv cells (whole windows), and the outputs are pooled: stage 0 is the
    window's maximum."""

    a: str
    panels: str
    bias: str
    outs: tuple
    stores: tuple
    relu: bool
    row: object
    panel: object
    rows: object
    k0: object
    k1: object
    rows_max: int
    width: int
    lanes: int
    conv: tuple = ()


Stmt = Assign | Store | Loop | ExternCall | MatmulTile


@dataclass(frozen=True, eq=False, repr=False)
class Param(Record):
    """An array parameter: inputs are read, outputs written (never both)."""

    name: str
    dtype: str
    rank: int
    is_output: bool


@dataclass(frozen=True, eq=False, repr=False)
class Kernel(Record):
    name: str
    params: tuple
    body: tuple


def variables(e) -> set[str]:
    """The names of the variables expression `e` reads, its array indices' included."""
    if isinstance(e, Var):
        return {e.name}
    if isinstance(e, Load):
        return set().union(*(variables(i) for i in e.index))
    if isinstance(e, Call):
        return set().union(*(variables(a) for a in e.args))
    return set()


# -- printing and hashing -------------------------------------------------


def format_expr(e) -> str:
    if isinstance(e, Var):
        return e.name
    if isinstance(e, Const):
        return f"{e.value!r}:{e.dtype}"
    if isinstance(e, Dim):
        return f"{e.param}.shape[{e.axis}]"
    if isinstance(e, Load):
        parked = f"{{{e.holds}}}" if e.holds else ""
        return f"{e.param}{parked}[{', '.join(format_expr(i) for i in e.index)}]"
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
    elif isinstance(s, MatmulTile):
        epilogue = (f" + {s.bias}" if s.bias else "") + (" relu" if s.relu else "")
        lines.append(
            f"{pad}{', '.join(s.outs)} <- stages {s.stores} of tile {s.rows_max}x{s.width}"
            f"/{s.lanes}({s.a}[{format_expr(s.row)} +{format_expr(s.rows)} rows, "
            f"{format_expr(s.k0)}:{format_expr(s.k1)}] @ {s.panels}[{format_expr(s.panel)}]"
            f"{epilogue}{' conv ' + ','.join(map(str, s.conv)) if s.conv else ''})")
    elif isinstance(s, Loop):
        kw = "parallel for" if s.kind == PARALLEL else "for"
        lines.append(f"{pad}{kw} {s.var} in [{format_expr(s.start)}, {format_expr(s.stop)}):")
        for b in s.body:
            _format_stmt(b, indent + 1, lines)
    elif isinstance(s, Assign):
        lines.append(f"{pad}{s.target}: {s.dtype} = {format_expr(s.value)}")
    elif isinstance(s, Store):
        index = ", ".join(format_expr(i) for i in s.index)
        parked = f"{{{s.holds}}}" if s.holds else ""
        lines.append(f"{pad}{s.param}{parked}[{index}] = {format_expr(s.value)}")
    else:
        raise TypeError(f"not a loop IR statement: {s!r}")


def format_body(body) -> str:
    lines: list[str] = []
    for s in body:
        _format_stmt(s, 1, lines)
    return "\n".join(lines)


def is_extern(kernel: Kernel) -> bool:
    """A kernel of library calls: plain Python calling NumPy (BLAS), nothing to compile."""
    return any(isinstance(s, ExternCall) for s in kernel.body)


def format_kernel(kernel: Kernel) -> str:
    params = ", ".join(
        f"{'out ' if p.is_output else ''}{p.name}: {p.dtype}[{p.rank}d]" for p in kernel.params)
    return f"kernel {kernel.name}({params}):\n{format_body(kernel.body)}"


def kernel_hash(kernel: Kernel) -> str:
    """A structural hash: same params (by position) and body, whatever the kernel's name."""
    params = ";".join(f"{p.name}:{p.dtype}:{p.rank}:{p.is_output}" for p in kernel.params)
    text = params + "\n" + format_body(kernel.body)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# -- verification ------------------------------------------------------------

class VerifyError(ValueError):
    """A kernel breaks a rule of the loop IR; the message names the kernel and the rule."""


class _Verifier:
    """One walk over a kernel in program order (see `verify`)."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.params = {p.name: p for p in kernel.params}
        self.scopes: list[dict[str, str]] = [{}]  # variable -> dtype, per loop body
        self.loops: list[Loop] = []
        # output param -> {index key: what it holds ("" = its own values)}
        self.contents: dict[str, dict[tuple, str]] = {}
        # per enclosing loop: parked reads seen in its body, as (param, index key)
        self.parked_reads: list[list[tuple]] = []

    def fail(self, message: str):
        raise VerifyError(f"kernel {self.kernel.name}: {message}")

    def dtype_of_var(self, name: str) -> str:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        self.fail(f"'{name}' is read before it is defined")

    def index_key(self, index: tuple) -> tuple:
        """An index with each loop variable replaced by its loop's extent: two loops over
        the same extents address the same elements with the same key."""
        bounds = {loop.var: (loop.start, loop.stop) for loop in self.loops}
        return tuple((i.name, bounds[i.name]) if isinstance(i, Var) and i.name in bounds
                     else i for i in index)

    def expr(self, e) -> str:
        """Checks an expression; returns its dtype."""
        if isinstance(e, bool):
            return "bool"
        if isinstance(e, int):
            return "int64"
        if isinstance(e, Var):
            return self.dtype_of_var(e.name)
        if isinstance(e, Const):
            return e.dtype
        if isinstance(e, Dim):
            param = self.params.get(e.param)
            if param is None or not 0 <= e.axis < param.rank:
                self.fail(f"{format_expr(e)} names no axis of a parameter")
            return "int64"
        if isinstance(e, Load):
            return self.load(e)
        if isinstance(e, Call):
            return self.call(e)
        self.fail(f"not a loop IR expression: {e!r}")

    def access(self, param_name: str, index: tuple, what: str):
        param = self.params.get(param_name)
        if param is None:
            self.fail(f"{what} of unknown parameter '{param_name}'")
        if len(index) != param.rank:
            self.fail(f"{what} {param_name}[{len(index)} indices] of a rank-{param.rank} array")
        for i in index:  # (uint64: an index known not to be negative, which Numba
            # then uses without a wraparound check)
            if self.expr(i) not in ("int64", "int32", "uint64"):
                self.fail(f"{what} {param_name}: index {format_expr(i)} is not an integer")
        return param

    def load(self, e: Load) -> str:
        param = self.access(e.param, e.index, "read")
        if not param.is_output:
            if e.holds:
                self.fail(f"read of parked value {e.holds} from input {e.param}")
            return param.dtype
        held = self.contents.get(e.param)
        if not held:
            self.fail(f"{format_expr(e)} is read before anything is stored in {e.param}")
        key = self.index_key(e.index)
        if e.holds:
            found = held.get(key)
            if found != e.holds:
                now = "nothing at that index" if found is None else (
                    f"'{found}'" if found else f"{e.param}'s own value")
                self.fail(f"{format_expr(e)} reads parked value '{e.holds}' but {e.param} "
                          f"holds {now} there: a store overwrote it before this read")
            for reads in self.parked_reads:
                reads.append((e.param, key))
        elif any(held.values()):
            self.fail(f"{format_expr(e)} reads {e.param}'s own value while it holds the "
                      f"parked value '{next(h for h in held.values() if h)}'")
        return param.dtype

    def call(self, c: Call) -> str:
        args = [self.expr(a) for a in c.args]
        fn, dt = c.fn, c.dtype
        if fn not in ARITY:
            self.fail(f"{format_expr(c)}: '{fn}' is no scalar function of the loop IR (Fn)")
        if len(args) != ARITY[fn]:
            self.fail(f"{format_expr(c)}: {fn} takes {ARITY[fn]} arguments, got {len(args)}")
        if fn == "cast":
            return dt
        if fn == "select":
            if len(args) != 3 or args[0] != "bool" or args[1] != dt or args[2] != dt:
                self.fail(f"{format_expr(c)}: select takes (bool, {dt}, {dt}), got {args}")
            return dt
        if fn in COMPARISONS:
            if dt != "bool" or len(set(args)) != 1:
                self.fail(f"{format_expr(c)}: comparison of {args} must give bool")
            if fn in NUMBER_FNS and args[0] == "bool":
                self.fail(f"{format_expr(c)}: {fn} orders numbers, not bools")
            return dt
        if fn in LOGICAL and dt != "bool":
            self.fail(f"{format_expr(c)}: logical function of type {dt}")
        if fn in FLOAT_FNS and not dt.startswith("float"):
            self.fail(f"{format_expr(c)}: {fn} is a function of floats, not {dt}")
        if fn in NUMBER_FNS and dt == "bool":
            self.fail(f"{format_expr(c)}: {fn} is a function of numbers, not bool")
        if any(a != dt for a in args):
            self.fail(f"{format_expr(c)}: arguments of types {args} in a {dt} call")
        return dt

    def stmts(self, body) -> None:
        for s in body:
            if isinstance(s, Assign):
                value = self.expr(s.value)
                if value != s.dtype:
                    self.fail(f"{s.target}: {s.dtype} assigned a {value} value")
                for scope in self.scopes:
                    if scope.get(s.target, s.dtype) != s.dtype:
                        self.fail(f"{s.target} is assigned as {scope[s.target]} and {s.dtype}")
                self.scopes[-1][s.target] = s.dtype
            elif isinstance(s, Store):
                self.store(s)
            elif isinstance(s, Loop):
                self.loop(s)
            elif isinstance(s, ExternCall):
                for v in (*s.args, s.out):
                    if v.param not in self.params:
                        self.fail(f"extern {s.fn} names unknown parameter '{v.param}'")
                self.contents[s.out.param] = {None: ""}
            elif isinstance(s, MatmulTile):
                self.tile(s)
            else:
                self.fail(f"not a loop IR statement: {s!r}")

    def tile(self, s: MatmulTile) -> None:
        def param(name: str, rank: int, output: bool):
            p = self.params.get(name)
            if p is None or p.rank != rank or p.is_output != output \
                    or p.dtype != self.params.get(s.a, p).dtype:
                self.fail(f"matmul tile: '{name}' is no {'output' if output else 'input'} "
                          f"of rank {rank} and the input's dtype")
            return p

        a = self.params.get(s.a)  # (a product's operands may be stacks of rows, rank > 2)
        rank = 4 if s.conv else max(2, a.rank if a is not None else 2)
        if s.conv and (len(s.conv) != 19 or not all(isinstance(g, int) for g in s.conv)):
            self.fail(f"matmul tile: convolution geometry {s.conv} is not 19 integers")
        dtype = param(s.a, rank, False).dtype
        if not dtype.startswith("float"):
            self.fail(f"matmul tile of {dtype}: floats only")
        param(s.panels, 3, False)
        if s.bias:
            param(s.bias, 1, False)
        stages = 1 + bool(s.bias) + bool(s.relu)
        if not s.outs or len(s.outs) != len(s.stores) \
                or any(not 0 <= t < stages for t in s.stores):
            self.fail(f"matmul tile: stores {s.stores} for outputs {s.outs} of "
                      f"{stages} stages")
        for out in s.outs:
            param(out, rank, True)
            self.contents[out] = {None: ""}
        for e in (s.row, s.panel, s.rows, s.k0, s.k1):
            if self.expr(e) != "int64":
                self.fail(f"matmul tile: {format_expr(e)} is not an integer")
        if s.rows_max < 1 or s.lanes < 1 or s.width % s.lanes:
            self.fail(f"matmul tile of {s.rows_max} rows, width {s.width} in vectors of "
                      f"{s.lanes}")

    def store(self, s: Store) -> None:
        param = self.access(s.param, s.index, "store")
        if not param.is_output:
            self.fail(f"store into input {s.param}")
        value = self.expr(s.value)
        if value != param.dtype:
            self.fail(f"store of a {value} value into {s.param}: {param.dtype}")
        key = self.index_key(s.index)
        for reads in self.parked_reads:  # a later iteration would read what this overwrote
            if any(p == s.param and k != key for p, k in reads):
                self.fail(f"store into {s.param} at another index than a parked read of "
                          f"it in the same loop")
        held = self.contents.setdefault(s.param, {})
        if any(k != key for k in held):  # another index may be the same element
            held.clear()
        held[key] = s.holds

    def loop(self, s: Loop) -> None:
        for bound in (s.start, s.stop):
            if self.expr(bound) != "int64":
                self.fail(f"loop {s.var}: bound {format_expr(bound)} is not an integer")
        if s.kind not in _LOOP_KINDS:
            self.fail(f"loop {s.var}: unknown kind '{s.kind}'")
        self.loops.append(s)
        self.scopes.append({s.var: "int64"})
        self.parked_reads.append([])
        self.stmts(s.body)
        reads = self.parked_reads.pop()
        if self.parked_reads:
            self.parked_reads[-1].extend(reads)
        self.scopes.pop()
        self.loops.pop()


_LOOP_KINDS = frozenset(LoopKind)


def verify(kernel: Kernel) -> None:
    """Check a kernel before it is compiled; raise VerifyError on the first broken rule.

    Rules: every variable is defined before it is read (loop bodies are scopes); indices
    match their array's rank and are integers; dtypes agree (assignments, stores, call
    arguments); calls name a function of `Fn` with its number of arguments, loops a
    `LoopKind`; inputs are never stored into; an output is read only after a store, and
    every read sees what it means: a read of a parked value (`Load.holds`) finds that
    value at that index, not one stored over it since, and a plain read of an output
    (an accumulator) never finds a parked value.
    """
    names = [p.name for p in kernel.params]
    if len(set(names)) != len(names):
        raise VerifyError(f"kernel {kernel.name}: duplicate parameter names {names}")
    _Verifier(kernel).stmts(kernel.body)
