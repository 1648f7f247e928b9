"""The loop IR's vocabulary (codegen.loopir.Fn, LoopKind): every scalar function renders
for every dtype it takes, one kernel per dtype using them all agrees with NumPy, verify
refuses what is outside the vocabulary, and a member prints and hashes as its string."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codegen import numba_backend
from codegen.loopir import (
    ARITY,
    COMPARISONS,
    FLOAT_FNS,
    LOGICAL,
    NUMBER_FNS,
    PARALLEL,
    Call,
    Dim,
    Fn,
    Kernel,
    Load,
    Loop,
    LoopKind,
    Param,
    Store,
    Var,
    VerifyError,
    format_kernel,
    kernel_hash,
    verify,
)
from codegen.render import RENDER, Emitter

DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "uint64", "bool")
I = Var("i")


def takes(fn: Fn) -> tuple[str, ...]:
    """The dtypes `fn` is defined for (its arguments' dtype, for a comparison)."""
    if fn in FLOAT_FNS:
        return tuple(d for d in DTYPES if d.startswith("float"))
    if fn in NUMBER_FNS:
        return tuple(d for d in DTYPES if d != "bool")
    if fn in LOGICAL:
        return ("bool",)
    return DTYPES


# Which inputs each function reads: x any value, y nonzero, p small and >= 0, c bool,
# f a float64 (what a cast converts).
ARGS = {Fn.POW: "xp", Fn.SQRT: "p", Fn.RSQRT: "p", Fn.LOG: "p", Fn.LOG1P: "p",
        Fn.SELECT: "cxy", Fn.CAST: "f", Fn.MULADD: "xyp", Fn.REDUCE_MULADD: "xyp"}


def arg_names(fn: Fn) -> str:
    return ARGS.get(fn, "xy"[:ARITY[fn]])


def call(fn: Fn, dtype: str, args) -> Call:
    return Call(fn, tuple(args), "bool" if fn in COMPARISONS else dtype)


def kernel_of(fns, dtype: str) -> Kernel:
    """One loop: out_k[i] = fn_k(inputs[i]) for each of `fns`."""
    inputs = {"x": dtype, "y": dtype, "p": dtype, "c": "bool", "f": "float64"}
    params = [Param(n, d, 1, False) for n, d in inputs.items()]
    body = []
    for k, fn in enumerate(fns):
        value = call(fn, dtype, (Load(n, (I,)) for n in arg_names(fn)))
        params.append(Param(f"out{k}", value.dtype, 1, True))
        body.append(Store(f"out{k}", (I,), value))
    return Kernel(f"all_{dtype}", tuple(params), (Loop("i", 0, Dim("x", 0), tuple(body)),))


def test_the_emitter_has_an_entry_for_every_function():
    assert set(RENDER) == set(Fn)
    assert set(ARITY) == set(Fn)


@pytest.mark.parametrize("fn", list(Fn), ids=str)
def test_every_function_renders_for_every_dtype_it_takes(fn):
    for dtype in takes(fn):
        kernel = kernel_of([fn], dtype)
        verify(kernel)  # the vocabulary's dtype rules accept what the table renders
        source = numba_backend.kernel_source(kernel)
        assert "out0[i] = " in source
        # index arithmetic (no array data): integer calls keep Numba's own operators
        em = Emitter()
        assert em.expr(call(fn, dtype, (Var(n) for n in arg_names(fn))))
        assert not {"wrap_add", "wrap_sub", "wrap_mul"} & em.exact


def test_index_arithmetic_and_data_arithmetic_differ_only_in_wrapping():
    em = Emitter()
    assert em.expr(Call(Fn.ADD, (I, 1), "int64")) == "(i + 1)"
    assert em.expr(Call(Fn.ADD, (Load("x", (I,)), 1), "int64")) == "wrap_add(x[i], 1)"
    assert em.expr(Call("neg", (Load("x", (I,)),), "int8")) == "wrap_sub(np.int8(0), x[i])"
    assert em.exact == {"wrap_add", "wrap_sub"}


def _erf(a):
    return np.vectorize(math.erf, otypes=[a.dtype])(a)


def _truncdiv(a, b):
    return np.trunc(a.astype(np.float64) / b).astype(a.dtype)


REFERENCE = {
    Fn.ADD: np.add, Fn.SUB: np.subtract, Fn.MUL: np.multiply,
    Fn.REALDIV: lambda a, b: a / b if a.dtype.kind == "f" else _truncdiv(a, b),
    Fn.FLOORDIV: np.floor_divide, Fn.FLOORMOD: np.mod, Fn.POW: np.power,
    Fn.MAXIMUM: np.maximum, Fn.MINIMUM: np.minimum, Fn.NEG: np.negative, Fn.ABS: np.abs,
    Fn.SIGN: np.sign, Fn.SQUARE: np.square, Fn.RECIPROCAL: lambda a: 1 / a,
    Fn.RELU: lambda a: np.maximum(a, np.zeros((), a.dtype)), Fn.IDENTITY: lambda a: a,
    Fn.FLOOR: np.floor, Fn.CEIL: np.ceil, Fn.ROUND: np.rint, Fn.SQRT: np.sqrt,
    Fn.RSQRT: lambda a: 1 / np.sqrt(a), Fn.EXP: np.exp, Fn.EXPM1: np.expm1, Fn.LOG: np.log,
    Fn.LOG1P: np.log1p, Fn.SIN: np.sin, Fn.COS: np.cos, Fn.TANH: np.tanh,
    Fn.ASIN: np.arcsin, Fn.ACOS: np.arccos, Fn.ATAN: np.arctan,
    Fn.SIGMOID: lambda a: 1 / (1 + np.exp(-a)), Fn.ERF: _erf,
    Fn.EQUAL: np.equal, Fn.NOTEQUAL: np.not_equal, Fn.LESS: np.less,
    Fn.LESSEQUAL: np.less_equal, Fn.GREATER: np.greater, Fn.GREATEREQUAL: np.greater_equal,
    Fn.LOGICALAND: np.logical_and, Fn.LOGICALOR: np.logical_or,
    Fn.LOGICALNOT: np.logical_not, Fn.SELECT: np.where, Fn.CAST: None,  # (per dtype)
    Fn.MULADD: lambda a, b, c: a * b + c,
    Fn.REDUCE_ADD: np.add, Fn.REDUCE_MUL: np.multiply, Fn.REDUCE_MAX: np.maximum,
    Fn.REDUCE_MIN: np.minimum,
    # (one rounding where the add and product fuse: the reference rounds once too)
    Fn.REDUCE_MULADD: lambda a, b, c: (a.astype(np.longdouble)
                                       + b.astype(np.longdouble) * c).astype(a.dtype),
}


def inputs(dtype: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 64
    if dtype == "bool":
        x, y, p = (rng.random(n) < 0.5 for _ in range(3))
    elif dtype.startswith("float"):
        x = np.concatenate([rng.normal(0, 3, n - 8), [0, -0.0, 0.5, -0.5, 1.5, 2.5, 7, -7]])
        y = rng.uniform(0.25, 4, n) * rng.choice([-1, 1], n)
        p = rng.integers(0, 4, n) + np.where(rng.random(n) < 0.5, 0.5, 0)
    else:
        low = 0 if dtype.startswith("u") else -9
        x = rng.integers(low, 10, n)
        y = rng.integers(1, 5, n) * (1 if low == 0 else rng.choice([-1, 1], n))
        p = rng.integers(0, 4, n)
    f = rng.uniform(0, 200, n) if dtype.startswith("uint") else rng.uniform(-100, 100, n)
    return {"x": x.astype(dtype), "y": y.astype(dtype), "p": p.astype(dtype),
            "c": rng.random(n) < 0.5, "f": f}


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int64", "uint8", "uint16",
                                   "uint32", "uint64", "bool"])
def test_one_kernel_of_every_function_agrees_with_numpy(dtype):
    fns = [fn for fn in Fn if dtype in takes(fn)]
    compiled = numba_backend.compile_kernel(kernel_of(fns, dtype))
    values = inputs(dtype)
    outs = [np.empty(64, p.dtype) for p in compiled.kernel.params if p.is_output]
    compiled.call(*values.values(), *outs)
    for fn, out in zip(fns, outs):
        args = [values[n] for n in arg_names(fn)]
        with np.errstate(all="ignore"):
            want = (args[0].astype(dtype) if fn is Fn.CAST and dtype != "bool"
                    else args[0] != 0 if fn is Fn.CAST else REFERENCE[fn](*args))
        want = np.asarray(want).astype(out.dtype)
        rtol = {"float32": 2e-6, "float64": 1e-14}.get(dtype, 0)
        np.testing.assert_allclose(out, want, rtol=rtol, atol=rtol, equal_nan=True,
                                   err_msg=f"{fn} on {dtype}")


def one_call(value: Call) -> Kernel:
    params = (Param("x", "float32", 1, False), Param("out0", value.dtype, 1, True))
    return Kernel("k", params, (Loop("i", 0, Dim("x", 0), (Store("out0", (I,), value),)),))


X = Load("x", (I,))


@pytest.mark.parametrize("value, message", [
    (Call("gelu", (X,), "float32"), "no scalar function"),
    (Call("exp", (X, X), "float32"), "takes 1 arguments"),
    (Call("select", (X, X), "float32"), "takes 3 arguments"),
    (Call("tanh", (Call("cast", (X,), "int32"),), "int32"), "function of floats"),
    (Call("reduce_add", (Call("cast", (X,), "int32"),) * 2, "int32"), "function of floats"),
    (Call("add", (Call("cast", (X,), "bool"),) * 2, "bool"), "function of numbers"),
    (Call("less", (Call("cast", (X,), "bool"),) * 2, "bool"), "orders numbers"),
])
def test_verify_refuses_what_is_outside_the_vocabulary(value, message):
    with pytest.raises(VerifyError, match=message):
        verify(one_call(value))


def test_verify_refuses_an_unknown_loop_kind():
    kernel = one_call(Call(Fn.IDENTITY, (X,), "float32"))
    kernel = Kernel("k", kernel.params, (Loop("i", 0, Dim("x", 0), kernel.body[0].body,
                                              "vectorized"),))
    with pytest.raises(VerifyError, match="unknown kind"):
        verify(kernel)


def test_members_print_and_hash_as_their_strings():
    """Kernel hashes key the on-disk cache: the enum must not change them."""
    def kernel(fn, kind):
        value = Call(fn, (Call("mul", (X, X), "float32"),), "float32")
        k = one_call(value)
        return Kernel("k", k.params, (Loop("i", 0, Dim("x", 0), k.body[0].body, kind),))
    typed, plain = kernel(Fn.TANH, LoopKind.PARALLEL), kernel("tanh", "parallel")
    assert typed == plain and hash(typed) == hash(plain)
    assert format_kernel(typed) == format_kernel(plain)
    assert "out0[i] = tanh(mul(x[i], x[i]))" in format_kernel(typed)
    assert kernel_hash(typed) == kernel_hash(plain) == "9c52f6553f7a4d96b5ffc86f"
    assert PARALLEL is LoopKind.PARALLEL and f"{PARALLEL}" == "parallel"
