"""Times codegen.vecmath against libm calls in the same Numba loop and against NumPy ufuncs.

For each function: a single-threaded float32 loop over N elements (default 10M) calling
np.<fn> (scalar libm, what a naive kernel does), the same loop calling vecmath's
``<fn>_f32``, and the NumPy ufunc writing into a preallocated output. Prints medians and
ratios to NumPy measured in the same run.

    python benchmarks/bench_vecmath.py [--n 10000000] [--repeat 7] [--dtype float32]
"""

import argparse
import math
import time

import numba
import numpy as np

from codegen.vecmath import KERNEL_FASTMATH, VECMATH

FLAGS = {"error_model": "numpy", "fastmath": set(KERNEL_FASTMATH)}


def _libm_sigmoid(x):
    return 1 / (1 + np.exp(-x))


LIBM = {  # the scalar call a kernel would make without vecmath
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "tanh": np.tanh,
    "sigmoid": numba.njit(_libm_sigmoid, **FLAGS), "erf": math.erf, "sin": np.sin,
    "cos": np.cos,
}
NUMPY = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "tanh": np.tanh,
    "sigmoid": None, "erf": None, "sin": np.sin, "cos": np.cos,
}
DOMAIN = {"log": (1e-3, 10.0), "log1p": (-0.9, 10.0)}


def loop_of(fn):
    @numba.njit(**FLAGS)
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    return loop


def numpy_sigmoid(x, out):
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)


def median_ms(f, repeat):
    f()  # compile / warm the output pages
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{args.n:,} {args.dtype} elements, median of {args.repeat}, single thread")
    head = f"{'fn':8} {'numpy ms':>9} {'libm loop':>10} {'vecmath':>9}"
    print(f"{head} {'vm/numpy':>9} {'vm/libm':>8} {'max |diff|':>11}")
    for name in ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "erf", "sin", "cos"):
        lo, hi = DOMAIN.get(name, (-5.0, 5.0))
        x = rng.uniform(lo, hi, args.n).astype(args.dtype)
        out_libm, out_vm, out_np = (np.empty_like(x) for _ in range(3))
        libm, vm = loop_of(LIBM[name]), loop_of(VECMATH[(name, args.dtype)])
        t_libm = median_ms(lambda: libm(x, out_libm), args.repeat)  # noqa: B023
        t_vm = median_ms(lambda: vm(x, out_vm), args.repeat)  # noqa: B023
        ufunc = numpy_sigmoid if name == "sigmoid" else NUMPY[name]
        if ufunc is None:
            t_np, ratio = float("nan"), "-"
        else:
            t_np = median_ms(lambda: ufunc(x, out=out_np) if ufunc is not numpy_sigmoid  # noqa: B023
                             else numpy_sigmoid(x, out_np), args.repeat)  # noqa: B023
            ratio = f"{t_vm / t_np:.3f}"
        diff = float(np.max(np.abs(out_vm.astype(np.float64) - out_libm)))
        print(f"{name:8} {t_np:9.3f} {t_libm:10.3f} {t_vm:9.3f} {ratio:>9} "
              f"{t_vm / t_libm:8.3f} {diff:11.2e}")


if __name__ == "__main__":
    main()
