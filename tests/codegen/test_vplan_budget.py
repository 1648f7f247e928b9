"""codegen.vplan_budget: which kernels compile with LLVM's interleaving off (a chain of
vecmath calls on a value LLVM may find loop-invariant), and that its table of paths per
vecmath function still describes the compiled functions."""

from __future__ import annotations

import re

import numba
import pytest
from numba import types

from codegen import vecmath
from codegen.loopir import Assign, Call, Const, Dim, Fn, Kernel, Load, Loop, Param, Store, Var
from codegen.vplan_budget import (
    FACTOR_SLACK,
    PATH_BUDGET,
    VECMATH_PATHS,
    needs_single_interleave,
    use_def_paths,
)


def chain(fns, index, dtype="float32") -> Kernel:
    """out0[i] = fns[-1](...fns[0](in0[index])) in one loop over i."""
    value = Load("in0", (index,))
    for fn in fns:
        value = Call(fn, (value,), dtype)
    body = (Loop("i", 0, Dim("out0", 0), (Store("out0", (Var("i"),), value),)),)
    return Kernel("chain", (Param("in0", dtype, 1, False), Param("out0", dtype, 1, True)), body)


def i64(fn, *args):
    return Call(fn, args, "int64")


I = Var("i")
SIGMOID_SIN_ERF = (Fn.SIGMOID, Fn.SIN, Fn.ERF)


@pytest.mark.parametrize("index", [
    0,  # a broadcast read: the same element every iteration
    i64(Fn.MINIMUM, i64(Fn.MAXIMUM, I, 0), 0),  # a clamp LLVM folds to 0 (fuzz 109/1140)
    i64(Fn.FLOORMOD, I, 1),
    i64(Fn.MUL, I, 0),
])
def test_a_vecmath_chain_on_a_maybe_invariant_read_is_guarded(index):
    assert needs_single_interleave(chain(SIGMOID_SIN_ERF, index))
    assert needs_single_interleave(chain((Fn.SIGMOID, Fn.EXP, Fn.LOG1P), index, "float64"))


@pytest.mark.parametrize("index", [
    I, i64(Fn.ADD, I, 1), i64(Fn.SUB, 7, I), i64(Fn.MUL, I, 2),
    i64(Fn.ADD, i64(Fn.MUL, Dim("in0", 0), 3), i64(Fn.CAST, I)),
])
def test_a_chain_on_reads_that_step_with_the_loop_is_not(index):
    # LLVM's recursion stops at a value that differs per iteration: no paths to walk
    assert use_def_paths(chain(SIGMOID_SIN_ERF * 3, index)) == 0


def test_short_chains_stay_under_the_budget():
    assert not needs_single_interleave(chain((Fn.SIGMOID,), 0))
    assert not needs_single_interleave(chain((Fn.TANH,), 0, "float64"))
    assert not needs_single_interleave(chain((Fn.EXP, Fn.EXP), 0))  # 1e4 paths: 0.2 s
    assert needs_single_interleave(chain((Fn.SIGMOID, Fn.SIN), 0))  # 4.5e5 paths: 2.2 s


def test_functions_without_vecmath_count_their_reads():
    square_add = Const(1.0, "float32")
    value = Load("in0", (0,))
    for _ in range(12):  # t*t + t: three reads of t per step
        value = Call(Fn.ADD, (Call(Fn.MUL, (value, value), "float32"), value), "float32")
    value = Call(Fn.ADD, (value, square_add), "float32")
    kernel = Kernel("powers", chain((), 0).params,
                    (Loop("i", 0, Dim("out0", 0), (Store("out0", (I,), value),)),))
    assert use_def_paths(kernel) == 3 ** 12 + 0  # the constant is no path
    assert needs_single_interleave(kernel)


def test_a_value_from_an_outer_loop_is_one_path_inside():
    # computed once per row (outer body), read in the inner loop: a live-in there
    row = Call(Fn.ERF, (Call(Fn.SIN, (Load("in0", (Var("r"),)),), "float32"),), "float32")
    inner = Loop("i", 0, Dim("out0", 1), (
        Store("out0", (Var("r"), I), Call(Fn.EXP, (Var("t"),), "float32")),))
    outer = Loop("r", 0, Dim("out0", 0), (Assign("t", row, "float32"), inner))
    kernel = Kernel("rows", (Param("in0", "float32", 1, False),
                             Param("out0", "float32", 2, True)), (outer,))
    assert use_def_paths(kernel) == VECMATH_PATHS[("exp", "float32")]


# -- the table against the compiled functions ------------------------------------------

_ASSIGN = re.compile(r"^\s*(%[\w.]+) = ")
_OPERAND = re.compile(r"%[\w.]+")
_DEFINE = re.compile(r"[^@\n]*@\"?([^\"(\s]+)\"?\(([^\n]*)")


def _paths_in_llvm(llvm: str, name: str) -> int:
    """Use-def paths from the argument to the returned value, each operand occurrence
    counted, in the LLVM IR of the function whose symbol contains `name`."""
    for block in llvm.split("\ndefine ")[1:]:
        symbol, args = _DEFINE.match(block).groups()
        if name in symbol and "cpython" not in symbol:
            break
    else:
        raise AssertionError(f"{name} not in the IR")
    paths = {a: 1 for a in _OPERAND.findall(args) if a.startswith("%arg")}
    most = 0
    for line in block.split("\n")[1:]:
        m = _ASSIGN.match(line)
        n = sum(paths.get(o, 0) for o in _OPERAND.findall(line[m.end():] if m else line))
        if m:
            paths[m.group(1)] = n
        elif line.strip().startswith(("store", "ret")):
            most = max(most, n)
    return most


@pytest.mark.parametrize("key", sorted(VECMATH_PATHS))
def test_the_paths_table_bounds_the_compiled_functions(key):
    name, dtype = key
    fn = vecmath.VECMATH[key]
    options = {k: v for k, v in fn.targetoptions.items() if k not in ("nopython", "boundscheck")}
    fresh = numba.njit(**options)(fn.py_func)  # uncached: Numba shows a cached one's IR not
    fresh.compile((getattr(types, dtype),))
    suffix = "f32" if dtype == "float32" else "f64"
    counted = _paths_in_llvm(fresh.inspect_llvm(fresh.signatures[0]), f"{name}_{suffix}")
    assert 0 < counted <= VECMATH_PATHS[key] * FACTOR_SLACK, counted


def test_the_budget_lies_between_the_measured_chains():
    # exp(exp) float32 compiled as fast as exp alone; sigmoid(sin) took 2.2 s
    f32 = {name: n for (name, dtype), n in VECMATH_PATHS.items() if dtype == "float32"}
    assert f32["exp"] ** 2 <= PATH_BUDGET < f32["sigmoid"] * f32["sin"]
