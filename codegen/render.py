"""How the Numba backend spells loop IR: expressions and statements as Python source.

`RENDER` has one entry per scalar function of the loop IR (`loopir.Fn`); an entry
makes the dtype-dependent choices. Transcendental functions come from
`codegen.vecmath` for float32/float64, whose polynomial forms LLVM can vectorize
(libm calls would keep the loops scalar). Operations whose Numba spelling differs
from NumPy on special values (NaN-propagating maximum, -0.0, integer division by
zero, out-of-range casts) come from `codegen.exact`, and integer arithmetic on array
data wraps as NumPy's does. What to emit was decided by codegen.passes; nothing here
changes the IR it prints.
"""

from __future__ import annotations

from collections.abc import Callable

from codegen.loopir import (
    PARALLEL,
    Assign,
    Call,
    Const,
    Dim,
    Fn,
    Load,
    Loop,
    MatmulTile,
    Store,
    Var,
)
from codegen.vecmath_names import PROVIDED as VECMATH

# Numba computes these in int64: a local of one of them is cut back to its width, so the
# next op sees NumPy's wrapped value (int8 100 + 100 is -56, not 200).
_NARROW_INTS = ("int8", "int16", "int32", "uint8", "uint16", "uint32")


class Emitter:
    """Turns expressions and statements into Python source lines, collecting the names
    they import."""

    def __init__(self):
        self.imports: set[str] = set()  # from codegen.vecmath, and "math"
        self.exact: set[str] = set()  # from codegen.exact
        self.tiles = False  # whether codegen.microkernel's matmul_tile is called
        # Locals holding values read from arrays (not index arithmetic): integer math on
        # them wraps as NumPy's, while index math keeps Numba's no-overflow flags, which
        # LLVM uses to see strides.
        self.data: set[str] = set()

    def const(self, c: Const) -> str:
        if c.dtype == "bool":
            return "True" if c.value else "False"
        value = repr(float(c.value)) if c.dtype.startswith("float") else repr(int(c.value))
        if value in ("inf", "-inf", "nan"):
            value = f"np.{value.lstrip('-')}" if value[0] != "-" else "-np.inf"
        return f"np.{c.dtype}({value})"

    def expr(self, e) -> str:
        if isinstance(e, Var):
            return e.name
        if isinstance(e, Const):
            return self.const(e)
        if isinstance(e, int):
            return str(e)
        if isinstance(e, Dim):
            return f"{e.param}.shape[{e.axis}]"
        if isinstance(e, Load):
            return f"{e.param}[{self.index(e.index)}]"
        if isinstance(e, Call):
            return self.call(e)
        raise TypeError(f"cannot emit {e!r}")

    def index(self, index: tuple) -> str:
        return ", ".join(self.expr(i) for i in index) if index else "()"

    def helper(self, name: str, args: list[str]) -> str:
        """A call of codegen.exact's `name`."""
        self.exact.add(name)
        return f"{name}({', '.join(args)})"

    def is_data(self, e) -> bool:
        if isinstance(e, Load):
            return True
        if isinstance(e, Var):
            return e.name in self.data
        return isinstance(e, Call) and any(self.is_data(x) for x in e.args)

    def call(self, c: Call) -> str:
        render = RENDER.get(c.fn)
        if render is None:
            raise TypeError(f"the Numba backend has no scalar function '{c.fn}'")
        wraps = c.dtype.startswith(("int", "uint")) and self.is_data(c)
        return render(self, [self.expr(x) for x in c.args], c.dtype, wraps)

    def stmts(self, body, indent: int, lines: list[str]) -> None:
        pad = "    " * indent
        for s in body:
            if isinstance(s, Loop):
                rng = "prange" if s.kind == PARALLEL else "range"
                # prange(n) schedules measurably better than prange(0, n) (W1: 18 -> 11 ms)
                bounds = self.expr(s.stop) if s.start == 0 else \
                    f"{self.expr(s.start)}, {self.expr(s.stop)}"
                lines.append(f"{pad}for {s.var} in {rng}({bounds}):")
                if s.kind == PARALLEL:  # Numba compiles a prange body as its own function
                    lines.append(f"{pad}    prefer_wide_vectors()")
                self.stmts(s.body, indent + 1, lines)
            elif isinstance(s, Assign):
                value = self.expr(s.value)
                if self.is_data(s.value):
                    self.data.add(s.target)
                    if s.dtype in _NARROW_INTS and isinstance(s.value, Call):
                        value = f"np.{s.dtype}({value})"
                lines.append(f"{pad}{s.target} = {value}")
            elif isinstance(s, Store):
                lines.append(f"{pad}{s.param}[{self.index(s.index)}] = {self.expr(s.value)}")
            elif isinstance(s, MatmulTile):
                self.tiles = True
                steps = "+".join(n for n, on in (("bias", s.bias), ("relu", s.relu)) if on)
                spec = f"{steps}:{','.join(str(t) for t in s.stores)}" + (
                    f":{','.join(str(g) for g in s.conv)}" if s.conv else "")
                args = [s.a, s.panels, s.bias or "None", f"({', '.join(s.outs)},)",
                        self.expr(s.row), self.expr(s.panel), self.expr(s.rows),
                        self.expr(s.k0), self.expr(s.k1), str(s.rows_max), str(s.width),
                        str(s.lanes), repr(spec)]
                lines.append(f"{pad}matmul_tile({', '.join(args)})")
            else:
                raise TypeError(f"cannot emit {s!r}")


# -- the table ------------------------------------------------------------------------

#: (emitter, argument sources, dtype, wraps) -> source. `wraps`: an integer call on
#: array data, whose overflow must wrap as NumPy's.
Render = Callable[[Emitter, list, str, bool], str]


def _float(dt: str) -> bool:
    return dt.startswith("float")


def _infix(op: str, wrapping: str = "") -> Render:
    def render(em, a, dt, wraps):
        return em.helper(wrapping, a) if wraps and wrapping else f"({a[0]} {op} {a[1]})"
    return render


def _exact(name: str) -> Render:
    return lambda em, a, dt, wraps: em.helper(name, a)


def _np(name: str) -> Render:
    """NumPy spellings that Numba lowers to LLVM intrinsics (vectorizable) or cheap code."""
    return lambda em, a, dt, wraps: f"{name}({a[0]})"


def _vecmath(fn: Fn, otherwise: Render) -> Render:
    def render(em, a, dt, wraps):
        if (fn.value, dt) not in VECMATH:
            return otherwise(em, a, dt, wraps)
        name = f"{fn.value}_{'f32' if dt == 'float32' else 'f64'}"
        em.imports.add(name)
        return f"{name}({a[0]})"
    return render


def _extreme(fn: str) -> Render:
    def render(em, a, dt, wraps):
        if not _float(dt):
            return f"{fn}({a[0]}, {a[1]})"  # integers have no NaN to propagate
        return em.helper(f"np_{fn}imum", a)  # NaN-propagating, ties as NumPy; vectorizes
    return render


def _relu(em, a, dt, wraps):
    if dt.startswith("uint"):
        return a[0]
    if not _float(dt):
        return f"max({a[0]}, 0)"
    return em.helper("np_maximum", [a[0], f"np.{dt}(0)"])  # relu(-0.0) = 0.0


def _cast(em, a, dt, wraps):
    if dt == "bool":
        return f"({a[0]} != 0)"
    if _float(dt):
        return f"np.{dt}({a[0]})"
    return em.helper(f"to_{dt}", a)  # defined out of range


def _erf(em, a, dt, wraps):
    em.imports.add("math")
    return f"np.{dt}(math.erf({a[0]}))"


RENDER: dict[Fn, Render] = {
    Fn.ADD: _infix("+", "wrap_add"),
    Fn.SUB: _infix("-", "wrap_sub"),
    Fn.MUL: _infix("*", "wrap_mul"),
    Fn.REALDIV: lambda em, a, dt, wraps: (f"({a[0]} / {a[1]})" if _float(dt)
                                          else em.helper("int_truncdiv", a)),
    Fn.FLOORDIV: lambda em, a, dt, wraps: (f"np.floor({a[0]} / {a[1]})" if _float(dt)
                                           else em.helper("int_floordiv", a)),
    Fn.FLOORMOD: lambda em, a, dt, wraps: (f"({a[0]} % {a[1]})" if _float(dt)
                                           else em.helper("int_floormod", a)),
    Fn.POW: lambda em, a, dt, wraps: (f"({a[0]} ** {a[1]})" if _float(dt)
                                      else em.helper("int_pow", a)),
    Fn.MAXIMUM: _extreme("max"),
    Fn.MINIMUM: _extreme("min"),
    # (a typed zero: Numba unifies uint64 with an int literal into float64)
    Fn.NEG: lambda em, a, dt, wraps: (em.helper("wrap_sub", [f"np.{dt}(0)", a[0]]) if wraps
                                      else f"(-{a[0]})"),
    Fn.ABS: _np("abs"),
    Fn.SIGN: _exact("np_sign"),
    Fn.SQUARE: lambda em, a, dt, wraps: (em.helper("wrap_mul", [a[0], a[0]]) if wraps
                                         else f"({a[0]} * {a[0]})"),
    Fn.RECIPROCAL: lambda em, a, dt, wraps: f"(np.{dt}(1) / {a[0]})",
    Fn.RELU: _relu,
    Fn.IDENTITY: lambda em, a, dt, wraps: a[0],
    Fn.FLOOR: _np("np.floor"),
    Fn.CEIL: _np("np.ceil"),
    Fn.ROUND: _np("np.rint"),
    Fn.SQRT: _np("np.sqrt"),
    Fn.RSQRT: lambda em, a, dt, wraps: f"(np.{dt}(1) / np.sqrt({a[0]}))",
    Fn.EXP: _vecmath(Fn.EXP, _np("np.exp")),
    Fn.EXPM1: _vecmath(Fn.EXPM1, _np("np.expm1")),
    Fn.LOG: _vecmath(Fn.LOG, _np("np.log")),
    Fn.LOG1P: _vecmath(Fn.LOG1P, _np("np.log1p")),
    Fn.SIN: _vecmath(Fn.SIN, _np("np.sin")),
    Fn.COS: _vecmath(Fn.COS, _np("np.cos")),
    Fn.ASIN: _np("np.arcsin"),  # (libm's: no vectorized kernel of graphjit's own)
    Fn.ACOS: _np("np.arccos"),
    Fn.ATAN: _np("np.arctan"),
    Fn.TANH: _vecmath(Fn.TANH, _np("np.tanh")),
    Fn.SIGMOID: _vecmath(Fn.SIGMOID, lambda em, a, dt, wraps:
                         f"(np.{dt}(1) / (np.{dt}(1) + np.exp(-{a[0]})))"),
    Fn.ERF: _vecmath(Fn.ERF, _erf),
    Fn.EQUAL: _infix("=="),
    Fn.NOTEQUAL: _infix("!="),
    Fn.LESS: _infix("<"),
    Fn.LESSEQUAL: _infix("<="),
    Fn.GREATER: _infix(">"),
    Fn.GREATEREQUAL: _infix(">="),
    Fn.LOGICALAND: _infix("&"),
    Fn.LOGICALOR: _infix("|"),
    Fn.LOGICALNOT: lambda em, a, dt, wraps: f"(not {a[0]})",
    Fn.SELECT: lambda em, a, dt, wraps: f"({a[1]} if {a[0]} else {a[2]})",
    Fn.CAST: _cast,
    Fn.MULADD: _exact("mul_add"),
    Fn.REDUCE_ADD: _exact("reduce_add"),
    Fn.REDUCE_MUL: _exact("reduce_mul"),
    Fn.REDUCE_MAX: _exact("reduce_max"),
    Fn.REDUCE_MIN: _exact("reduce_min"),
    Fn.REDUCE_MULADD: _exact("reduce_muladd"),
}
