"""Compiled results follow NumPy on special values (README, "Numerics").

Every registered elementwise op, and softmax, log_softmax and layer norm, runs
compiled on NaN, +-inf, +-0.0, denormals, the largest and smallest magnitudes and
integer MIN/MAX (every pair of them for binary ops) and is compared with NumPy and
the reference interpreter: bitwise for exact ops (NaN equals NaN, the sign of zero
counts), within codegen.vecmath's ulp bounds for transcendental ones. Short arrays
run the serial kernel and its scalar remainder, long ones (> 2**15 elements) the
chunked parallel and vectorized loop. A sink summing every result ties a dtype's
ops into one fused kernel, so the file compiles a handful of kernels, not hundreds.
"""

from __future__ import annotations

import math
import platform
import re

import llvmlite.binding as llvm
import numpy as np
import pytest

import graphjit as tf
from codegen.vecmath import ULP_BOUNDS
from graphjit import interpreter
from graphjit.ops._util import make
from graphjit.registry import Fusion, Scalar, all_op_defs
from tests.codegen.test_vecmath import TRIG_RANGE, ulp_errors

LONG = 40_009  # > 2**15 elements, odd: the vector loop and its remainder both run
X86 = platform.machine().lower() in ("x86_64", "amd64")
F32, F64 = np.float32, np.float64

FLOATS = {
    "float32": [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1e-40, -1e-40,
                1.1754944e-38, 3.4028235e38, -3.4028235e38, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5,
                -2.5, 0.1, 3.0, 300.0, -300.0, 88.72284, -103.97209, 1e4, 1e10, -1e10, 3e9,
                1e20, 70000.0, 127.9, -128.9, 1e-30, 9.3e18],
    "float64": [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310,
                2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
                1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.1, 3.0, 300.0, -300.0,
                709.7827128933841, -745.1332191019412, 1e4, 1e10, -1e10, 3e9, 1e20, 1e300,
                127.9, -128.9, 1e-300, 9.3e18],
}
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DTYPES = tuple(FLOATS) + INTS + ("bool",)


def values(dtype: str) -> np.ndarray:
    if dtype in FLOATS:
        return np.array(FLOATS[dtype], dtype)
    if dtype == "bool":
        return np.array([False, True])
    info = np.iinfo(dtype)
    small = [v for v in (-7, -2, -1, 0, 1, 2, 3, 7) if info.min <= v <= info.max]
    return np.array([info.min, info.min + 1, *small, info.max - 1, info.max], dtype)


# -- the table: every elementwise op, how its result is checked ---------------------
# kinds: f floats, i integers, b bool. ("exact", f): bitwise equal to f(a[, b]) in the
# op's dtype. ("ulp", f, name): within ULP_BOUNDS[name_f32/f64] of f in wider precision.

def _erf(x):
    return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _int_power(a, b):
    return np.power(a, np.maximum(b, 0))  # NumPy refuses negative integer exponents


TABLE = {
    "Identity": ("fib", 1, "exact", lambda a: a),
    "StopGradient": ("fib", 1, "exact", lambda a: a),
    "PlaceholderWithDefault": ("fib", 1, "exact", lambda a: a),
    "EnsureShape": ("fib", 1, "exact", lambda a: a),
    "Neg": ("fi", 1, "exact", np.negative),
    "Abs": ("fi", 1, "exact", np.abs),
    "Sign": ("fi", 1, "exact", np.sign),
    "Exp": ("f", 1, "ulp", np.exp, "exp"),
    "Log": ("f", 1, "ulp", np.log, "log"),
    "Log1p": ("f", 1, "ulp", np.log1p, "log1p"),
    "Expm1": ("f", 1, "ulp", np.expm1, "expm1"),
    "Sqrt": ("f", 1, "exact", np.sqrt),
    "Rsqrt": ("f", 1, "exact", lambda a: np.divide(1, np.sqrt(a), dtype=a.dtype)),
    "Square": ("fi", 1, "exact", np.square),
    "Reciprocal": ("f", 1, "exact", lambda a: np.divide(1, a, dtype=a.dtype)),
    "Sin": ("f", 1, "ulp", np.sin, "sin"),
    "Cos": ("f", 1, "ulp", np.cos, "cos"),
    "Asin": ("f", 1, "ulp", np.arcsin, "asin"),
    "Acos": ("f", 1, "ulp", np.arccos, "acos"),
    "Atan": ("f", 1, "ulp", np.arctan, "atan"),
    "Tanh": ("f", 1, "ulp", np.tanh, "tanh"),
    "Sigmoid": ("f", 1, "ulp", _sigmoid, "sigmoid"),
    "Erf": ("f", 1, "ulp", _erf, "erf"),
    "Floor": ("f", 1, "exact", np.floor),
    "Ceil": ("f", 1, "exact", np.ceil),
    "Round": ("f", 1, "exact", np.rint),
    "Relu": ("fi", 1, "exact", lambda a: np.maximum(a, np.zeros((), a.dtype))),
    "LogicalNot": ("b", 1, "exact", np.logical_not),
    "Add": ("fi", 2, "exact", np.add),
    "Sub": ("fi", 2, "exact", np.subtract),
    "Mul": ("fi", 2, "exact", np.multiply),
    "RealDiv": ("f", 2, "exact", np.true_divide),
    # floats: TF's floor(x / y), a documented difference from np.floor_divide
    "FloorDiv": ("fi", 2, "exact", lambda a, b: np.floor(a / b) if a.dtype.kind == "f"
                 else np.floor_divide(a, b)),
    "FloorMod": ("fi", 2, "exact", np.mod),
    "Pow": ("fi", 2, "ulp", np.power, "pow"),
    "Maximum": ("fi", 2, "exact", np.maximum),
    "Minimum": ("fi", 2, "exact", np.minimum),
    "Equal": ("fib", 2, "exact", np.equal),
    "NotEqual": ("fib", 2, "exact", np.not_equal),
    "Less": ("fi", 2, "exact", np.less),
    "LessEqual": ("fi", 2, "exact", np.less_equal),
    "Greater": ("fi", 2, "exact", np.greater),
    "GreaterEqual": ("fi", 2, "exact", np.greater_equal),
    "LogicalAnd": ("b", 2, "exact", np.logical_and),
    "LogicalOr": ("b", 2, "exact", np.logical_or),
    "Select": ("fib", 2, "exact", lambda a, b: np.where(a != b, a, b)),
    "Cast": ("fib", 1, "exact", None),  # every target dtype: see _cast_expected
}
BOUNDS = {**ULP_BOUNDS, "pow_f32": 1.0, "pow_f64": 1.0}  # glibc pow/powf: < 1 ulp
# libm's asin, acos and atan (what Numba calls): within 1 ulp
BOUNDS.update({f"{f}_{w}": 1.0 for f in ("asin", "acos", "atan") for w in ("f32", "f64")})

# Fused chains: an op sees its input as NumPy computed it, i.e. rounded (no FMA: a*b + a
# rounds twice) or wrapped (int8 100 + 100 is -56 before anything reads it; MAX + 1 < MAX).
DENORMAL = {"float32": 1e-40, "float64": 1e-310}
CHAINS = {
    "a*b+a": ("fi", lambda a, b: make("Add", [make("Mul", [a, b]), a]),
              lambda x, y: x * y + x),
    "a*b+a*-b": ("fi", lambda a, b: make("Add", [make("Mul", [a, b]),
                                                 make("Mul", [a, make("Neg", [b])])]),
                 lambda x, y: x * y + x * -y),
    "a/denormal": ("f", lambda a, b: make("RealDiv", [a, tf.constant(DENORMAL[a.dtype.name],
                                                                     a.dtype)]),
                   lambda x, y: x / x.dtype.type(DENORMAL[x.dtype.name])),
    "(a+b)<a": ("fi", lambda a, b: make("Less", [make("Add", [a, b]), a]),
                lambda x, y: (x + y) < x),
    "f64(a*b)": ("fi", lambda a, b: tf.cast(make("Mul", [a, b]), tf.float64),
                 lambda x, y: (x * y).astype(F64)),
    "abs(a)<0": ("fi", lambda a, b: make("Less", [make("Abs", [a]), tf.constant(0, a.dtype)]),
                 lambda x, y: np.abs(x) < 0),
    "-(a)//b": ("i", lambda a, b: make("FloorDiv", [make("Neg", [a]), b]),
                lambda x, y: np.floor_divide(-x, y)),
}


def _kind(dtype: str) -> str:
    return "b" if dtype == "bool" else np.dtype(dtype).kind.replace("u", "i")


def _cast_expected(a: np.ndarray, target: str) -> np.ndarray:
    """NumPy's astype; on x86-64 that is also, at every length, the defined behaviour of
    out-of-range float -> int (graphjit.ops.elementwise._cast_reference), which is
    checked on its own elsewhere (ARM NumPy saturates). Not for uint32 and uint64, where
    NumPy's out-of-range results change with the array's length even on x86-64 (-1e19
    -> uint32 is 0 in a short array, 2**31 in a long one): the reference defines them."""
    wide_unsigned = target in ("uint32", "uint64")
    if (not X86 or wide_unsigned) and a.dtype.kind == "f" and np.dtype(target).kind in "iu":
        return all_op_defs()["Cast"].reference(a, dtype=tf.as_dtype(target))
    with np.errstate(invalid="ignore"):
        return a.astype(target)


def test_every_elementwise_op_has_a_row():
    ops = {name for name, d in all_op_defs().items()
           if d.fusion is Fusion.ELEMENTWISE or isinstance(d.lowering, Scalar)}
    assert ops == set(TABLE), f"missing rows: {ops - set(TABLE)}, stale: {set(TABLE) - ops}"


# -- one graph per dtype, compiled once per size ---------------------------------------

def _build(dtype: str):
    """Placeholders a, b and {label: (tensor, check)} for every op taking this dtype."""
    graph = tf.Graph()
    checks = {}
    with graph.as_default():
        a = tf.placeholder(tf.as_dtype(dtype), [None], name="a")
        b = tf.placeholder(tf.as_dtype(dtype), [None], name="b")
        for op_type, (kinds, arity, check, fn, *name) in TABLE.items():
            if _kind(dtype) not in kinds:
                continue
            if op_type == "Cast":
                for target in DTYPES:
                    if target != dtype:
                        t = make("Cast", [a], {"dtype": tf.as_dtype(target)})
                        checks[f"Cast->{target}"] = (t, "exact",
                                                     lambda x, y, d=target: _cast_expected(x, d))
                continue
            if op_type == "Select":
                t = make("Select", [make("NotEqual", [a, b]), a, b])
            elif op_type in ("PlaceholderWithDefault", "EnsureShape"):
                t = make(op_type, [a], {"shape": tf.TensorShape([None])})
            elif op_type == "Pow" and dtype in INTS:
                t, check, fn = make("Pow", [a, make("Maximum", [b, tf.constant(0, dtype)])]), \
                    "exact", _int_power
            else:
                t = make(op_type, [a, b][:arity])
            checks[op_type] = (t, check, (lambda x, y, f=fn, n=arity: f(*(x, y)[:n])), *name)
        for label, (kinds, build, expect) in CHAINS.items():
            if _kind(dtype) in kinds:
                checks[label] = (build(a, b), "exact", expect)
        sink = None
        for t, *_ in checks.values():
            term = tf.cast(t, tf.float64)
            sink = term if sink is None else sink + term
    return graph, a, b, checks, sink


@pytest.fixture(scope="module", params=DTYPES)
def compiled(request):
    dtype = request.param
    graph, a, b, checks, sink = _build(dtype)
    fetches = [t for t, *_ in checks.values()]
    fn = tf.compile(fetches + [sink], feeds=[a, b])
    return dtype, a, b, checks, fetches, fn


def _pairs(dtype: str, n: int | None):
    v = values(dtype)
    x, y = np.repeat(v, len(v)), np.tile(v, len(v))
    if n is not None:
        x, y = np.resize(x, n), np.resize(np.roll(y, 1), n)
    return x, y


def _same(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Bitwise agreement up to NaN payloads: NaN matches NaN, -0.0 does not match 0.0."""
    if got.dtype.kind != "f":
        return got == want
    return ((got == want) & (np.signbit(got) == np.signbit(want))) | (
        np.isnan(got) & np.isnan(want))


def _within_ulps(got, x, y, fn, name) -> np.ndarray:
    wide = F64 if got.dtype == F32 else np.longdouble
    with np.errstate(all="ignore"):
        truth = np.asarray(fn(*(v.astype(wide) for v in (x, y)))
                           if name == "pow" else fn(x.astype(wide)))
    ok = np.isnan(got) == np.isnan(truth)
    finite = ~np.isnan(truth)
    if name in ("sin", "cos"):  # beyond this range vecmath's results are only bounded
        wild = np.abs(x) >= TRIG_RANGE[got.dtype.name]
        ok &= ~wild | np.isnan(truth) | (np.abs(got) <= 1)
        finite &= ~wild
    bound = BOUNDS[f"{name}_{'f32' if got.dtype == F32 else 'f64'}"]
    errors = np.zeros(got.shape)
    errors[finite] = ulp_errors(got[finite], truth[finite])
    zero = (got == 0) & (truth == 0)
    return ok & (errors <= bound) & (~zero | (np.signbit(got) == np.signbit(truth)))


@pytest.mark.parametrize("n", [None, 7, LONG], ids=["pairs", "short", "long"])
def test_elementwise_ops_follow_numpy(compiled, n):
    dtype, a, b, checks, fetches, fn = compiled
    x, y = _pairs(dtype, n)
    got = fn(x, y)[:-1]
    reference = interpreter.evaluate(fetches, {a: x, b: y})
    failures = []
    with np.errstate(all="ignore"):
        for (label, (_, check, expect, *name)), g, r in zip(checks.items(), got, reference):
            if check == "exact":
                want = expect(x, y)
                ok = _same(g, want) & _same(g, r)
            else:
                ok = _within_ulps(g, x, y, TABLE[label][3], name[0]) & (
                    np.isnan(g) == np.isnan(r))
                want = r
            assert g.dtype == want.dtype, label
            if not ok.all():
                i = np.flatnonzero(~ok)[:4]
                failures.append(f"{label}: x={x[i]} y={y[i]} compiled={g[i]} "
                                f"numpy={want[i]} reference={r[i]}")
    assert not failures, f"{dtype}, n={n}:\n" + "\n".join(failures)


def test_cast_out_of_range_is_defined_whatever_the_length():
    """Issue #10: float32 300 -> int8 gave 127 on long arrays and 44 on short ones."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        outs = [tf.cast(x, d) for d in (tf.int8, tf.uint8, tf.int32, tf.int64)]
    fn = tf.compile(outs, feeds=[x])
    special = np.array([300, -300, 1e10, np.nan, np.inf, -np.inf, -1.5, 3e9], np.float32)
    expected = ([44, -44, 0, 0, 0, 0, -1, 0], [44, 212, 0, 0, 0, 0, 255, 0],
                [300, -300] + [-2**31] * 4 + [-1, -2**31],
                [300, -300, 10**10] + [-2**63] * 3 + [-1, 3 * 10**9])
    for n in (len(special), LONG):
        feed = np.resize(special, n)
        for got, want in zip(fn(feed), expected):
            np.testing.assert_array_equal(got, np.resize(np.array(want, got.dtype), n))


# -- softmax, log_softmax, layer norm -----------------------------------------------------

def _rows(dtype, width: int, rng) -> np.ndarray:
    """One row per hazard: NaN, +-inf, all -inf, +-max (the issue's [big, big, -big, 0]),
    logits near 1e4, denormals, +-0.0, mixed magnitudes, constant rows."""
    big, tiny = np.finfo(dtype).max, np.finfo(dtype).smallest_subnormal

    def noise(scale=1.0, shift=0.0, **at):
        r = rng.standard_normal(width) * scale + shift
        for i, v in at.items():
            r[int(i[1:])] = v
        return r
    mixed = np.resize([1e30, -1e30, 1e-30, -1e-30, 0.0], width)
    return np.array([
        noise(3.0), noise(i1=np.nan), noise(i2=np.inf), noise(i0=-np.inf),
        np.full(width, -np.inf), noise(i0=np.inf, i3=-np.inf),
        np.concatenate([[big, big, -big, 0.0], np.full(width - 4, -big)]),
        noise(shift=1e4), tiny * np.arange(width), np.zeros(width), -np.zeros(width),
        np.full(width, big), mixed, np.full(width, 0.7), noise(1e-3, 100.0),
    ], dtype)


def _numpy_forms(x):
    """NumPy's two-step forms, in x's precision: what the compiled kernels must match."""
    shifted = x - x.max(-1, keepdims=True)
    e = np.exp(shifted)
    mean = x.mean(-1, keepdims=True)
    d = x - mean
    variance = (d * d).mean(-1, keepdims=True)
    return {"softmax": e / e.sum(-1, keepdims=True),
            "log_softmax": shifted - np.log(e.sum(-1, keepdims=True)),
            "layer_norm": d * (1 / np.sqrt(variance + x.dtype.type(1e-5)))}


@pytest.fixture(scope="module", params=["float32", "float64"])
def normalizers(request):
    dtype = request.param
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.as_dtype(dtype), [None, None], name="x")
        outs = {"softmax": tf.nn.softmax(x), "log_softmax": tf.nn.log_softmax(x),
                "layer_norm": tf.nn.layer_normalization(x)}
    # one function each: fused with softmax, log_softmax's x - max is shared with exp,
    # which hid the reassociation of its last subtraction
    fns = {name: tf.compile([t], feeds=[x]) for name, t in outs.items()}
    return dtype, x, outs, lambda value: [fns[name](value)[0] for name in outs], fns


@pytest.mark.parametrize("width, copies", [(8, 1), (1024, 3)], ids=["short", "long"])
def test_softmax_log_softmax_layer_norm_follow_numpy(normalizers, width, copies):
    """NaN, inf and signed zeros exactly where NumPy's two-step forms put them. Finite
    rows: the row sums add in another order than NumPy's pairwise sums, so neither is
    bitwise NumPy's; each row stays within twice NumPy's own error of the exact result
    plus (4 + width/8) ulps of the row's scale, the most a sum of width/8 terms per
    vector lane can lose: the largest result for softmax and log_softmax, the largest
    |x| / sqrt(var + eps) for layer norm (the mean's rounding, amplified)."""
    dtype, x_in, outs, fn, _ = normalizers
    rng = np.random.default_rng(0)
    x = np.concatenate([_rows(np.dtype(dtype).type, width, rng) for _ in range(copies)])
    got = dict(zip(outs, fn(x)))
    reference = dict(zip(outs, interpreter.evaluate(list(outs.values()), {x_in: x})))
    with np.errstate(all="ignore"):  # the NaN and inf rows
        expected = _numpy_forms(x)
        exact = {k: v.astype(x.dtype) for k, v in _numpy_forms(x.astype(np.longdouble)).items()}
        for name, g in got.items():
            _check_row_bounds(name, x, g, expected[name], reference[name], exact[name], width)
    # the rows: [big, big, -big, 0] gave 0 instead of -log 2; logits near 1e4
    # were 5e-4 off (x - (max + log_sum) in float32), NumPy's two-step form 3e-7
    log_softmax, numpy_form = got["log_softmax"], expected["log_softmax"]
    np.testing.assert_allclose(log_softmax[6, :2], [-math.log(2)] * 2, rtol=np.finfo(dtype).eps)
    assert np.abs(log_softmax[7] - numpy_form[7]).max() <= 4 * np.spacing(
        np.abs(numpy_form[7]).max())


def test_rows_of_length_one_follow_numpy(normalizers):
    """A row of one element: softmax 1 and log_softmax 0 for any finite value (x - x is
    +0.0), NaN for NaN and +-inf (inf - inf); bitwise NumPy's two-step forms."""
    dtype, x_in, outs, fn, _ = normalizers
    info = np.finfo(dtype)
    x = np.array([[0.0], [-0.0], [1.0], [-3.5], [info.max], [-info.max],
                  [info.smallest_subnormal], [np.inf], [-np.inf], [np.nan]], dtype)
    got = dict(zip(outs, fn(x)))
    reference = dict(zip(outs, interpreter.evaluate(list(outs.values()), {x_in: x})))
    with np.errstate(all="ignore"):
        expected = _numpy_forms(x)
    for name, g in got.items():
        assert _same(g, expected[name]).all(), (name, x[~_same(g, expected[name])])
        assert _same(g, reference[name]).all(), (name, x[~_same(g, reference[name])])


def _check_row_bounds(name, x, got, numpy_form, reference, truth, width):
    for other, label in ((numpy_form, "numpy"), (reference, "reference")):
        special = np.isnan(other) | np.isinf(other) | np.isnan(got) | np.isinf(got)
        assert _same(got[special], other[special]).all(), (name, label, x[special.any(-1)])
        zeros = (got == 0) & (other == 0)
        assert (np.signbit(got[zeros]) == np.signbit(other[zeros])).all(), (name, label)
    finite = np.isfinite(truth) & np.isfinite(numpy_form)
    err = np.where(finite, np.abs(got.astype(np.longdouble) - truth), 0).max(-1)
    numpy_err = np.where(finite, np.abs(numpy_form.astype(np.longdouble) - truth), 0).max(-1)
    if name == "layer_norm":
        xl = np.where(np.isfinite(x), x, 0).astype(np.longdouble)
        spread = np.sqrt(((xl - xl.mean(-1, keepdims=True)) ** 2).mean(-1) + 1e-5)
        scale = np.abs(xl).max(-1) / spread
    else:
        scale = np.where(finite, np.abs(truth), 0).max(-1)
    bad = err > 2 * numpy_err + (4 + width / 8) * np.finfo(x.dtype).eps * scale
    assert not bad.any(), (name, x[bad][:2], got[bad][:2], numpy_form[bad][:2])


@pytest.mark.skipif("+avx2" not in llvm.get_host_cpu_features().flatten(),
                    reason="vector width check assumes AVX2")
def test_reductions_vectorize_without_kernel_fastmath(normalizers):
    """Fast-math flags sit on a reduction's accumulation only ('reassoc' on the sum's
    add, 'nsz' on the row max), which is enough for LLVM to vectorize both."""
    dtype, x_in, outs, _, fns = normalizers
    fn = fns["softmax"]
    fn(np.ones((4, 1024), dtype))
    source = fn.ir("python")
    assert "fastmath=False" in source and "fastmath={" not in source
    assert "reduce_add(" in source and "reduce_max(" in source
    ir = fn.ir("llvm")
    lanes = "float" if dtype == "float32" else "double"
    assert re.search(rf"fadd reassoc <\d+ x {lanes}>", ir), "row sums stayed scalar"
    assert re.search(rf"llvm\.vector\.reduce\.fmaximum\.v\d+f{dtype[-2:]}", ir), "row max"
    flagged = [line for line in ir.splitlines()
               if re.search(r"\b(?:nnan|ninf|nsz|arcp|afn|fast)\b", line)]
    assert all("nsz" in line and "maximum" in line and not re.search(
        r"\b(?:nnan|ninf|arcp|afn|fast)\b", line) for line in flagged), flagged[:3]
