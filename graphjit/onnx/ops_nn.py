"""ONNX converters for neural-network ops: matmul, normalization, activations, Dropout, Pad, Clip.

Each converter composes graphjit's public ops, so the optimizer and the fuser
see ordinary elementwise ops and reductions. Softmax and the normalizations call
the builders of graphjit.ops.nn (softmax_over, standardize, batch_normalization),
so an imported model and the tf.nn API make one and the same composite.
Convolution and pooling live in `graphjit.onnx.ops_conv`, imported here so that
importing this module registers every NN converter.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit import nn
from graphjit.graph import Tensor
from graphjit.onnx import ops_conv  # noqa: F401  (registration)
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.ops_training_mode import batch_norm_training, dropout_training
from graphjit.ops.nn import softmax_over, standardize


def _wants(ctx: NodeContext, i: int) -> bool:
    """Whether the node asks for its output i (optional outputs may be omitted or "")."""
    return i < ctx.num_outputs and bool(ctx.node.output[i])


def _axis(ctx: NodeContext, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ctx.unsupported(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


# -- matrix products ----------------------------------------------------------------------

@converter("MatMul")
def convert_matmul(ctx: NodeContext) -> Tensor:
    """numpy.matmul: batch dims broadcast; a 1-D operand gains a unit dim that is dropped."""
    a, b = ctx.inputs[:2]
    if a.ndim == 0 or b.ndim == 0:
        raise ctx.unsupported("MatMul operands must have rank >= 1")
    drop = []
    if a.ndim == 1:
        a = gj.expand_dims(a, 0)
        drop.append(-2)
    if b.ndim == 1:
        b = gj.expand_dims(b, 1)
        drop.append(-1)
    y = gj.matmul(a, b)
    return gj.squeeze(y, [d % y.ndim for d in drop]) if drop else y


@converter("Gemm", attrs=("alpha", "beta", "transA", "transB"))
def convert_gemm(ctx: NodeContext) -> Tensor:
    """alpha * A' B' + beta * C, with C broadcast (unidirectionally) to [M, N]."""
    a, b = ctx.inputs[:2]
    c = ctx.input(2)
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    y = gj.matmul(a, b, transpose_a=bool(ctx.attr("transA", 0)),
                  transpose_b=bool(ctx.attr("transB", 0)))
    if alpha != 1.0:
        y = y * _scalar(alpha, y)
    if c is not None and beta != 0.0:
        y = y + (c if beta == 1.0 else c * _scalar(beta, c))
    return y


def _scalar(value: float, like: Tensor):
    """A float attribute for an op on `like`: an int for integer tensors (when whole)."""
    return value if like.dtype.is_floating else int(value)


# -- activations ---------------------------------------------------------------------------

# (Sigmoid, Tanh, Erf: one graphjit op each, imported from the registry: one_to_one.py)

@converter("Relu")
def convert_relu(ctx: NodeContext) -> Tensor:
    return nn.relu(ctx.inputs[0])


@converter("LeakyRelu", attrs=("alpha",))
def convert_leaky_relu(ctx: NodeContext) -> Tensor:
    return nn.leaky_relu(ctx.inputs[0], alpha=ctx.attr("alpha", 0.01))


def _hard_sigmoid(x: Tensor, alpha: float, beta: float) -> Tensor:
    return gj.maximum(gj.minimum(x * alpha + beta, 1.0), 0.0)


@converter("HardSigmoid", attrs=("alpha", "beta"))
def convert_hard_sigmoid(ctx: NodeContext) -> Tensor:
    return _hard_sigmoid(ctx.inputs[0], ctx.attr("alpha", 0.2), ctx.attr("beta", 0.5))


@converter("HardSwish")
def convert_hard_swish(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    return x * _hard_sigmoid(x, 1 / 6, 0.5)


@converter("Gelu", attrs=("approximate",))
def convert_gelu(ctx: NodeContext) -> Tensor:
    approximate = ctx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ctx.unsupported(f"unknown approximate={approximate!r}")
    return nn.gelu(ctx.inputs[0], approximate=approximate == "tanh")


def _exp_minus_one(x: Tensor) -> Tensor:
    """exp(x) - 1 of the non-positive part only: the branch a select drops cannot overflow."""
    return gj.expm1(gj.minimum(x, 0.0))


@converter("Elu", "Selu", attrs=("alpha", "gamma"))
def convert_elu(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    selu = ctx.op_type == "Selu"
    alpha = ctx.attr("alpha", 1.6732632423543772 if selu else 1.0)
    y = gj.where(x > 0, x, _exp_minus_one(x) * alpha)
    return y * ctx.attr("gamma", 1.0507009873554805) if selu else y


@converter("Celu", attrs=("alpha",))
def convert_celu(ctx: NodeContext) -> Tensor:
    x, alpha = ctx.inputs[0], ctx.attr("alpha", 1.0)
    return gj.maximum(x, 0.0) + _exp_minus_one(x / alpha) * alpha


@converter("PRelu")
def convert_prelu(ctx: NodeContext) -> Tensor:
    x, slope = ctx.inputs[:2]
    return gj.where(x < 0, x * slope, x)


@converter("ThresholdedRelu", attrs=("alpha",))
def convert_thresholded_relu(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    return gj.where(x > ctx.attr("alpha", 1.0), x, 0.0)


@converter("Softplus")
def convert_softplus(ctx: NodeContext) -> Tensor:
    return nn.softplus(ctx.inputs[0])


@converter("Softsign")
def convert_softsign(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    return x / (gj.abs(x) + 1.0)


@converter("Mish")
def convert_mish(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    return x * gj.tanh(nn.softplus(x))


@converter("Shrink", attrs=("bias", "lambd"))
def convert_shrink(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    bias, lambd = _scalar(ctx.attr("bias", 0.0), x), _scalar(ctx.attr("lambd", 0.5), x)
    return gj.where(x < -lambd, x + bias, gj.where(x > lambd, x - bias, gj.zeros_like(x)))


# -- softmax -------------------------------------------------------------------------------

@converter("Softmax", "LogSoftmax", attrs=("axis",))
def convert_softmax(ctx: NodeContext) -> Tensor:
    """Before opset 13 the input is seen as 2-D, [prod(shape[:axis]), prod(shape[axis:])]
    (axis default 1), i.e. one softmax over all axes from `axis` on; from 13, one axis
    (default -1)."""
    x = ctx.inputs[0]
    if x.ndim == 0:
        raise ctx.unsupported("needs an input of rank >= 1")
    if ctx.opset < 13:
        axes = list(range(_axis(ctx, ctx.attr("axis", 1), x.ndim), x.ndim))
    else:
        axes = [_axis(ctx, ctx.attr("axis", -1), x.ndim)]
    return softmax_over(x, axes, log=ctx.op_type == "LogSoftmax")


# -- normalization -------------------------------------------------------------------------

def _per_channel(v: Tensor, rank: int) -> Tensor:
    """A [C] parameter shaped [C, 1, ...] to broadcast over the NC... layout."""
    return gj.reshape(v, [-1] + [1] * (rank - 2))


@converter("BatchNormalization", attrs=("epsilon", "momentum", "training_mode"), outputs=3,
           note="BatchNormalization-9's saved mean and variance outputs are not supported")
def convert_batch_normalization(ctx: NodeContext) -> Tensor | list[Tensor]:
    """Inference form, per channel (axis 1): nn.batch_normalization; training_mode=1
    (BatchNormalization-14 on): ops_training_mode.batch_norm_training.

    Scale, bias and the statistics may have other float types than X (T1, T2): it is
    computed in the widest and cast back. Static statistics are folded by the optimizer.
    """
    extra = any(_wants(ctx, i) for i in (1, 2))
    if ctx.attr("training_mode", 0):
        return batch_norm_training(ctx, _per_channel)
    if extra:  # BatchNormalization-9 says training by its outputs; 14 on only with the attr
        raise ctx.unsupported("the running mean and variance outputs need training mode "
                              "(training_mode=1, BatchNormalization-14 on); BatchNormalization"
                              "-9's training form is not supported")
    x, scale, bias, mean, var = ctx.inputs[:5]
    if x.ndim < 2:
        raise ctx.unsupported(f"needs an input of rank >= 2 (N, C, ...), got {x.ndim}")
    wide = max((t.dtype for t in ctx.inputs[:5]), key=lambda d: d.size)
    mean, var, bias, scale = (_per_channel(gj.cast(t, wide), x.ndim)
                              for t in (mean, var, bias, scale))
    y = nn.batch_normalization(gj.cast(x, wide), mean, var, bias, scale,
                               ctx.attr("epsilon", 1e-5))
    return gj.cast(y, x.dtype)


@converter("InstanceNormalization", attrs=("epsilon",))
def convert_instance_normalization(ctx: NodeContext) -> Tensor:
    """Per sample and channel over the spatial axes, then a per-channel scale and bias."""
    x, scale, bias = ctx.inputs[:3]
    if x.ndim < 3:
        raise ctx.unsupported(f"needs an input of rank >= 3 (N, C, spatial...), got {x.ndim}")
    y, _, _ = standardize(x, list(range(2, x.ndim)), _per_channel(scale, x.ndim),
                          _per_channel(bias, x.ndim), ctx.attr("epsilon", 1e-5),
                          name="InstanceNorm")
    return y


@converter("LayerNormalization", attrs=("axis", "epsilon", "stash_type"))
def convert_layer_normalization(ctx: NodeContext) -> list[Tensor]:
    """Normalize over the axes from `axis` on; Mean and InvStdDev (keepdims) if asked for.

    stash_type=1 computes in float32: float16 inputs are cast up and Y cast back.
    """
    x, scale = ctx.inputs[:2]
    bias = ctx.input(2)
    axis = _axis(ctx, ctx.attr("axis", -1), x.ndim)
    stash = ctx.attr("stash_type", 1)
    if stash not in (1, 11):  # ONNX's FLOAT, DOUBLE
        raise ctx.unsupported(f"stash_type {stash} is not supported (1: float32, 11: float64)")
    compute = gj.float64 if stash == 11 else (
        gj.float32 if x.dtype == gj.float16 else x.dtype)
    y, mean, inv_std = standardize(x, list(range(axis, x.ndim)), scale, bias,
                                   ctx.attr("epsilon", 1e-5), compute, name="LayerNorm")
    stash_dtype = gj.float64 if stash == 11 else gj.float32
    outputs = [y, gj.cast(mean, stash_dtype), gj.cast(inv_std, stash_dtype)]
    return outputs[:max(1, ctx.num_outputs)]


# -- Dropout, Clip, Pad ----------------------------------------------------------------------

@converter("Dropout", attrs=("seed",))
def convert_dropout(ctx: NodeContext) -> list[Tensor]:
    """Inference (or training with ratio 0): the identity, and a mask of all True;
    training with a ratio > 0: ops_training_mode.dropout_training."""
    x = ctx.inputs[0]
    if ctx.input(2) is not None and bool(ctx.require_static(2, "training_mode").item()):
        ratio = 0.5 if ctx.input(1) is None else ctx.require_static(1, "ratio")
        if float(np.asarray(ratio)) != 0.0:
            return dropout_training(ctx, float(np.asarray(ratio)), _wants(ctx, 1))
    outputs = [gj.identity(x)]
    if _wants(ctx, 1):
        outputs.append(gj.ones_like(x, dtype=gj.bool))
    return outputs


@converter("Clip")
def convert_clip(ctx: NodeContext) -> Tensor:
    """min(max(x, lo), hi): where lo > hi every value becomes hi, as ONNX specifies."""
    x, lo, hi = ctx.inputs[0], ctx.input(1), ctx.input(2)
    y = x
    if lo is not None:
        y = gj.maximum(y, lo)
    if hi is not None:
        y = gj.minimum(y, hi)
    return y if y is not x else gj.identity(x)


@converter("Pad", attrs=("mode",))
def convert_pad(ctx: NodeContext) -> Tensor:
    """Modes constant, reflect, edge and wrap; negative pads crop."""
    x = ctx.inputs[0]
    pads = ctx.require_static(1, "pads")
    value = 0 if ctx.input(2) is None else ctx.require_static(2, "constant_value")
    axes = None if ctx.input(3) is None else ctx.require_static(3, "axes")
    pads = [int(p) for p in np.asarray(pads).ravel()]
    axes = list(range(x.ndim)) if axes is None else [
        _axis(ctx, int(a), x.ndim) for a in np.asarray(axes).ravel()]
    if len(pads) != 2 * len(axes):
        raise ctx.unsupported(f"pads {pads} need a (begin, end) pair for each of {len(axes)} "
                              "axes")
    mode = ctx.attr("mode", "constant")
    before, after = [0] * x.ndim, [0] * x.ndim
    for i, a in enumerate(axes):
        before[a], after[a] = pads[i], pads[i + len(axes)]
    if any(p < 0 for p in before + after):  # crop first, then pad by what is positive
        x = x[tuple(slice(max(-b, 0), min(e, 0) or None) for b, e in zip(before, after))]
        before, after = [max(p, 0) for p in before], [max(p, 0) for p in after]
    pairs = [[b, e] for b, e in zip(before, after)]
    if mode == "constant":
        fill = np.asarray(value).astype(x.dtype.np).item() if np.size(value) else 0
        return gj.pad(x, pairs, "CONSTANT", constant_values=fill)
    if mode == "reflect":
        return gj.pad(x, pairs, "REFLECT")
    if mode in ("edge", "wrap"):
        for axis, (b, e) in enumerate(pairs):
            ctx.check_size((x.shape[axis] or 0) + b + e, 8, f"Pad's index along axis {axis}")
            if b or e:
                x = _pad_indexed(x, axis, b, e, mode)
        return x if any(before + after) else gj.identity(x)
    raise ctx.unsupported(f"unknown mode {mode!r}")


def _along(x: Tensor, axis: int, index: slice) -> Tensor:
    return x[(slice(None),) * axis + (index,)]


def _pad_indexed(x: Tensor, axis: int, before: int, after: int, mode: str) -> Tensor:
    """Edge (repeat the border) or wrap (continue periodically) padding along `axis`: one
    index gather when the axis size is static, else border slices joined by a concat."""
    n = x.shape[axis]
    if n is not None:
        index = np.arange(-before, n + after)
        index = np.clip(index, 0, n - 1) if mode == "edge" else index % n
        return gj.gather(x, gj.constant(index.astype(np.int32)), axis=axis)
    parts = [x]
    reps = [1] * x.ndim
    if before:
        reps[axis] = before
        parts.insert(0, gj.tile(_along(x, axis, slice(0, 1)), reps) if mode == "edge"
                     else _along(x, axis, slice(-before, None)))
    if after:
        reps[axis] = after
        parts.append(gj.tile(_along(x, axis, slice(-1, None)), reps) if mode == "edge"
                     else _along(x, axis, slice(0, after)))
    return gj.concat(parts, axis)
