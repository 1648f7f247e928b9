"""Vectorizable float32/float64 transcendental functions for generated Numba kernels.

The LLVM inside llvmlite has no vector math library, so a loop that calls ``np.exp`` or
``np.tanh`` per element stays scalar. The functions here are branch-free polynomial and
rational approximations (Cody-Waite range reduction, exponents read and built with bit
operations, selects instead of branches, no libm calls) that LLVM inlines into the calling
loop and auto-vectorizes (8 float32 lanes with AVX2).

Error in ulps of the output dtype. "measured" is the maximum over every float32 (sin/cos:
|x| < 2**29) against NumPy in float64, and over 25M sampled float64 values against NumPy in
long double (erf: ``math.erf``, itself within 1 ulp); ``ULP_BOUNDS`` is what
tests/codegen/test_vecmath.py asserts on its own, smaller sweep. Measured with FMA
contraction (x86-64 with FMA); compiled without it the test sweep stays within the bounds
(erf_f32 rises to 2.1, the rest by at most 0.1).

=========  ===========  ===========  ============  =============================================
function   f32 measured f64 measured bound f32/64  notes
=========  ===========  ===========  ============  =============================================
exp        1.01         1.00         1.5 / 1.5     overflow -> inf; denormal results rounded once
log        0.83         0.81         1 / 1         denormal inputs; log(0)=-inf, log(x<0)=nan
log1p      1.44         1.44         2 / 2         log1p(-1)=-inf, log1p(x<-1)=nan
expm1      1.44         1.80         2 / 2         expm1(-inf)=-1
tanh       1.50         2.20         2 / 2.5       tanh(+-inf)=+-1
sigmoid    1.97         1.85         2.5 / 2.5     1/(1+exp(-x)); exp(x)/(1+exp(x)) for x<0
erf        1.32         2.00         2.5 / 3       erf(+-inf)=+-1
sin, cos   1.54         1.51         2 / 2         for |x| < 2**29 (f32) / 2**27 (f64)
=========  ===========  ===========  ============  =============================================

Every function maps NaN to NaN and keeps the sign of zero where the function is odd.
sin/cos reduce by pi/2 in three Cody-Waite parts (float32 inputs in float64 arithmetic).
Past the ranges above the products j * (pi/2) stop being exact; samples still measured
within 1.6 ulp up to |x| = 2**41 (f32) and 2**36 (f64), but by 2**50 (f32) and 2**40 (f64)
the reduction has lost the result's digits. Results stay in [-1, 1]; sin/cos(+-inf) = nan.

Use from a kernel: ``from codegen.vecmath import tanh_f32`` and call it on scalars inside a
loop compiled with ``error_model="numpy"`` and ``fastmath=set(KERNEL_FASTMATH)``.
"""

from functools import cache

import numpy as np

from codegen import vecmath_names
from codegen._bitcast import as_float32, as_float64, as_int32, as_int64, ldexp, select
from codegen.numba_cache import njit
from codegen.tile_shape import vector_bits

#: fastmath flags of generated kernels: none. Each flag changes results NumPy defines:
#: 'nnan'/'ninf' fold away NaN/inf handling, 'nsz' gives relu(-0.0) = -0.0, 'arcp' turns
#: x / d into x * (1/d) (inf for a denormal d), 'afn' approximates 1/sqrt (rsqrt(0) = nan),
#: 'reassoc' rewrites (x - m) - s into x - (m + s) (log_softmax loses digits), 'contract'
#: fuses a*b + c into one rounding where NumPy rounds twice. Reductions vectorize by the
#: 'reassoc' on their accumulating instruction alone (codegen.exact.reduce_add); the
#: functions here keep their own 'contract'. Numba wants a ``set``: ``set(KERNEL_FASTMATH)``.
KERNEL_FASTMATH = vecmath_names.KERNEL_FASTMATH

# These functions are compiled on their own with only 'contract'. Numba stamps a function's
# fastmath flags on its own instructions before linking, and LLVM keeps per-instruction flags
# when it inlines a callee, so a caller's 'reassoc' cannot undo the exact Cody-Waite
# subtractions below. Numba-level inline="always" would re-lower this code with the
# caller's flags, so it is not used; forceinline=True instead marks the LLVM function
# alwaysinline, which LLVM's own inliner would not always do for the larger ones (erf_f64).
# error_model="numpy" removes the zero-division check that would keep the caller scalar.
# Cached under GRAPHJIT_CACHE_DIR (codegen.numba_cache), never in the package folder.
# Only kernels call these, never Python or a C callback: Numba builds neither wrapper
# (a fifth of each one's compile time in a cold process).
_jit = njit(error_model="numpy", fastmath={"contract"}, forceinline=True, nogil=True,
            no_cpython_wrapper=True, no_cfunc_wrapper=True)
# Helpers whose callers get the same machine code when Numba inlines them into the
# caller's IR (same flags: a vecmath caller's) as when LLVM does: each is then no compile
# of its own (about 30 ms each in a cold process). Checked by comparing the assembly of
# a loop over each of the 18 functions; the other helpers changed some of it, and of
# those _exp_core_f32 alone is inlined too: erf_f32's code changed but neither its
# speed (interleaved timings) nor a bit of its results.
_inline = njit(error_model="numpy", fastmath={"contract"}, inline="always", nogil=True,
               no_cpython_wrapper=True, no_cfunc_wrapper=True)

_f = np.float32
_d = np.float64

#: Maximum ulp error the tests assert (see the table above).
ULP_BOUNDS = {
    "exp_f32": 1.5, "log_f32": 1.0, "log1p_f32": 2.0, "expm1_f32": 2.0, "tanh_f32": 2.0,
    "sigmoid_f32": 2.5, "erf_f32": 2.5, "sin_f32": 2.0, "cos_f32": 2.0,
    "exp_f64": 1.5, "log_f64": 1.0, "log1p_f64": 2.0, "expm1_f64": 2.0, "tanh_f64": 2.5,
    "sigmoid_f64": 2.5, "erf_f64": 3.0, "sin_f64": 2.0, "cos_f64": 2.0,
}

_INF32, _NAN32 = _f(np.inf), _f(np.nan)
_INF64, _NAN64 = _d(np.inf), _d(np.nan)
_SIGN32 = np.int32(-0x80000000)
_SIGN64 = np.int64(-0x8000000000000000)

# --- shared helpers ---------------------------------------------------------------------


@_jit
def _signed_f32(t, x):
    """Non-negative t with the sign bit of x (copysign without a libm call)."""
    return as_float32(as_int32(t) | (as_int32(x) & _SIGN32))


@_jit
def _signed_f64(t, x):
    return as_float64(as_int64(t) | (as_int64(x) & _SIGN64))


# --- exp ----------------------------------------------------------------------------------
# n = rint(x/ln2), r = x - n*ln2 with ln2 split so that n*hi is exact, exp(r) by polynomial.
# float32: Cephes expf coefficients and ln2 split. float64: fdlibm's ln2 split and the
# Taylor series of exp to degree 13 (truncation < 0.01 ulp on |r| <= ln2/2).

_LOG2E_F, _LN2HI_F, _LN2LO_F = _f(1.44269504088896341), _f(0.693359375), _f(-2.12194440e-4)
_LOG2E_D, _LN2HI_D, _LN2LO_D = _d(1.4426950408889634), _d(6.93147180369123816490e-01), _d(
    1.90821492927058770002e-10
)


# Rounding x/ln2 to the integer n: adding 1.5 * 2**23 (2**52 for float64) rounds it in
# the FPU's round-to-nearest-even and leaves n in the sum's low mantissa bits, so 2**n is
# built from those bits with integer shifts: no round or float-to-int conversion (three
# fewer vector operations per element than rint and a conversion), and a NaN input stays
# NaN through the arithmetic instead of needing a select (an integer operation on its bits
# is defined, where a conversion of NaN to int is not).
_ROUND_F, _ROUND_D = _f(1.5 * 2.0 ** 23), _d(1.5 * 2.0 ** 52)
# The sum's bits minus these are n + 2 * bias (254, 2046): the two halves of n, each plus
# the exponent bias, split by one shift.
_HALVES_F = np.int32(0x4B400000 - 254)
_HALVES_D = np.int64(0x4338000000000000 - 2046)
# The sum's bits minus these are n itself.
_ROUND_BITS_F = np.int32(0x4B400000)
_ROUND_BITS_D = np.int64(0x4338000000000000)
# _ROUND_BITS_F is even, so (bits >> 1) - this is (n >> 1) + 127: a shift and a subtract,
# where LLVM turned (bits - _HALVES_F) >> 1 into a four-instruction halving average
_HALF_BIAS_F = np.int32(0x4B400000 // 2 - 127)
# Where the target scales by 2**n in hardware (AVX-512's vscalefps/pd: one instruction,
# rounding once), exp multiplies by 2**n so, bit for bit the two-step product's result;
# the two steps' shifts and masks were 9 of the 33 vector instructions per 16 elements
# of softmax's fused row loop. Read from the features compiled for (Numba's, as
# codegen.tile_shape reads them), which Numba's cache keys include.
_HARDWARE_SCALE = vector_bits() == 512


@_inline
def _exp_core_f32(x):
    """exp(x) for x in [-104, 89] or NaN."""
    t = x * _LOG2E_F + _ROUND_F
    n = t - _ROUND_F
    r = (x - n * _LN2HI_F) - n * _LN2LO_F
    p = _f(1.9875691500e-4)
    p = p * r + _f(1.3981999507e-3)
    p = p * r + _f(8.3334519073e-3)
    p = p * r + _f(4.1665795894e-2)
    p = p * r + _f(1.6666665459e-1)
    p = p * r + _f(5.0000001201e-1)
    p = p * (r * r) + r + _f(1.0)
    if _HARDWARE_SCALE:
        return ldexp(p, as_int32(t) - _ROUND_BITS_F)
    # p * 2**n in two steps, p * 2**(n >> 1) * 2**(n - (n >> 1)), so that neither factor
    # overflows and a denormal result is rounded only once; the exponents come from t
    b = as_int32(t)
    h = (b >> 1) - _HALF_BIAS_F  # (n >> 1) + 127, since t's bits minus _ROUND_BITS_F is n
    return p * as_float32(h << 23) * as_float32((b - h - _HALVES_F) << 23)


@_jit
def _exp_core_f64(x):
    """exp(x) for x in [-746, 710] or NaN."""
    t = x * _LOG2E_D + _ROUND_D
    n = t - _ROUND_D
    r = (x - n * _LN2HI_D) - n * _LN2LO_D
    p = _d(1.0 / 6227020800.0)
    p = p * r + _d(1.0 / 479001600.0)
    p = p * r + _d(1.0 / 39916800.0)
    p = p * r + _d(1.0 / 3628800.0)
    p = p * r + _d(1.0 / 362880.0)
    p = p * r + _d(1.0 / 40320.0)
    p = p * r + _d(1.0 / 5040.0)
    p = p * r + _d(1.0 / 720.0)
    p = p * r + _d(1.0 / 120.0)
    p = p * r + _d(1.0 / 24.0)
    p = p * r + _d(1.0 / 6.0)
    p = p * r + _d(0.5)
    p = p * (r * r) + r + _d(1.0)
    if _HARDWARE_SCALE:
        return ldexp(p, as_int64(t) - _ROUND_BITS_D)
    m = as_int64(t) - _HALVES_D
    h = m >> 1
    return p * as_float64(h << 52) * as_float64((m - h) << 52)


@_jit
def exp_f32(x):
    """exp for float32."""
    x = _f(x)
    # Clamped so that 2**n stays in range (past the clamps the polynomial times 2**n
    # overflows to inf or rounds to 0 on its own); the comparisons are written so that a
    # NaN fails them and passes through unchanged.
    xc = select(x < _f(-104.0), _f(-104.0), x)
    return _exp_core_f32(select(xc > _f(89.0), _f(89.0), xc))


@_jit
def exp_f64(x):
    """exp for float64."""
    x = _d(x)
    xc = select(x < _d(-746.0), _d(-746.0), x)
    return _exp_core_f64(select(xc > _d(710.0), _d(710.0), xc))


# --- expm1 ----------------------------------------------------------------------------------
# Same reduction as exp; expm1(x) = 2 * (s*expm1(r) + (s - 1/2)) with s = 2**(n-1), which
# is exact in s - 1/2 where it matters (small n) and never needs 2**128. expm1(r) is its
# Taylor series (degree 8 for f32, 13 for f64; truncation < 0.05 ulp).


@_inline
def _expm1_core_f32(x):
    """expm1(x) for finite x in [-20, 88.8]; |x| < 2**-24 must be handled by the caller."""
    n = np.rint(x * _LOG2E_F)
    r = (x - n * _LN2HI_F) - n * _LN2LO_F
    p = _f(1.0 / 40320.0)
    p = p * r + _f(1.0 / 5040.0)
    p = p * r + _f(1.0 / 720.0)
    p = p * r + _f(1.0 / 120.0)
    p = p * r + _f(1.0 / 24.0)
    p = p * r + _f(1.0 / 6.0)
    p = p * r + _f(0.5)
    p = p * (r * r) + r
    s = as_float32((np.int32(n) + 126) << 23)
    return _f(2.0) * (s * p + (s - _f(0.5)))


@_jit
def _expm1_core_f64(x):
    """expm1(x) for finite x in [-40, 709.8]; |x| < 2**-54 must be handled by the caller."""
    n = np.rint(x * _LOG2E_D)
    r = (x - n * _LN2HI_D) - n * _LN2LO_D
    p = _d(1.0 / 6227020800.0)
    p = p * r + _d(1.0 / 479001600.0)
    p = p * r + _d(1.0 / 39916800.0)
    p = p * r + _d(1.0 / 3628800.0)
    p = p * r + _d(1.0 / 362880.0)
    p = p * r + _d(1.0 / 40320.0)
    p = p * r + _d(1.0 / 5040.0)
    p = p * r + _d(1.0 / 720.0)
    p = p * r + _d(1.0 / 120.0)
    p = p * r + _d(1.0 / 24.0)
    p = p * r + _d(1.0 / 6.0)
    p = p * r + _d(0.5)
    p = p * (r * r) + r
    s = as_float64((np.int64(n) + 1022) << 52)
    return _d(2.0) * (s * p + (s - _d(0.5)))


@_jit
def expm1_f32(x):
    """expm1 for float32."""
    x = _f(x)
    xc = select(x > _f(-20.0), x, _f(-20.0))  # expm1(-20) rounds to -1
    xc = select(xc < _f(88.8), xc, _f(88.8))  # beyond ln(FLT_MAX): overflows to inf
    y = _expm1_core_f32(xc)
    # expm1(x) rounds to x for tiny x; this also keeps -0 and denormals exact.
    y = select(abs(x) < _f(5.960464477539063e-08), x, y)
    return select(x != x, x, y)


@_jit
def expm1_f64(x):
    """expm1 for float64."""
    x = _d(x)
    xc = select(x > _d(-40.0), x, _d(-40.0))
    xc = select(xc < _d(709.8), xc, _d(709.8))
    y = _expm1_core_f64(xc)
    y = select(abs(x) < _d(5.551115123125783e-17), x, y)
    return select(x != x, x, y)


# --- log / log1p --------------------------------------------------------------------------
# Branch-free frexp: adding bits(1.0) - bits(sqrt(1/2)) to x's bit pattern moves the
# exponent boundary to sqrt(1/2), so the exponent field gives k with x = 2**k * m,
# m in [sqrt(1/2), sqrt(2)), and f = m - 1 is exact. Denormal inputs are first scaled by
# 2**23 (2**54). float32: Cephes logf polynomial and ln2 split.
# float64: fdlibm's log(1+f) = f - f*f/2 + s*(f*f/2 + R(s*s)), s = f/(2+f), with its
# published Lg1..Lg7 coefficients.


@_inline
def _log_core_f32(x):
    """log(x) for finite x > 0 (garbage, but no UB, elsewhere)."""
    tiny = x < _f(1.17549435e-38)
    ix = as_int32(select(tiny, x * _f(8388608.0), x)) + 0x004AFB0D
    k = _f((ix >> 23) - 127) - select(tiny, _f(23.0), _f(0.0))
    f = as_float32((ix & 0x007FFFFF) + 0x3F3504F3) - _f(1.0)
    z = f * f
    p = _f(7.0376836292e-2)
    p = p * f + _f(-1.1514610310e-1)
    p = p * f + _f(1.1676998740e-1)
    p = p * f + _f(-1.2420140846e-1)
    p = p * f + _f(1.4249322787e-1)
    p = p * f + _f(-1.6668057665e-1)
    p = p * f + _f(2.0000714765e-1)
    p = p * f + _f(-2.4999993993e-1)
    p = p * f + _f(3.3333331174e-1)
    y = f * z * p + k * _LN2LO_F - _f(0.5) * z
    return (f + y) + k * _LN2HI_F


@_inline
def _log_core_f64(x):
    """log(x) for finite x > 0 (garbage, but no UB, elsewhere)."""
    tiny = x < _d(2.2250738585072014e-308)
    ix = as_int64(select(tiny, x * _d(18014398509481984.0), x)) + 0x00095F619980C433
    k = _d((ix >> 52) - 1023) - select(tiny, _d(54.0), _d(0.0))
    f = as_float64((ix & 0x000FFFFFFFFFFFFF) + 0x3FE6A09E667F3BCD) - _d(1.0)
    hfsq = _d(0.5) * f * f
    s = f / (_d(2.0) + f)
    z = s * s
    r = _d(1.479819860511658591e-01)
    r = r * z + _d(1.531383769920937332e-01)
    r = r * z + _d(1.818357216161805012e-01)
    r = r * z + _d(2.222219843214978396e-01)
    r = r * z + _d(2.857142874366239149e-01)
    r = r * z + _d(3.999999999940941908e-01)
    r = r * z + _d(6.666666666666735130e-01)
    r = r * z
    return k * _LN2HI_D - ((hfsq - (s * (hfsq + r) + k * _LN2LO_D)) - f)


@_jit
def log_f32(x):
    """log for float32."""
    x = _f(x)
    y = _log_core_f32(x)
    y = select(x == _INF32, x, y)
    y = select(x == _f(0.0), -_INF32, y)
    return select(x >= _f(0.0), y, _NAN32)  # negative and NaN inputs


@_jit
def log_f64(x):
    """log for float64."""
    x = _d(x)
    y = _log_core_f64(x)
    y = select(x == _INF64, x, y)
    y = select(x == _d(0.0), -_INF64, y)
    return select(x >= _d(0.0), y, _NAN64)


# log1p(x) = log(u) + (x - (u - 1)) / u with u = fl(1 + x): the second term is the first
# order correction for the rounding of u (u - 1 is exact where that rounding matters), so
# there is no separate small-x path.


@_jit
def log1p_f32(x):
    """log1p for float32."""
    x = _f(x)
    u = _f(1.0) + x
    y = _log_core_f32(u) + (x - (u - _f(1.0))) / u
    y = select(x == _INF32, x, y)
    y = select(x == _f(-1.0), -_INF32, y)
    y = select(x == _f(0.0), x, y)  # keeps -0
    return select(x >= _f(-1.0), y, _NAN32)


@_jit
def log1p_f64(x):
    """log1p for float64."""
    x = _d(x)
    u = _d(1.0) + x
    y = _log_core_f64(u) + (x - (u - _d(1.0))) / u
    y = select(x == _INF64, x, y)
    y = select(x == _d(-1.0), -_INF64, y)
    y = select(x == _d(0.0), x, y)
    return select(x >= _d(-1.0), y, _NAN64)


# --- tanh / sigmoid -----------------------------------------------------------------------


@_jit
def tanh_f32(x):
    """tanh for float32: odd polynomial for |x| < 0.5, else e/(e+2) with e = expm1(2|x|)."""
    x = _f(x)
    a = abs(x)
    a = select(a < _f(10.0), a, _f(10.0))  # tanh(10) rounds to 1
    # Near 0, e/(e+2) would cost ~2.4 ulp (rounding of e+2); own fit of
    # (tanh(a) - a)/a**3 on [0, 0.5], coefficients rounded to float32 one at a time.
    z = a * a
    p = _f(-0.006679628510028124)
    p = p * z + _f(0.02131904847919941)
    p = p * z + _f(-0.05390406772494316)
    p = p * z + _f(0.1333301067352295)
    p = p * z + _f(-0.333333283662796)
    e = _expm1_core_f32(a + a)
    t = select(a < _f(0.5), a + (a * z) * p, e / (e + _f(2.0)))
    return select(x != x, x, _signed_f32(t, x))


@_jit
def tanh_f64(x):
    """tanh for float64: e/(e+2) with e = expm1(2|x|), sign restored from x."""
    x = _d(x)
    a = abs(x)
    a = select(a < _d(20.0), a, _d(20.0))
    e = select(a < _d(2.7755575615628914e-17), a + a, _expm1_core_f64(a + a))
    d = e + _d(2.0)
    q = e / d
    # Correct for the rounding of d (worth ~1 ulp near 0): delta = (e + 2) - d exactly
    # (Fast2Sum, larger operand first) and 1/d = (1 - q)/2, so no second division.
    delta = select(e < _d(2.0), (_d(2.0) - d) + e, (e - d) + _d(2.0))
    t = q - q * delta * (_d(0.5) - _d(0.5) * q)
    return select(x != x, x, _signed_f64(t, x))


@_jit
def sigmoid_f32(x):
    """1/(1+exp(-x)) for float32; exp(x)/(1+exp(x)) for x < 0 so nothing overflows."""
    x = _f(x)
    a = abs(x)
    e = _exp_core_f32(-select(a < _f(104.0), a, _f(104.0)))
    d = _f(1.0) + e
    q = select(x >= _f(0.0), _f(1.0), e) / d
    # Correct for the rounding of d: delta = (1 + e) - d exactly (Fast2Sum, 1 >= e), and
    # 1/d is q for x >= 0 and 1 - q below, so no second division. Saves ~0.5 ulp.
    delta = (_f(1.0) - d) + e
    y = q - q * delta * select(x >= _f(0.0), q, _f(1.0) - q)
    return select(x != x, x, y)


@_jit
def sigmoid_f64(x):
    """1/(1+exp(-x)) for float64; exp(x)/(1+exp(x)) for x < 0 so nothing overflows."""
    x = _d(x)
    a = abs(x)
    e = _exp_core_f64(-select(a < _d(746.0), a, _d(746.0)))
    d = _d(1.0) + e
    q = select(x >= _d(0.0), _d(1.0), e) / d
    # Correct for the rounding of d: delta = (1 + e) - d exactly (Fast2Sum, 1 >= e), and
    # 1/d is q for x >= 0 and 1 - q below, so no second division. Saves ~0.5 ulp.
    delta = (_d(1.0) - d) + e
    y = q - q * delta * select(x >= _d(0.0), q, _d(1.0) - q)
    return select(x != x, x, y)


# --- erf ----------------------------------------------------------------------------------
# float32, own fits (Lawson-reweighted least squares against math.erf/erfc, then rounded
# to float32): |x| < 1: x * P(x*x), P of degree 6 (it agrees with Cephes erff's to ~7
# digits, both being near-minimax); 1 <= |x| < 4: 1 - exp(Q(|x| - 2.5) - x*x) with Q of
# degree 6 fitting log(erfc(x)) + x*x. float64: |x| < 1: the Taylor series to x**37
# (truncation < 0.01 ulp) with 2/sqrt(pi) split in two; beyond, Cephes ndtr.c's
# erfc = exp(-x*x) P(|x|)/Q(|x|), computed as (Q - exp(-x*x) P)/Q so that both regions
# share one division.


@_jit
def erf_f32(x):
    """erf for float32."""
    x = _f(x)
    a = abs(x)
    z = x * x
    p = _f(7.842548802727833e-05)
    p = p * z + _f(-0.0008009398588910699)
    p = p * z + _f(0.005188598297536373)
    p = p * z + _f(-0.026854202151298523)
    p = p * z + _f(0.11283603310585022)
    p = p * z + _f(-0.3761262893676758)
    p = p * z + _f(-5.863538343753305e-08)
    # 2/sqrt(pi) = hi + lo (above): its float32 rounding alone would cost ~1 ulp near 0.
    small = a * _f(1.128379225730896) + a * p
    ac = select(a < _f(4.0), a, _f(4.0))  # erf(4) rounds to 1; also maps NaN to 4
    t = ac - _f(2.5)
    q = _f(0.0001863767538452521)
    q = q * t + _f(-0.00015198197797872126)
    q = q * t + _f(0.0024653663858771324)
    q = q * t + _f(-0.010711266659200191)
    q = q * t + _f(0.05611686781048775)
    q = q * t + _f(-0.35269394516944885)
    q = q * t + _f(-1.556817889213562)
    large = _f(1.0) - _exp_core_f32(q - ac * ac)
    return select(x != x, x, _signed_f32(select(a < _f(1.0), small, large), x))


@_jit
def erf_f64(x):
    """erf for float64."""
    x = _d(x)
    a = abs(x)
    z = x * x
    t = _d(4.763348040515068e-18)
    t = t * z + _d(-9.063970842808673e-17)
    t = t * z + _d(1.6342614095367152e-15)
    t = t * z + _d(-2.7835162072109215e-14)
    t = t * z + _d(4.4632242632864775e-13)
    t = t * z + _d(-6.7113668551641105e-12)
    t = t * z + _d(9.422759064650411e-11)
    t = t * z + _d(-1.2290555301717928e-09)
    t = t * z + _d(1.4807192815879218e-08)
    t = t * z + _d(-1.6365844691234924e-07)
    t = t * z + _d(1.6462114365889248e-06)
    t = t * z + _d(-1.492565035840625e-05)
    t = t * z + _d(0.00012055332981789664)
    t = t * z + _d(-0.0008548327023450853)
    t = t * z + _d(0.005223977625442188)
    t = t * z + _d(-0.026866170645131252)
    t = t * z + _d(0.11283791670955126)
    t = t * z + _d(-0.37612638903183754)
    t = t * z + _d(1.533545961316588e-17)
    ac = select(a < _d(6.0), a, _d(6.0))  # erf(6) rounds to 1; also maps NaN to 6
    p = _d(2.46196981473530512524e-10)
    p = p * ac + _d(5.64189564831068821977e-1)
    p = p * ac + _d(7.46321056442269912687e0)
    p = p * ac + _d(4.86371970985681366614e1)
    p = p * ac + _d(1.96520832956077098242e2)
    p = p * ac + _d(5.26445194995477358631e2)
    p = p * ac + _d(9.34528527171957607540e2)
    p = p * ac + _d(1.02755188689515710272e3)
    p = p * ac + _d(5.57535335369399327526e2)
    q = ac + _d(1.32281951154744992508e1)
    q = q * ac + _d(8.67072140885989742329e1)
    q = q * ac + _d(3.54937778887819891062e2)
    q = q * ac + _d(9.75708501743205489753e2)
    q = q * ac + _d(1.82390916687909736289e3)
    q = q * ac + _d(2.24633760818710981792e3)
    q = q * ac + _d(1.65666309194161350182e3)
    q = q * ac + _d(5.57535340817727675546e2)
    small = a < _d(1.0)
    # erf = 1 - e*p/q = (q - e*p)/q for |x| >= 1, so one division serves both regions.
    num = select(small, a * _d(1.1283791670955126) + a * t, q - _exp_core_f64(-(ac * ac)) * p)
    y = _signed_f64(num / select(small, _d(1.0), q), x)
    return select(x != x, x, y)


# --- sin / cos ----------------------------------------------------------------------------
# j = rint(x * 2/pi), r = x - j*pi/2 with pi/2 in three parts (the first two short enough
# that j*part is exact for |j| < 2**29 resp. 2**27), then sin or cos of r by polynomial and
# the quadrant j mod 4 picks which one and its sign. float32 reduces in float64 (cheap and
# accurate far out) and uses Cephes sinf/cosf polynomials; float64 uses Cephes sin.c's.
# Non-finite x is replaced by 0 before the reduction (so j mod 4 stays defined) and mapped
# to NaN at the end.

_PIO2_1F, _PIO2_2F, _PIO2_3F = _d(1.5707963705062866), _d(-4.371138828673793e-08), _d(
    -1.7151244994428829e-15
)
_PIO2_1D, _PIO2_2D, _PIO2_3D = _d(1.5707963407039642), _d(-1.3909067675399456e-08), _d(
    6.123233995736766e-17
)
_TWO_OVER_PI = _d(0.6366197723675814)


@_jit
def _sincos_f32(x, shift):
    """sin(x) for shift 0, cos(x) for shift 1 (cos(x) = sin(x + pi/2))."""
    finite = abs(x) <= _f(3.4028235e38)
    xd = _d(select(finite, x, _f(0.0)))
    j = np.rint(xd * _TWO_OVER_PI)
    r = ((xd - j * _PIO2_1F) - j * _PIO2_2F) - j * _PIO2_3F
    # Only matters past the accurate range, where r is no longer reduced: keeps the
    # polynomials (and so the result) bounded.
    r = _f(select(r < _d(0.8), select(r > _d(-0.8), r, _d(-0.8)), _d(0.8)))
    q = np.int32(j - _d(4.0) * np.floor(j * _d(0.25))) + shift
    z = r * r
    s = _f(-1.9515295891e-4)
    s = s * z + _f(8.3321608736e-3)
    s = s * z + _f(-1.6666654611e-1)
    s = s * (z * r) + r
    c = _f(2.443315711809948e-5)
    c = c * z + _f(-1.388731625493765e-3)
    c = c * z + _f(4.166664568298827e-2)
    c = c * (z * z) - _f(0.5) * z + _f(1.0)
    v = select((q & 1) != 0, c, s)
    v = select((q & 2) != 0, -v, v)
    return select(finite, v, _NAN32)


@_jit
def _sincos_f64(x, shift):
    finite = abs(x) <= _d(1.7976931348623157e308)
    xc = select(finite, x, _d(0.0))
    j = np.rint(xc * _TWO_OVER_PI)
    r = ((xc - j * _PIO2_1D) - j * _PIO2_2D) - j * _PIO2_3D
    r = select(r < _d(0.8), select(r > _d(-0.8), r, _d(-0.8)), _d(0.8))
    q = np.int64(j - _d(4.0) * np.floor(j * _d(0.25))) + shift
    z = r * r
    s = _d(1.58962301576546568060e-10)
    s = s * z + _d(-2.50507477628578072866e-8)
    s = s * z + _d(2.75573136213857245213e-6)
    s = s * z + _d(-1.98412698295895385996e-4)
    s = s * z + _d(8.33333333332211858878e-3)
    s = s * z + _d(-1.66666666666666307295e-1)
    s = s * (z * r) + r
    c = _d(-1.13585365213876817300e-11)
    c = c * z + _d(2.08757008419747316778e-9)
    c = c * z + _d(-2.75573141792967388112e-7)
    c = c * z + _d(2.48015872888517045348e-5)
    c = c * z + _d(-1.38888888888730564116e-3)
    c = c * z + _d(4.16666666666665929218e-2)
    c = c * (z * z) - _d(0.5) * z + _d(1.0)
    v = select((q & 1) != 0, c, s)
    v = select((q & 2) != 0, -v, v)
    return select(finite, v, _NAN64)


@_jit
def sin_f32(x):
    """sin for float32."""
    x = _f(x)
    return select(x == _f(0.0), x, _sincos_f32(x, 0))  # keeps -0


@_jit
def cos_f32(x):
    """cos for float32."""
    return _sincos_f32(_f(x), 1)


@_jit
def sin_f64(x):
    """sin for float64."""
    x = _d(x)
    return select(x == _d(0.0), x, _sincos_f64(x, 0))


@_jit
def cos_f64(x):
    """cos for float64."""
    return _sincos_f64(_d(x), 1)


#: (function name, dtype name) -> implementation, for code generators.
VECMATH = {
    (name, dtype): globals()[f"{name}_{suffix}"]
    for name in vecmath_names.FUNCTIONS
    for dtype, suffix in vecmath_names.SUFFIXES
}


@cache
def source_hash() -> str:
    """Hash of this module's source and of the intrinsics kernels inline (_bitcast, exact,
    target).
    Numba's on-disk cache of a kernel does not notice when functions it inlined change, so
    kernel cache keys include this (codegen.native computes it: it reads the files)."""
    from codegen import native
    return native.inline_source_hash()
