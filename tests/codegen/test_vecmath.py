"""Accuracy, special values and vectorization of codegen.vecmath.

Each function runs inside a loop compiled with KERNEL_FASTMATH, as generated kernels use it,
and is compared in ulps with a wider-precision NumPy reference.
"""

import math
import os
import re
import subprocess
import sys
import types
from functools import cache

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest

from codegen import vecmath
from codegen.vecmath import KERNEL_FASTMATH, ULP_BOUNDS, VECMATH

NAMES = ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "erf", "sin", "cos")
SUFFIX = {"float32": "f32", "float64": "f64"}
# Beyond these |x| the sin/cos reduction is not exact (see the vecmath docstring).
TRIG_RANGE = {"float32": 2.0**29, "float64": 2.0**27}
HAVE_LONGDOUBLE = np.finfo(np.longdouble).nmant >= 63
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@cache
def kernel(name: str, dtype: str):
    """A loop over an array calling the function, compiled the way kernels will be."""
    fn = VECMATH[(name, dtype)]

    @numba.njit(error_model="numpy", fastmath=set(KERNEL_FASTMATH))
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    return loop


def run(name: str, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    kernel(name, x.dtype.name)(x, out)
    return out


def _erf(x):
    # math.erf is double precision (glibc: within 1 ulp); NumPy has no erf.
    out = np.sign(x).astype(np.float64)
    out[np.isnan(x)] = np.nan
    small = np.abs(x) < 7.0
    out[small] = np.frompyfunc(math.erf, 1, 1)(x[small].astype(np.float64)).astype(np.float64)
    return out


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


REFERENCE = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "tanh": np.tanh,
    "sigmoid": _sigmoid, "erf": _erf, "sin": np.sin, "cos": np.cos,
}


def reference(name: str, x: np.ndarray) -> np.ndarray:
    wide = np.float64 if x.dtype == np.float32 else np.longdouble
    with np.errstate(all="ignore"):
        return np.asarray(REFERENCE[name](x.astype(wide)))


def ulp_errors(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in ulps of got's dtype at ref (denormal spacing below the normal range);
    an infinity counts as the next power of two past the largest finite value."""
    info = np.finfo(got.dtype)
    wide = ref.dtype.type
    with np.errstate(over="ignore"):  # inf when ref is float64 itself: clip does nothing
        big = np.ldexp(wide(1), info.maxexp)
    g = np.clip(got.astype(ref.dtype), -big, big)
    r = np.clip(ref, -big, big)
    _, e = np.frexp(np.abs(r))
    ulp = np.ldexp(wide(1), np.maximum(e - 1 - info.nmant, info.minexp - info.nmant))
    with np.errstate(invalid="ignore"):
        return np.where(g == r, 0, np.abs(g - r) / ulp)


def check(name: str, x: np.ndarray) -> float:
    """Assert NaN placement and the ulp bound; return the measured maximum."""
    got, ref = run(name, x), reference(name, x)
    bad_nan = np.isnan(got) != np.isnan(ref)
    assert not bad_nan.any(), f"NaN mismatch at x={x[bad_nan][:5]}: {got[bad_nan][:5]}"
    ok = ~np.isnan(ref)
    err = ulp_errors(got[ok], ref[ok])
    worst = int(np.argmax(err))
    key = f"{name}_{SUFFIX[x.dtype.name]}"
    print(f"{key}: max {err[worst]:.3f} ulp at x={x[ok][worst]!r}")
    assert err[worst] <= ULP_BOUNDS[key], (
        f"{key}({x[ok][worst]!r}) = {got[ok][worst]!r}, reference {ref[ok][worst]!r}: "
        f"{err[worst]:.2f} ulp > {ULP_BOUNDS[key]}"
    )
    return float(err[worst])


# --- inputs ---------------------------------------------------------------------------------

EDGES32 = np.array(
    [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 1.1754944e-38, -1.1754944e-38, 1.0, -1.0,
     0.5, -0.5, 2.0, np.inf, -np.inf, np.nan, 3.4028235e38, -3.4028235e38,
     88.72283, 88.72284, 89.0, -87.33654, -87.33655, -103.97208, -103.97209, -104.0,
     -0.99999994, -1.0000001, 5.9604645e-08, 3.9, 4.0, -3.9, 9.0, 10.0, 0.875, 1.0000001,
     0.99999994, 1.5707964, 3.1415927, -1.5707964, 8192.0, 1e4, 1e6],
    dtype=np.float32,
)
EDGES64 = np.array(
    [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1.0, -1.0,
     0.5, np.inf, -np.inf, np.nan, 1.7976931348623157e308, -1.7976931348623157e308,
     709.782712893384, 709.7827128933841, 710.0, -708.3964185322641, -745.1332191019411,
     -745.1332191019412, -746.0, -0.9999999999999999, -1.0000000000000002, 2.0**-54,
     5.9, 6.0, 19.0, 20.0, 1.0000000000000002, 0.9999999999999999, math.pi / 2, math.pi,
     1e5, 1e8],
    dtype=np.float64,
)


def dense_range(name: str, dtype, n: int, seed: int) -> np.ndarray:
    """Uniform samples where the function is neither saturated nor trivial."""
    lo, hi = {
        "exp": (-110, 90), "log": (0, 4), "log1p": (-1, 3), "expm1": (-20, 90),
        "tanh": (-10, 10), "sigmoid": (-110, 30), "erf": (-5, 5), "sin": (-50, 50),
        "cos": (-50, 50),
    }[name]
    if dtype == np.float64 and name in ("exp", "expm1", "sigmoid"):
        lo, hi = lo * 7, hi * 8
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, n).astype(dtype)


def inputs32(name: str) -> np.ndarray:
    # Every 1031st float32 bit pattern covers all exponents, both signs, denormals and NaNs.
    sweep = np.arange(0, 2**32, 1031, dtype=np.uint64).astype(np.uint32).view(np.float32)
    parts = [sweep, EDGES32, dense_range(name, np.float32, 1_000_000, 1)]
    if name in ("log", "log1p"):
        # Near 1 and -1 the cancellation is hardest; sweep bit patterns there densely.
        ones = np.float32([1.0, -1.0, 0.0])
        near = (ones.view(np.int32)[:, None] + np.arange(-50_000, 50_000)).ravel()
        parts.append(near.astype(np.int32).view(np.float32))
    x = np.concatenate(parts)
    if name in ("sin", "cos"):
        x = x[~(np.abs(x) >= TRIG_RANGE["float32"])]
    return x


def inputs64(name: str) -> np.ndarray:
    rng = np.random.default_rng(2)
    sweep = rng.integers(0, 2**64, 200_000, dtype=np.uint64).view(np.float64)
    x = np.concatenate([sweep, EDGES64, dense_range(name, np.float64, 200_000, 3)])
    if name in ("sin", "cos"):
        x = x[~(np.abs(x) >= TRIG_RANGE["float64"])]
    return x


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_accuracy_float32(name):
    check(name, inputs32(name))


@pytest.mark.skipif(not HAVE_LONGDOUBLE, reason="needs an 80-bit or wider long double")
@pytest.mark.parametrize("name", NAMES)
def test_accuracy_float64(name):
    check(name, inputs64(name))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trig_beyond_accurate_range_stays_bounded(dtype):
    big = np.array([2.0**30, 1e10, -3e12, 1e30, 3e38], dtype=dtype)
    for name in ("sin", "cos"):
        assert np.all(np.abs(run(name, big)) <= 1)


INF, NAN = np.inf, np.nan
SPECIAL = [
    ("exp", INF, INF), ("exp", -INF, 0.0), ("exp", 1e4, INF), ("exp", -1e4, 0.0),
    ("exp", 0.0, 1.0), ("exp", -0.0, 1.0),
    ("log", 0.0, -INF), ("log", -0.0, -INF), ("log", -1.0, NAN), ("log", INF, INF),
    ("log", -INF, NAN), ("log", 1.0, 0.0),
    ("log1p", -1.0, -INF), ("log1p", -2.0, NAN), ("log1p", INF, INF), ("log1p", -0.0, -0.0),
    ("log1p", 0.0, 0.0),
    ("expm1", -INF, -1.0), ("expm1", INF, INF), ("expm1", -0.0, -0.0), ("expm1", 1e4, INF),
    ("tanh", INF, 1.0), ("tanh", -INF, -1.0), ("tanh", -0.0, -0.0), ("tanh", 0.0, 0.0),
    ("sigmoid", INF, 1.0), ("sigmoid", -INF, 0.0), ("sigmoid", 0.0, 0.5),
    ("erf", INF, 1.0), ("erf", -INF, -1.0), ("erf", -0.0, -0.0), ("erf", 0.0, 0.0),
    ("sin", INF, NAN), ("sin", -INF, NAN), ("sin", -0.0, -0.0), ("sin", 0.0, 0.0),
    ("cos", INF, NAN), ("cos", 0.0, 1.0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "x", "expected"), SPECIAL)
def test_special_values(name, x, expected, dtype):
    got = run(name, np.array([x, NAN], dtype=dtype))
    assert np.isnan(got[1]), "NaN in must give NaN out"
    if np.isnan(expected):
        assert np.isnan(got[0])
    else:
        assert got[0] == expected and np.signbit(got[0]) == np.signbit(expected), got[0]


def test_denormal_inputs_and_outputs():
    tiny32 = np.float32(1e-45) * np.arange(1, 2000, dtype=np.float32)
    assert ulp_errors(run("log", tiny32), np.log(tiny32.astype(np.float64))).max() <= 1
    np.testing.assert_array_equal(run("expm1", tiny32), tiny32)
    np.testing.assert_array_equal(run("tanh", -tiny32), -tiny32)
    x = np.linspace(-103.9, -87.4, 10_001, dtype=np.float32)  # results are denormal
    assert ulp_errors(run("exp", x), np.exp(x.astype(np.float64))).max() <= 1


def test_lookup_covers_every_function_and_dtype():
    assert set(VECMATH) == {(n, d) for n in NAMES for d in SUFFIX}
    assert set(ULP_BOUNDS) == {f"{n}_{s}" for n in NAMES for s in SUFFIX.values()}
    for (name, dtype), fn in VECMATH.items():
        assert fn is getattr(vecmath, f"{name}_{SUFFIX[dtype]}")
        # A float64 argument to a float32 function is converted, not promoted. (Compiled,
        # not called: kernels call these, Python cannot: they have no CPython wrapper.)
        fn.compile((numba.float64,))
        assert fn.overloads[(numba.float64,)].signature.return_type == numba.from_dtype(
            np.dtype(dtype))


@pytest.mark.parametrize(("name", "dtype"), [("exp", "float32"), ("log1p", "float32"),
                                             ("sin", "float32"), ("expm1", "float64")])
def test_caller_fastmath_does_not_leak_into_inlined_code(name, dtype):
    # Cody-Waite reductions and log1p's correction term rely on evaluation order; the
    # inlined code must keep its own flags even under a caller's fastmath=True.
    fn = VECMATH[(name, dtype)]
    loops = []
    for fastmath in (True, False):
        @numba.njit(error_model="numpy", fastmath=fastmath)
        def loop(x, out):
            for i in range(x.shape[0]):
                out[i] = fn(x[i])

        loops.append(loop)
    x = np.random.default_rng(4).uniform(-0.9, 90.0, 100_000).astype(dtype)
    fast, plain = np.empty_like(x), np.empty_like(x)
    loops[0](x, fast)
    loops[1](x, plain)
    np.testing.assert_array_equal(fast, plain)


def _llvm(name: str, dtype: str) -> str:
    k = kernel(name, dtype)
    arr = np.zeros(1, dtype=dtype)
    k(arr, arr.copy())
    return k.inspect_llvm(k.signatures[0])


@pytest.mark.parametrize("name", NAMES)
def test_no_libm_calls(name):
    for dtype in SUFFIX:
        ir = _llvm(name, dtype)
        calls = re.findall(r"call [^@]*@([\w.]+)", ir)
        math_calls = [c for c in calls if re.search(r"exp|log|sin|cos|tanh|erf|pow", c)
                      # one vscalefps/pd where the target has it (test_hardware_scaling)
                      and not (vecmath._HARDWARE_SCALE and c.startswith("llvm.ldexp."))]
        assert not math_calls, f"{name}/{dtype} calls {math_calls}"


@pytest.mark.skipif("+avx2" not in llvm.get_host_cpu_features().flatten(),
                    reason="vector width check assumes AVX2")
@pytest.mark.parametrize("name", NAMES)
def test_loop_vectorizes(name):
    assert re.search(r"<(8|16) x float>", _llvm(name, "float32")), f"{name}_f32 stayed scalar"
    assert re.search(r"<(4|8) x double>", _llvm(name, "float64")), f"{name}_f64 stayed scalar"


def _exp_core(dtype: str, hardware_scale: bool):
    """vecmath's exp core compiled with 2**n applied by llvm.ldexp or by the two-step
    product, whatever this machine's target (libm's ldexp is exact too)."""
    core = getattr(vecmath, f"_exp_core_{SUFFIX[dtype]}").py_func
    scope = {**core.__globals__, "_HARDWARE_SCALE": hardware_scale}
    variant = numba.njit(error_model="numpy", fastmath={"contract"})(
        types.FunctionType(core.__code__, scope))
    lo, hi = (np.dtype(dtype).type(v) for v in (
        (-104.0, 89.0) if dtype == "float32" else (-746.0, 710.0)))

    @numba.njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = variant(min(max(x[i], lo), hi))
    return loop


@pytest.mark.parametrize("dtype", SUFFIX)
def test_exp_scaled_by_ldexp_is_the_two_step_product_bit_for_bit(dtype):
    # Both round p * 2**n once, so the AVX-512 path changes no result. Every float32 whose
    # exp is denormal or at the edges of the range, and samples of the rest.
    rng = np.random.default_rng(11)
    if dtype == "float32":
        denormal = np.arange(np.float32(-87.0).view(np.int32),
                             np.float32(-104.0).view(np.int32) + 1).view(np.float32)
        edges = np.arange(np.float32(88.0).view(np.int32),
                          np.float32(89.0).view(np.int32) + 1).view(np.float32)
        x = np.concatenate([denormal, edges, rng.uniform(-104, 89, 2_000_000), EDGES32])
    else:
        x = np.concatenate([rng.uniform(-746, -708, 1_000_000),
                            rng.uniform(-746, 710, 2_000_000), EDGES64])
    x = x.astype(dtype)
    bits = {}
    for hardware_scale in (False, True):
        out = np.empty_like(x)
        _exp_core(dtype, hardware_scale)(x, out)
        bits[hardware_scale] = out
    np.testing.assert_array_equal(bits[True], bits[False])


AVX2_ONLY = r"""
import re, numpy as np
from codegen import vecmath
from tests.codegen.test_vecmath import kernel, reference, run, ulp_errors
assert not vecmath._HARDWARE_SCALE
for dtype in ("float32", "float64"):
    k = kernel("exp", dtype)
    x = np.random.default_rng(3).uniform(-110, 90, 100_000).astype(dtype)
    err = ulp_errors(run("exp", x), reference("exp", x)).max()
    asm = k.inspect_asm(k.signatures[0])
    assert "ldexp" not in asm and re.search(r"vmulp[sd]\s+%ymm", asm), dtype
    print(dtype, err)
"""


@pytest.mark.skipif(not {"+avx2", "+avx512f"} <= set(
    llvm.get_host_cpu_features().flatten().split(",")), reason="needs an AVX-512 host")
def test_hardware_scaling_stays_off_for_an_avx2_target(tmp_path):
    # A user's AVX2 machine (AMD Zen 3) has no vscalefps: llvm.ldexp there is a libm call
    # per element. Compiled for this host's features without AVX-512, exp keeps the
    # two-step product, vectorized, within its bound.
    features = ",".join(f"-{f[1:]}" if re.match(r"\+(avx512|avx10|amx)", f) else f
                        for f in llvm.get_host_cpu_features().flatten().split(","))
    env = {**os.environ, "NUMBA_CPU_NAME": "znver3", "NUMBA_CPU_FEATURES": features,
           "GRAPHJIT_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", AVX2_ONLY], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for line in done.stdout.splitlines():
        dtype, err = line.split()
        assert float(err) <= ULP_BOUNDS[f"exp_{SUFFIX[dtype]}"]


def test_source_hash_is_stable_hex():
    h = vecmath.source_hash()
    assert h == vecmath.source_hash() and len(h) == 16 and int(h, 16) >= 0
