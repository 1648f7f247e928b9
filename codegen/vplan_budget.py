"""When a kernel must compile with LLVM's loop interleaving off: a bound on use-def paths.

LLVM 22's loop vectorizer, when it interleaves a vectorized loop (interleave count UF > 1),
asks of each recipe whether it is uniform across all UF parts
(``vputils::isUniformAcrossVFsAndUFs``, called from ``VPlanTransforms::unrollByUF``). The
question recurses into the operands of single-scalar recipes without remembering answers,
so its cost is the number of use-def *paths* through them, not the number of values.
Single-scalar recipes are what a value computed in the loop from a load at a loop-invariant
address becomes when LLVM cannot hoist the load (the loop stores to arrays that may alias
it): a gather with a clamped index, a broadcast input. The inlined vecmath functions reuse
their argument many times (a polynomial reads r at every step), so the paths multiply
along a chain of them: sigmoid -> sin -> erf (float32) has 507 * 879 * 418 = 1.9e8 paths,
and LLVM ran for more than eight minutes on it (differential fuzzing, seed 109 graph 1140).

With interleaving off (UF = 1) the unroller returns at once, and loops whose body is a
chain of vecmath calls over varying values are not interleaved anyway (LLVM's cost model
picks UF = 1 for every such loop measured: the body needs the registers). So a kernel
whose estimated path count passes `PATH_BUDGET` compiles with ``-force-vector-interleave=1``
(codegen.target.compile_switches); every other kernel compiles as before.
"""

from __future__ import annotations

from codegen.loopir import Assign, Call, Const, Fn, Kernel, Load, Loop, Store, Var, variables
from codegen.vecmath_names import PROVIDED

#: Use-def paths from a vecmath function's argument to its result in its optimized LLVM
#: IR (each operand occurrence counted, as the recursion walks them; on x86-64 with
#: AVX-512, whose hardware scaling makes exp's paths fewer than elsewhere: the test
#: recounts them on the machine it runs on and checks these are not exceeded by more
#: than FACTOR_SLACK).
VECMATH_PATHS = {
    ("exp", "float32"): 100, ("exp", "float64"): 172,
    ("log", "float32"): 53, ("log", "float64"): 116,
    ("log1p", "float32"): 58, ("log1p", "float64"): 121,
    ("expm1", "float32"): 119, ("expm1", "float64"): 179,
    ("tanh", "float32"): 259, ("tanh", "float64"): 2005,
    ("sigmoid", "float32"): 507, ("sigmoid", "float64"): 867,
    ("erf", "float32"): 418, ("erf", "float64"): 263,
    ("sin", "float32"): 879, ("sin", "float64"): 1455,
    ("cos", "float32"): 877, ("cos", "float64"): 1453,
}
FACTOR_SLACK = 4  # how far a recount may exceed the table before the test fails

# Scalar functions that codegen.render spells with helpers reading an argument more than
# once (NaN-propagating max/min, sign, checked casts, integer division and power): counted
# as reading each argument this many times.
_HELPER_READS = 4
_HELPERS = frozenset({Fn.MAXIMUM, Fn.MINIMUM, Fn.SIGN, Fn.RELU, Fn.CAST, Fn.FLOORDIV,
                      Fn.FLOORMOD, Fn.POW, Fn.MULADD})

#: Paths above which a kernel compiles with interleaving off. Measured on uniform chains
#: (one loop storing f(g(in[0])), LLVM 22, Emerald Rapids): exp(exp) (1e4 paths) compiles
#: in 0.20 s like exp alone; sigmoid(sin) (4.5e5) in 2.2 s, sin(erf) (3.7e5) in 3.5 s,
#: exp(exp(exp)) (1e6) in 3.8 s, 16 steps of t*t + t (4.3e7) in 55 s: 1-9 us per path.
#: 1e5 paths then cost at most ~1 s, about one cold kernel compile; the common kernels
#: stay below it (float64 GELU, tanh form, the most: 2.8e4), so they compile as before.
PATH_BUDGET = 100_000


def use_def_paths(kernel: Kernel) -> int:
    """An estimate of the most use-def paths LLVM's uniformity recursion could walk in one
    loop body: from a value computed in the body back to the values it reads that may be
    the same in every iteration (loads at an address LLVM may find loop-invariant, values
    from outside the body, loop-carried ones). Loads indexed by the loop's own variable
    differ per iteration: the recursion stops at them, so they count no paths."""
    most = 0

    def expr(e, paths: dict, var: str) -> int:
        if isinstance(e, Var):
            return 0 if e.name == var else paths.get(e.name, 1)
        if isinstance(e, Load):
            if any(_steps_with(i, var) for i in e.index):
                return 0
            return 1 + sum(expr(i, paths, var) for i in e.index)
        if isinstance(e, Call):
            reads = sum(expr(a, paths, var) for a in e.args)
            key = (Fn(e.fn).value, e.dtype)
            if key in PROVIDED:
                return VECMATH_PATHS[key] * reads
            return reads * (_HELPER_READS if e.fn in _HELPERS else 1)
        return 0 if isinstance(e, (Const, int)) else 1  # a Dim is read from outside

    def walk(body, var: str) -> None:
        nonlocal most
        paths: dict[str, int] = {}  # values defined in this body, before this statement
        for s in body:
            if isinstance(s, Loop):
                walk(s.body, s.var)
                paths.clear()  # (a value carried out of the loop is a phi after it)
            elif isinstance(s, Assign):
                paths[s.target] = n = expr(s.value, paths, var)
                most = max(most, n)
            elif isinstance(s, Store):
                most = max(most, expr(s.value, paths, var),
                           *(expr(i, paths, var) for i in s.index))

    walk(kernel.body, "")
    return most


def _steps_with(index, var: str) -> bool:
    """Whether an index expression surely changes with the loop variable `var` (var, or
    var plus or minus a term without it, times a nonzero constant, cast): no folding of
    LLVM's makes that address loop-invariant. Anything else with `var` in it (a clamp,
    a modulo, a gathered index) might fold to a constant."""
    if isinstance(index, Var):
        return index.name == var
    if not isinstance(index, Call):
        return False
    a = index.args
    if index.fn == Fn.CAST and index.dtype.startswith(("int", "uint")):
        return _steps_with(a[0], var)  # (indices are cast to intp: wraps past 2**31 at most)
    if index.fn in (Fn.ADD, Fn.SUB) and len(a) == 2:
        return (_steps_with(a[0], var) and var not in variables(a[1])) or (
            _steps_with(a[1], var) and var not in variables(a[0]))
    if index.fn == Fn.MUL and len(a) == 2:
        return any(_steps_with(x, var) and isinstance(y, (Const, int))
                   and getattr(y, "value", y) != 0 for x, y in (a, a[::-1]))
    return False


def needs_single_interleave(kernel: Kernel) -> bool:
    """Whether `kernel` must compile with LLVM's loop interleaving off (see the module)."""
    return use_def_paths(kernel) > PATH_BUDGET
