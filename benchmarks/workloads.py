"""The workloads W1-W6 (gelu, softmax, layer norm, MLP, MLP gradients, dispatch): inputs,
float64 references, and a
builder per system (graphjit, NumPy, numexpr, hand-written Numba; JAX, PyTorch and ONNX
Runtime come from `others.py` when importable).

A builder takes the workload's inputs and returns ``(handle, call)``: ``call()`` runs the
system once and returns its output(s); ``handle`` is graphjit's CompiledFunction (for
``--profile``) or None. Anything a builder or a call raises is reported in that system's
row. Compilation on the first call happens in the warm-up, outside the timings.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

F32 = np.float32
EPS = 1e-5
GELU_K = 0.7978845608
GELU_C = 0.044715
MLP_SIZES = (784, 256, 256, 10)


@dataclass
class Workload:
    id: str
    title: str
    inputs: tuple
    reference: tuple  # float64 outputs
    systems: list = field(default_factory=list)  # (name, builder)
    limit_bytes: int | None = None  # input read once + output written once
    reps: int = 10
    inner: int = 1  # calls per timed sample (W6: many tiny calls)
    unit: str = "ms"


# -- inputs and references -------------------------------------------------------------

WARMUP_CALLS, WARMUP_SECONDS = 120, 0.5  # past graphjit's 64-call tiers and the packed
# tier's race (graphjit.plan_race: 2 x 17 calls); W7 times first calls


def warm_up(call, at_least: int = 2):
    """Call `call` WARMUP_CALLS times, or at least `at_least` times and until
    WARMUP_SECONDS have passed: benchmarks time steady calls (graphjit re-plans a plan
    with packed weights and a native driver at its 64th call). Returns the last result."""
    deadline = time.perf_counter() + WARMUP_SECONDS
    out = call()
    for done in range(1, WARMUP_CALLS):
        if done >= at_least and time.perf_counter() > deadline:
            break
        out = call()
    return out


def wait_graphjit_settled() -> None:
    """Steady state: graphjit loads Numba's dispatchers for cached kernels on a background
    thread, whose CPU would otherwise land in whichever system is being timed."""
    warm_start = sys.modules.get("codegen.warm_start")
    if warm_start is not None and warm_start.settling():
        warm_start.wait_settled(timeout=60)


def gelu_ref(x):
    x = x.astype(np.float64)
    return (0.5 * x * (1 + np.tanh(GELU_K * (x + GELU_C * x ** 3))),)


def softmax_ref(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True),)


def layernorm_ref(x, gamma, beta):
    x = x.astype(np.float64)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + EPS) * gamma.astype(np.float64) + beta,)


def mlp_inputs(rng, batch):
    x = rng.random((batch, MLP_SIZES[0]), dtype=F32)
    labels = rng.integers(0, MLP_SIZES[-1], batch).astype(np.int32)
    params = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        params.append(rng.standard_normal((fan_in, fan_out), dtype=F32)
                       * F32(np.sqrt(2.0 / fan_in)))
        params.append(rng.standard_normal(fan_out, dtype=F32) * F32(0.01))
    return (x, labels, *params)


def mlp_forward_backward(x, labels, w1, b1, w2, b2, w3, b3, backward=True):
    """Loss (and the six gradients): NumPy, in whatever dtype the inputs have."""
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    z = h2 @ w3 + b3
    z = z - z.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    rows = np.arange(x.shape[0])
    loss = -log_p[rows, labels].mean()
    if not backward:
        return (loss,)
    dz = np.exp(log_p)
    dz[rows, labels] -= 1
    dz /= x.shape[0]
    dh2 = (dz @ w3.T) * (h2 > 0)
    dh1 = (dh2 @ w2.T) * (h1 > 0)
    return (loss, x.T @ dh1, dh1.sum(0), h1.T @ dh2, dh2.sum(0), h2.T @ dz, dz.sum(0))


def mlp_ref(*inputs, backward=False):
    x, labels, *params = inputs
    return mlp_forward_backward(x.astype(np.float64), labels,
                                *(p.astype(np.float64) for p in params), backward=backward)


# -- graphjit -----------------------------------------------------------------------------

def graphjit_gelu(tf):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        tf.nn.gelu(x, approximate=True, name="gelu")
    return tf.compile(g)


def graphjit_softmax(tf):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 1024], name="x")
        tf.nn.softmax(x, name="softmax")
    return tf.compile(g)


def graphjit_layernorm(tf):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 1024], name="x")
        gamma = tf.placeholder(tf.float32, [1024], name="gamma")
        beta = tf.placeholder(tf.float32, [1024], name="beta")
        tf.nn.layer_normalization(x, gamma, beta, epsilon=EPS, name="layernorm")
    return tf.compile(g)


def graphjit_mlp(tf, backward=False):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, MLP_SIZES[0]], name="x")
        labels = tf.placeholder(tf.int32, [None], name="labels")
        params = []
        h = x
        for i, (fan_in, fan_out) in enumerate(zip(MLP_SIZES[:-1], MLP_SIZES[1:]), 1):
            w = tf.placeholder(tf.float32, [fan_in, fan_out], name=f"W{i}")
            b = tf.placeholder(tf.float32, [fan_out], name=f"b{i}")
            params += [w, b]
            h = tf.nn.bias_add(tf.matmul(h, w), b)
            if i < len(MLP_SIZES) - 1:
                h = tf.nn.relu(h)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=h), name="loss")
        fetches = [loss] + list(tf.gradients(loss, params)) if backward else loss
    return tf.compile(g, fetches=fetches, feeds=[x, labels, *params])


def graphjit_fma(tf, n):
    g = tf.Graph()
    with g.as_default():
        a, b, c = (tf.placeholder(tf.float32, [n], name=s) for s in "abc")
        tf.add(a * b, c, name="fma")
    return tf.compile(g)


def _graphjit(make, **kw):
    def build(*inputs):
        import graphjit as tf

        fn = make(tf, **kw)
        return fn, lambda: fn(*inputs)
    return build


# -- NumPy and numexpr --------------------------------------------------------------------

def np_gelu(x):
    # x * x * x, not x ** 3: NumPy's float32 power calls powf per element (~60 ns each here)
    return 0.5 * x * (1 + np.tanh(GELU_K * (x + GELU_C * (x * x * x))))


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_layernorm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    d = x - mean
    var = (d * d).mean(-1, keepdims=True)
    return d / np.sqrt(var + EPS) * gamma + beta


# numexpr turns Python float constants into doubles (and the result into float64): the
# constants go in as float32 variables instead.
_NE_CONST = {"h": F32(0.5), "o": F32(1.0), "k": F32(GELU_K), "c": F32(GELU_C), "eps": F32(EPS)}


def ne_gelu(x):
    import numexpr as ne
    return ne.evaluate("h*x*(o+tanh(k*(x+c*x*x*x)))", local_dict={"x": x, **_NE_CONST})


def ne_softmax(x):
    """Elementwise passes in numexpr, the row reductions in NumPy."""
    import numexpr as ne
    m = x.max(-1, keepdims=True)
    e = ne.evaluate("exp(x - m)", local_dict={"x": x, "m": m})
    s = e.sum(-1, keepdims=True)
    return ne.evaluate("e / s", local_dict={"e": e, "s": s})


def ne_layernorm(x, gamma, beta):
    import numexpr as ne
    mean = x.mean(-1, keepdims=True)
    d = ne.evaluate("x - mean", local_dict={"x": x, "mean": mean})
    var = (np.einsum("ij,ij->i", d, d) / F32(x.shape[-1]))[:, None]
    return ne.evaluate("d / sqrt(var + eps) * gamma + beta",
                       local_dict={"d": d, "var": var, "gamma": gamma, "beta": beta,
                                   "eps": _NE_CONST["eps"]})


def ne_fma(a, b, c):
    import numexpr as ne
    return ne.evaluate("a*b + c", local_dict={"a": a, "b": b, "c": c})


def _plain(fn):
    def build(*inputs):
        return None, lambda: fn(*inputs)
    return build


def _numba_into(kernel):
    """A kernel writing into a caller-owned output, allocated once and reused."""
    def build(x, *rest):
        out = np.empty_like(x)
        return None, lambda: (kernel(x, *rest, out), out)[1]
    return build


def _numba_layernorm(into):
    def build(x, gamma, beta):
        import handwritten as hw
        eps = F32(EPS)
        if into:
            out = np.empty_like(x)
            return None, lambda: (hw.layernorm_into(x, gamma, beta, eps, out), out)[1]
        return None, lambda: hw.layernorm(x, gamma, beta, eps)
    return build


def _hw(name):
    def build(*inputs):
        import handwritten as hw
        return None, lambda: getattr(hw, name)(*inputs)
    return build


def _hw_into(name):
    def build(*inputs):
        import handwritten as hw
        return _numba_into(getattr(hw, name))(*inputs)
    return build


def _hw_fresh(name):
    """The `_into` kernel with a new output per call, as graphjit returns (page faults
    included): separates allocation cost from kernel quality."""
    def build(x, *rest):
        import handwritten as hw
        kernel = getattr(hw, name)

        def call():
            out = np.empty_like(x)
            kernel(x, *rest, out)
            return out
        return None, call
    return build


def _numexpr(fn):
    def build(*inputs):
        import numexpr  # noqa: F401  (an ImportError becomes the row's error)
        return None, lambda: fn(*inputs)
    return build


# -- the workloads ------------------------------------------------------------------------

GRAPHJIT = "graphjit"
NUMPY = "NumPy"


def make_workloads(quick: bool, others) -> list[Workload]:
    """`others(wid)` gives the (name, builder) pairs of the optional systems for a workload."""
    rng = np.random.default_rng(0)
    n1 = 1_000_000 if quick else 10_000_000
    rows = 1024 if quick else 4096
    batch = 128 if quick else 512
    out = []

    x = rng.standard_normal(n1, dtype=F32) * F32(3)
    out.append(Workload(
        "W1", f"gelu (tanh form), {n1:,} float32", (x,), gelu_ref(x), [
            (GRAPHJIT, _graphjit(graphjit_gelu)),
            (NUMPY, _plain(np_gelu)),
            ("numexpr", _numexpr(ne_gelu)),
            ("Numba fused, libm tanh", _hw("gelu_libm")),
            ("Numba fused, vecmath tanh_f32, fresh out", _hw_fresh("gelu_vecmath_into")),
            ("Numba fused, vecmath tanh_f32, out reused", _hw_into("gelu_vecmath_into")),
            *others("W1")],
        limit_bytes=2 * x.nbytes, reps=3 if quick else 15))

    x = rng.standard_normal((rows, 1024), dtype=F32) * F32(2)
    out.append(Workload(
        "W2", f"softmax over the last axis of ({rows}, 1024)", (x,), softmax_ref(x), [
            (GRAPHJIT, _graphjit(graphjit_softmax)),
            (NUMPY, _plain(np_softmax)),
            ("numexpr (+ NumPy reductions)", _numexpr(ne_softmax)),
            ("Numba fused, libm exp", _hw("softmax_libm")),
            ("Numba fused, vecmath exp_f32, fresh out", _hw_fresh("softmax_vecmath_into")),
            ("Numba fused, vecmath exp_f32, out reused", _hw_into("softmax_vecmath_into")),
            *others("W2")],
        limit_bytes=2 * x.nbytes, reps=8 if quick else 40))

    x = rng.standard_normal((rows, 1024), dtype=F32) * F32(2) + F32(1)
    gamma = F32(1) + F32(0.1) * rng.standard_normal(1024, dtype=F32)
    beta = F32(0.1) * rng.standard_normal(1024, dtype=F32)
    out.append(Workload(
        "W3", f"layer norm over the last axis of ({rows}, 1024), gamma/beta, eps 1e-5",
        (x, gamma, beta), layernorm_ref(x, gamma, beta), [
            (GRAPHJIT, _graphjit(graphjit_layernorm)),
            (NUMPY, _plain(np_layernorm)),
            ("numexpr (+ NumPy reductions)", _numexpr(ne_layernorm)),
            ("Numba fused", _numba_layernorm(into=False)),
            ("Numba fused, out reused", _numba_layernorm(into=True)),
            *others("W3")],
        limit_bytes=2 * x.nbytes + gamma.nbytes + beta.nbytes, reps=8 if quick else 40))

    mlp = mlp_inputs(rng, batch)
    sizes = "->".join(map(str, MLP_SIZES))
    out.append(Workload(
        "W4", f"MLP forward, batch {batch}, {sizes}, relu, mean sparse softmax xent",
        mlp, mlp_ref(*mlp), [
            (GRAPHJIT, _graphjit(graphjit_mlp)),
            (NUMPY, _plain(lambda *a: mlp_forward_backward(*a, backward=False))),
            ("NumPy GEMMs + Numba fused epilogues", _hw("mlp_loss")),
            *others("W4")],
        reps=20 if quick else 100))

    out.append(Workload(
        "W5", f"MLP loss + gradients of the six weights and biases, batch {batch}",
        mlp, mlp_ref(*mlp, backward=True), [
            (GRAPHJIT, _graphjit(graphjit_mlp, backward=True)),
            (NUMPY, _plain(mlp_forward_backward)),
            *others("W5")],
        reps=20 if quick else 100))

    abc = tuple(rng.standard_normal(8, dtype=F32) for _ in range(3))
    out.append(Workload(
        "W6", "dispatch: a*b + c on three float32 arrays of 8 elements",
        abc, (abc[0].astype(np.float64) * abc[1] + abc[2],), [
            (GRAPHJIT, _graphjit(graphjit_fma, n=8)),
            (NUMPY, _plain(lambda a, b, c: a * b + c)),
            ("numexpr", _numexpr(ne_fma)),
            ("Numba njit (array expression)", _hw("fma")),
            *others("W6")],
        reps=5 if quick else 21, inner=300 if quick else 2000, unit="us"))
    return out
