"""`graphjit.nn`: activations, softmax, losses and normalization under TF1's tf.nn names.

Only Relu is a primitive (in elementwise.py); everything else here is a
composite, written once as primitives (elementwise ops and reductions) so the
optimizer, autodiff and the compiler never need to know about it. A composite
opens a name scope and gives its final op the scope's name, as TF does, so
`softmax(x, name="probs")` is the tensor "probs:0".
"""

from __future__ import annotations

import math

from graphjit import dtypes
from graphjit.errors import DTypeError, ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import (
    FLOAT,
    NUMERIC,
    check_dtype,
    convert_operands,
    make,
    normalize_axis,
    op_errors,
)
from graphjit.ops.core import identity, stop_gradient
from graphjit.ops.reductions import reduce_max, reduce_mean, reduce_sum
from graphjit.ops.shape_ops import one_hot, reshape, squeeze

sigmoid = ew.sigmoid
tanh = ew.tanh


def _input(x, op_type: str, name: str | None, allowed=FLOAT) -> Tensor:
    """Convert and dtype-check a composite's input, failing with the composite's name."""
    (x,) = convert_operands([x])
    with op_errors(op_type, name, op_type, [x]):
        check_dtype(x.dtype, allowed)
    return x


# -- activations -------------------------------------------------------------

def relu(features, name: str | None = None) -> Tensor:
    """max(features, 0): the one activation that is a primitive."""
    (x,) = convert_operands([features])
    return make("Relu", [x], name=name, default_name="Relu")


def relu6(features, name: str | None = None) -> Tensor:
    """min(max(features, 0), 6)."""
    x = _input(features, "Relu6", name, NUMERIC)
    with x.graph.name_scope(name or "Relu6") as scope:
        return ew.minimum(relu(x), 6, name=scope)


def leaky_relu(features, alpha: float = 0.2, name: str | None = None) -> Tensor:
    """features where positive, else alpha * features (a select, so any alpha works)."""
    x = _input(features, "LeakyRelu", name)
    with x.graph.name_scope(name or "LeakyRelu") as scope:
        return ew.where(x > 0, x, x * alpha, name=scope)


def elu(features, name: str | None = None) -> Tensor:
    """features where positive, else exp(features) - 1.

    expm1 sees min(x, 0) so the branch not taken cannot overflow to inf, which
    would turn the select's gradient into NaN.
    """
    x = _input(features, "Elu", name)
    with x.graph.name_scope(name or "Elu") as scope:
        return ew.where(x > 0, x, ew.expm1(ew.minimum(x, 0)), name=scope)


def gelu(features, approximate: bool = False, name: str | None = None) -> Tensor:
    """0.5 x (1 + erf(x / sqrt 2)); approximate=True uses the tanh form of the paper."""
    x = _input(features, "Gelu", name)
    with x.graph.name_scope(name or "Gelu") as scope:
        if approximate:
            inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
            return ew.multiply(x * 0.5, ew.tanh(inner) + 1, name=scope)
        return ew.multiply(x * 0.5, ew.erf(x * (1 / math.sqrt(2))) + 1, name=scope)


def softplus(features, name: str | None = None) -> Tensor:
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): no overflow for large |x|."""
    x = _input(features, "Softplus", name)
    with x.graph.name_scope(name or "Softplus") as scope:
        return ew.add(relu(x), ew.log1p(ew.exp(-ew.abs(x))), name=scope)


def silu(features, beta: float = 1.0, name: str | None = None) -> Tensor:
    """x * sigmoid(beta * x) (a.k.a. swish)."""
    x = _input(features, "silu", name)
    with x.graph.name_scope(name or "silu") as scope:
        gate = ew.sigmoid(x if beta == 1.0 else x * beta)
        return ew.multiply(x, gate, name=scope)


swish = silu


# -- softmax and losses ----------------------------------------------------------

def _softmax_axis(x: Tensor, axis, dim, op_type: str, name):
    with op_errors(op_type, name, op_type, [x]):
        if axis is not None and dim is not None:
            raise ShapeError("give either axis or dim, not both")
        axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
        if x.shape.unknown_rank:  # the reductions take it as it is, resolved once fed
            return axis
        if x.ndim == 0:
            raise ShapeError("needs a tensor of rank >= 1, got a scalar")
        return normalize_axis(axis, x.ndim)


def softmax_over(x: Tensor, axes, log: bool = False, name: str | None = None) -> Tensor:
    """Softmax (log=True: log-softmax) of x jointly over `axes`, the final op named after
    the scope (default "Softmax"/"LogSoftmax").

    The one build of softmax: tf.nn.softmax/log_softmax pass one axis, ONNX's converter
    before opset 13 every axis from `axis` on. It works on x - max(x), whose exp cannot
    overflow; the max is a constant for the gradient (softmax is shift-invariant), which
    keeps backward graphs small.
    """
    op_type = "LogSoftmax" if log else "Softmax"
    x = _input(x, op_type, name)
    with x.graph.name_scope(name or op_type) as scope:
        shifted = x - stop_gradient(reduce_max(x, axes, keepdims=True))
        if log:
            log_sum = ew.log(reduce_sum(ew.exp(shifted), axes, keepdims=True))
            return ew.subtract(shifted, log_sum, name=scope)
        e = ew.exp(shifted)
        return ew.divide(e, reduce_sum(e, axes, keepdims=True), name=scope)


def softmax(logits, axis=None, name: str | None = None, dim=None) -> Tensor:
    """exp(x) / sum(exp(x)) along axis (default -1), computed on x - max(x)."""
    x = _input(logits, "Softmax", name)
    return softmax_over(x, _softmax_axis(x, axis, dim, "Softmax", name), name=name)


def log_softmax(logits, axis=None, name: str | None = None, dim=None) -> Tensor:
    """x - max(x) - log(sum(exp(x - max(x)))) along axis (default -1)."""
    x = _input(logits, "LogSoftmax", name)
    axis = _softmax_axis(x, axis, dim, "LogSoftmax", name)
    return softmax_over(x, axis, log=True, name=name)


def _cross_entropy(labels, logits, axis, name, default: str, labels_gradient: bool) -> Tensor:
    x = _input(logits, default, name)
    labels, _ = convert_operands([labels, x])
    axis = _softmax_axis(x, axis, None, default, name)
    with op_errors(default, name, default, [labels, x]):
        if labels.dtype != x.dtype:
            raise DTypeError(f"labels have dtype {labels.dtype}, logits {x.dtype}; "
                             "they must match")
        if not labels.shape.is_compatible_with(x.shape):
            raise ShapeError(f"labels of shape {labels.shape} do not match logits of shape "
                             f"{x.shape}")
    with x.graph.name_scope(name or default) as scope:
        if not labels_gradient:
            labels = stop_gradient(labels)
        return ew.negative(reduce_sum(labels * log_softmax(x, axis), axis), name=scope)


def softmax_cross_entropy_with_logits(*, labels, logits, dim=-1, name: str | None = None,
                                      axis=None) -> Tensor:
    """Per-example -sum(labels * log_softmax(logits)) over `axis`; labels are a distribution.

    As in TF1, no gradient flows into labels (use the _v2 function for that).
    """
    return _cross_entropy(labels, logits, dim if axis is None else axis, name,
                          "softmax_cross_entropy_with_logits", labels_gradient=False)


def softmax_cross_entropy_with_logits_v2(labels, logits, axis=None, name: str | None = None,
                                         dim=None) -> Tensor:
    """Like softmax_cross_entropy_with_logits, with gradients into labels too."""
    axis = axis if axis is not None else (dim if dim is not None else -1)
    return _cross_entropy(labels, logits, axis, name, "softmax_cross_entropy_with_logits",
                          labels_gradient=True)


def sparse_softmax_cross_entropy_with_logits(*, labels, logits,
                                             name: str | None = None) -> Tensor:
    """Per-example -log_softmax(logits)[label]: labels are int class indices.

    Written as -sum(one_hot(labels) * log_softmax(logits), -1), an elementwise
    product and a reduction the compiler fuses, rather than a gather; one_hot
    needs the number of classes (the logits' last dim) at build time.
    Out-of-range labels give a loss of 0 here, where TF raises at run time.
    """
    op_type = "SparseSoftmaxCrossEntropyWithLogits"
    x = _input(logits, op_type, name)
    (labels,) = convert_operands([labels])
    with op_errors(op_type, name, op_type, [labels, x]):
        check_dtype(labels.dtype, {dtypes.int32, dtypes.int64}, "labels")
        if x.ndim == 0 or not labels.shape.is_compatible_with(x.shape[:-1]):
            raise ShapeError(f"labels of shape {labels.shape} must match the logits' shape "
                             f"{x.shape} without its last (class) dim")
        if x.shape[-1] is None:
            raise UnsupportedError("the number of classes (the logits' last dim) must be "
                                   "known when the graph is built")
    with x.graph.name_scope(name or op_type) as scope:
        hot = one_hot(labels, x.shape[-1], dtype=x.dtype)
        return ew.negative(reduce_sum(hot * log_softmax(x), -1), name=scope)


def sigmoid_cross_entropy_with_logits(*, labels, logits, name: str | None = None) -> Tensor:
    """Elementwise -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)), computed stably
    as max(x, 0) - x z + log1p(exp(-|x|))."""
    x = _input(logits, "logistic_loss", name)
    z, _ = convert_operands([labels, x])
    with x.graph.name_scope(name or "logistic_loss") as scope:
        return ew.add(relu(x) - x * z, ew.log1p(ew.exp(-ew.abs(x))), name=scope)


def l2_loss(t, name: str | None = None) -> Tensor:
    """sum(t ** 2) / 2, a scalar."""
    x = _input(t, "L2Loss", name)
    with x.graph.name_scope(name or "L2Loss") as scope:
        return ew.multiply(reduce_sum(ew.square(x)), 0.5, name=scope)


# -- normalization ---------------------------------------------------------------

def bias_add(value, bias, data_format: str | None = None, name: str | None = None) -> Tensor:
    """value + bias, bias 1-D over the channels: the last dim, or dim 1 for "NC..." formats."""
    value, bias = convert_operands([value, bias])
    channels_first = isinstance(data_format, str) and data_format.startswith("NC")
    with op_errors("BiasAdd", name, "BiasAdd", [value, bias]):
        if data_format not in (None, "NHWC", "NWC", "NDHWC", "N...C") and not channels_first:
            raise ShapeError(f"unknown data_format {data_format!r}")
        if value.ndim < (3 if channels_first else 1) or bias.ndim != 1:
            raise ShapeError(f"bias must be 1-D and value have a channel dim, got bias of "
                             f"shape {bias.shape} for value of shape {value.shape}")
        channels = value.shape[1] if channels_first else value.shape[-1]
        if not bias.shape.is_compatible_with([channels]):
            raise ShapeError(f"bias of shape {bias.shape} does not match the channel dim "
                             f"({'1' if channels_first else 'last'}) of value, of shape "
                             f"{value.shape}")
    with value.graph.name_scope(name or "BiasAdd") as scope:
        if channels_first:  # [C] -> [C, 1, ..., 1] to broadcast over the spatial dims
            bias = reshape(bias, [-1] + [1] * (value.ndim - 2))
        return ew.add(value, bias, name=scope)


def moments(x, axes, shift=None, keepdims: bool = False, name: str | None = None,
            keep_dims=None) -> tuple[Tensor, Tensor]:
    """(mean, variance) of x over `axes`, variance = mean((x - mean)^2). `shift` is
    accepted and unused, as in TF1, where it no longer changes the result."""
    if keep_dims is not None:
        keepdims = keep_dims
    x = _input(x, "moments", name)
    with x.graph.name_scope(name or "moments"):
        mean = reduce_mean(x, axes, keepdims=True, name="mean")
        # The mean is a constant for the variance's gradient, as in TF: the true
        # gradient through it sums to zero.
        centered = x - stop_gradient(mean)
        variance = reduce_mean(ew.square(centered), axes, keepdims=keepdims, name="variance")
        if not keepdims:
            mean = squeeze(mean, axes)
        return mean, variance


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon,
                        name: str | None = None) -> Tensor:
    """(x - mean) * scale / sqrt(variance + epsilon) + offset (offset, scale may be None),
    folded as x * inv + (offset - mean * inv) so inference needs one multiply-add."""
    x = _input(x, "batchnorm", name)
    mean, variance = convert_operands([mean, variance, x])[:2]
    with x.graph.name_scope(name or "batchnorm") as scope:
        inv = ew.rsqrt(variance + variance_epsilon)
        if scale is not None:
            inv = inv * scale
        shift = -(mean * inv) if offset is None else offset - mean * inv
        return ew.add(x * inv, shift, name=scope)


def standardize(x: Tensor, axes, gamma=None, beta=None, epsilon: float = 1e-5,
                compute_dtype=None, name: str = "Standardize") -> tuple[Tensor, Tensor, Tensor]:
    """(y, mean, inv_std): y = (x - mean) * inv_std * gamma + beta, the statistics taken
    over `axes` (kept as unit dims), inv_std = rsqrt(variance + epsilon); y's op is named
    after the scope.

    The one build of layer and instance normalization: layer_normalization, and ONNX's
    LayerNormalization (which also outputs mean and inv_std, and standardizes in
    `compute_dtype`, y cast back before gamma) and InstanceNormalization (the spatial
    axes, a per-channel gamma and beta).
    """
    x = _input(x, name, name)
    with x.graph.name_scope(name) as scope:
        xc = ew.cast(x, compute_dtype) if compute_dtype is not None else x
        mean, variance = moments(xc, axes, keepdims=True)
        inv_std = ew.rsqrt(variance + epsilon)
        y = ew.cast((xc - mean) * inv_std, x.dtype)
        if gamma is not None:
            y = y * gamma
        y = identity(y, name=scope) if beta is None else ew.add(y, beta, name=scope)
        return y, mean, inv_std


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon: float = 1e-5,
                        name: str = "LayerNorm") -> Tensor:
    """(x - mean) / sqrt(var + epsilon) * gamma + beta over `axis` (default: the last).

    graphjit's own helper: TF1 only has this in tf.contrib.layers.layer_norm, a
    layer with variables; here gamma and beta are given tensors (or None).
    """
    x = _input(x, "LayerNorm", name)
    return standardize(x, axis, gamma, beta, epsilon, name=name or "LayerNorm")[0]


__all__ = [
    "relu", "relu6", "leaky_relu", "elu", "gelu", "softplus", "silu", "swish", "sigmoid",
    "tanh", "softmax", "log_softmax", "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2", "sparse_softmax_cross_entropy_with_logits",
    "sigmoid_cross_entropy_with_logits", "l2_loss", "bias_add", "moments",
    "batch_normalization", "layer_normalization",
]
