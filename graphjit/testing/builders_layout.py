"""Builders for the patterns the convolution-side rewrites and lowerings look for, so the
fuzzer meets them matched and narrowly missed:

- conv -> bias add -> relu -> pool chains (passes.simplify moves a MaxPool before a
  per-channel bias and Relu): 1x1 stride-1 convs (the GEMM alone), batches that take one
  GEMM per image or one over the batch, pools whose windows lie inside the image and
  ones that need padding, biases uniform over the pooled axes and ones that are not;
  `bias_add` writes the add on its own line, so other lines may share the intermediate
  (which must block the rewrite);
- transposes that move only size-1 axes (rewritten as a Reshape), and ones that also
  move a larger axis;
- an NCHW flatten before a matmul by constant weights (the transpose folded into the
  weights' rows), with the transpose sometimes on its own line (shared) or not keeping
  the batch axis first.
"""

from __future__ import annotations

import numpy as np

from graphjit.testing.gen import Draft, Gen, Var, builder
from graphjit.testing.program import array_source


def _weights(g: Gen, shape: tuple, dtype: str) -> str:
    """A constant (what the rewrites need) or, sometimes, a new input (which blocks them)."""
    if g.chance(0.8):
        return f"tf.constant({array_source(g.values(shape, dtype, -1.0, 1.0))})"
    return g.new_input(shape, dtype, low=-1.0, high=1.0).name


def _bias(g: Gen, shape: tuple, dtype: str) -> str:
    """A bias for an NHWC tensor of `shape`: per channel mostly (uniform over the pooled
    axes), else one varying along W or H, or a scalar."""
    n, h, w, c = shape
    form = g.choice(["c", "c", "c", "11c", "1wc", "h11", "scalar"])
    bshape = {"c": (c,), "11c": (1, 1, c), "1wc": (w, c), "h11": (1, h, 1, 1),
              "scalar": ()}[form]
    return _weights(g, bshape, dtype)


def _nhwc(g: Gen) -> tuple[str, list[Var], tuple]:
    """An NHWC image: a rank-4 float pool tensor or a new input (batch 1-3)."""
    v = g.pick("f", min_rank=4, max_rank=4, where=lambda w: w.value.size <= 1296)
    if v is not None and g.chance(0.6):
        return v.name, [v], v.shape
    shape = (int(g.rng.integers(1, 4)), int(g.rng.integers(2, 8)), int(g.rng.integers(2, 8)),
             int(g.rng.integers(1, 5)))
    return g.new_input(shape, g.fdtype).name, [], shape


def _out_size(n: int, k: int, s: int, padding: str) -> int:
    return -(-n // s) if padding == "SAME" else (n - k) // s + 1


def _pool_call(g: Gen, src: str, shape: tuple) -> str | None:
    """max_pool (mostly) or avg_pool of `src`: windows inside the image (VALID, or SAME
    where no padding is needed) or needing padding, strides above the window too."""
    _, h, w, _ = shape
    kh, kw = int(g.rng.integers(1, min(h, 3) + 1)), int(g.rng.integers(1, min(w, 3) + 1))
    sh, sw = int(g.rng.integers(1, 4)), int(g.rng.integers(1, 4))
    padding = g.choice(["SAME", "VALID"])
    fn = "max_pool" if g.chance(0.8) else "avg_pool"
    return (f'tf.nn.{fn}({src}, ksize=[1, {kh}, {kw}, 1], strides=[1, {sh}, {sw}, 1], '
            f'padding="{padding}")')


@builder("conv_block", ("Conv2D", "Add", "Relu", "MaxPool", "AvgPool"), 1.0)
def _conv_block(g: Gen) -> Draft | None:
    """pool(relu(conv(x, f) + b)) on one line, parts left out at random."""
    src, args, (n, h, w, c) = _nhwc(g)
    dtype = args[0].dtype if args else g.fdtype
    pointwise = g.chance(0.35)
    kh, kw = (1, 1) if pointwise else (int(g.rng.integers(1, min(h, 3) + 1)),
                                       int(g.rng.integers(1, min(w, 3) + 1)))
    stride = 1 if pointwise else int(g.rng.integers(1, 3))
    padding = "VALID" if pointwise and g.chance(0.5) else g.choice(["SAME", "VALID"])
    cout = int(g.rng.integers(1, 6))
    expr = (f"tf.nn.conv2d({src}, {_weights(g, (kh, kw, c, cout), dtype)}, "
            f'strides={stride}, padding="{padding}")')
    oshape = (n, _out_size(h, kh, stride, padding), _out_size(w, kw, stride, padding), cout)
    if g.chance(0.3):  # the rest on later lines (channel_bias, relu, relu_pool)
        return Draft(expr, args)
    if g.chance(0.85):
        if g.chance(0.2):
            expr = f"tf.nn.bias_add({expr}, {_weights(g, (cout,), dtype)})"
        elif g.chance(0.2):
            expr = f"{_bias(g, oshape, dtype)} + {expr}"
        else:
            expr = f"{expr} + {_bias(g, oshape, dtype)}"
    if g.chance(0.8):
        expr = f"tf.nn.relu({expr})"
    if g.chance(0.8):
        expr = _pool_call(g, expr, oshape)
    return Draft(expr, args)


@builder("channel_bias", ("Add",), 0.8)
def _channel_bias(g: Gen) -> Draft | None:
    """A rank-4 float pool tensor plus a constant bias, on its own line: a later relu or
    pool line reads it, and so may others (a shared intermediate)."""
    v = g.pick("f", min_rank=4, max_rank=4)
    if v is None:
        return None
    return Draft(f"{v.name} + {_bias(g, v.shape, v.dtype)}", [v])


@builder("relu_pool", ("Relu", "MaxPool", "AvgPool"), 0.8)
def _relu_pool(g: Gen) -> Draft | None:
    """pool(relu(t)) or pool(t) of a rank-4 float pool tensor (an earlier bias add's)."""
    v = g.pick("f", min_rank=4, max_rank=4)
    if v is None:
        return None
    src = f"tf.nn.relu({v.name})" if g.chance(0.5) else v.name
    return Draft(_pool_call(g, src, v.shape), [v])


@builder("unit_transpose", ("Transpose", "ExpandDims", "Reshape"), 0.6)
def _unit_transpose(g: Gen) -> Draft | None:
    """A permutation moving only size-1 axes (a Reshape after simplify), or one that
    moves a larger axis too; size-1 axes made by expand_dims or a reshape when needed."""
    v = g.pick("fib", min_rank=1, max_rank=4)
    if v is None:
        return None
    src, shape = v.name, list(v.shape)
    if 1 not in shape or g.chance(0.3):
        at = int(g.rng.integers(len(shape) + 1))
        shape.insert(at, 1)
        src = (f"tf.expand_dims({src}, {at})" if g.chance(0.5)
               else f"tf.reshape({src}, {shape})")
    ones = [a for a, d in enumerate(shape) if d == 1]
    big = [a for a in range(len(shape)) if a not in ones]
    g.rng.shuffle(ones)  # the big axes in order, the size-1 ones anywhere among them
    slots = sorted(g.rng.choice(len(shape), size=len(ones), replace=False).tolist())
    it_ones, it_big = iter(ones), iter(big)
    perm = [next(it_ones) if i in slots else next(it_big) for i in range(len(shape))]
    if len(big) >= 2 and g.chance(0.2):  # a narrow miss: two larger axes swapped
        i, j = [perm.index(a) for a in big[:2]]
        perm[i], perm[j] = perm[j], perm[i]
    return Draft(f"tf.transpose({src}, {perm})", [v])


@builder("flatten_dense", ("Transpose", "Reshape", "MatMul"), 0.8)
def _flatten_dense(g: Gen) -> Draft | None:
    """matmul(reshape(transpose(x), [n, -1]), W) with W constant: an NCHW flatten before a
    dense layer. The transpose is read from a pool tensor (maybe shared) or written here,
    keeping the batch axis first mostly."""
    v = g.pick("f", min_rank=3, max_rank=4, where=lambda w: w.value.size <= 1296)
    args = [v] if v is not None else []
    if v is None:  # a new NHWC input
        v = g.new_input((int(g.rng.integers(1, 4)), *g.rng.integers(1, 5, size=3)), g.fdtype)
    src = v.name
    if v.ndim == 4 and g.chance(0.5):  # NHWC -> NCHW (or any perm keeping batch first)
        perm = [0, 3, 1, 2] if g.chance(0.5) else [0] + [int(p) + 1 for p in
                                                          g.rng.permutation(3)]
    else:
        perm = [int(p) for p in g.rng.permutation(v.ndim)]
        if g.chance(0.7):
            perm.remove(0)
            perm.insert(0, 0)
    shape = [v.shape[p] for p in perm]
    k = int(np.prod(shape[1:]))
    if v.tensor.op.type != "Transpose" or g.chance(0.4):
        src = f"tf.transpose({src}, {perm})"
    else:  # flatten a transpose of the pool (other lines may read it too)
        shape = list(v.shape)
        k = int(np.prod(shape[1:]))
    flat = g.choice([f"[-1, {k}]", f"[{shape[0]}, -1]", f"[{shape[0]}, {k}]"])
    tb = g.chance(0.3)
    n_out = int(g.rng.integers(1, 5))
    w = _weights(g, (n_out, k) if tb else (k, n_out), v.dtype)
    return Draft(f"tf.matmul(tf.reshape({src}, {flat}), {w}, transpose_b={tb})", args)
