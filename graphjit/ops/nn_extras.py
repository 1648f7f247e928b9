"""More of TF1's tf.nn: softsign, crelu, selu, l2_normalize, local response
normalization, in_top_k, weighted and Poisson losses.

All composites of existing primitives (so autodiff, the optimizer and the compiler
need nothing new), each with TF 1.15's formula, default arguments and op name.
"""

from __future__ import annotations

import math

import numpy as np

from graphjit import dtypes
from graphjit.errors import ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_operands, convert_to_tensor, op_errors
from graphjit.ops.core import constant
from graphjit.ops.linalg import tensordot
from graphjit.ops.nn import _input, relu
from graphjit.ops.reductions import reduce_sum
from graphjit.ops.shape_ops import concat, one_hot, zeros_like

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# -- activations -------------------------------------------------------------------------

def softsign(features, name: str | None = None) -> Tensor:
    """features / (1 + |features|)."""
    x = _input(features, "Softsign", name)
    with x.graph.name_scope(name or "Softsign") as scope:
        return ew.divide(x, ew.abs(x) + 1, name=scope)


def crelu(features, name: str | None = None, axis: int = -1) -> Tensor:
    """concat([relu(x), relu(-x)], axis): both signs kept, the axis doubled."""
    x = _input(features, "CRelu", name)
    with x.graph.name_scope(name or "CRelu") as scope:
        return concat([relu(x), relu(-x)], axis, name=scope)


def selu(features, name: str | None = None) -> Tensor:
    """scale * (x where positive, else alpha * (exp(x) - 1)), TF's self-normalizing
    constants; expm1 sees min(x, 0) so the branch not taken cannot overflow."""
    x = _input(features, "Selu", name)
    with x.graph.name_scope(name or "Selu") as scope:
        negative = ew.expm1(ew.minimum(x, 0)) * _SELU_ALPHA
        return ew.multiply(ew.where(x > 0, x, negative), _SELU_SCALE, name=scope)


# -- normalization -----------------------------------------------------------------------

def l2_normalize(x, axis=None, epsilon: float = 1e-12, name: str | None = None,
                 dim=None) -> Tensor:
    """x / sqrt(max(sum(x**2, axis), epsilon)) (axis None: all axes; `dim` is TF1's
    older spelling)."""
    x = _input(x, "l2_normalize", name)
    axis = dim if axis is None else axis
    with x.graph.name_scope(name or "l2_normalize") as scope:
        square_sum = reduce_sum(ew.square(x), axis, keepdims=True)
        return ew.multiply(x, ew.rsqrt(ew.maximum(square_sum, epsilon)), name=scope)


def local_response_normalization(input, depth_radius: int = 5, bias: float = 1.0,  # noqa: A002
                                 alpha: float = 1.0, beta: float = 0.5,
                                 name: str | None = None) -> Tensor:
    """x / (bias + alpha * sqr_sum) ** beta, sqr_sum the sum of x**2 over the channels
    within depth_radius of each channel (the last axis of a 4-D input).

    The windowed sum is a product with a [C, C] band matrix of ones: one contraction
    the compiler runs as a matmul, whose gradient autodiff derives. C must be static.
    """
    x = _input(input, "LRN", name)
    with op_errors("LRN", name, "LRN", [x]):
        if x.ndim != 4:
            raise ShapeError(f"input must be 4-D [batch, height, width, channels], got "
                             f"shape {x.shape}")
        if x.shape[3] is None:
            raise UnsupportedError("the channels (last dim) must be known when the graph "
                                   "is built")
        if int(depth_radius) != depth_radius or depth_radius < 0:
            raise ShapeError(f"depth_radius must be a non-negative int, got {depth_radius!r}")
    channels, radius = x.shape[3], int(depth_radius)
    index = np.arange(channels)
    band = (np.abs(index[:, None] - index[None, :]) <= radius).astype(x.dtype.np)
    with x.graph.name_scope(name or "LRN") as scope:
        sqr_sum = tensordot(ew.square(x), constant(band, name="band"), [[3], [0]])
        return ew.multiply(x, ew.pow(sqr_sum * alpha + bias, -float(beta)), name=scope)


lrn = local_response_normalization


# -- evaluation --------------------------------------------------------------------------

def in_top_k(predictions, targets, k, name: str | None = None) -> Tensor:
    """Whether each row's target class is among its k largest predictions (bool [batch]).

    TF's tie rule: the target is in when fewer than k classes predict strictly more than
    it, so classes tied at the boundary are all in. A target out of range, or whose
    prediction is not finite, is not in.
    """
    op_type = "InTopKV2"
    p = _input(predictions, op_type, name)
    (t,) = convert_operands([targets])
    with op_errors(op_type, name, op_type, [p, t]):
        if t.dtype not in (dtypes.int32, dtypes.int64):
            raise ShapeError(f"targets must be int32 or int64, got {t.dtype}")
        if p.ndim != 2 or t.ndim != 1 or not t.shape.is_compatible_with(p.shape[:1]):
            raise ShapeError(f"predictions must be [batch, classes] and targets [batch], got "
                             f"{p.shape} and {t.shape}")
        if p.shape[1] is None:
            raise UnsupportedError("the number of classes must be known when the graph is "
                                   "built")
    classes = p.shape[1]
    with p.graph.name_scope(name or "in_top_k") as scope:
        hot = one_hot(t, classes, on_value=True, off_value=False, dtype=dtypes.bool_)
        target_value = reduce_sum(ew.where(hot, p, zeros_like(p)), 1, keepdims=True)
        above = reduce_sum(ew.cast(ew.greater(p, target_value), dtypes.int32), 1)
        k = ew.cast(convert_to_tensor(k), dtypes.int32)
        in_range = ew.logical_and(ew.greater_equal(t, 0), ew.less(t, classes))
        valid = ew.logical_and(in_range, ew.is_finite(target_value[:, 0]))
        return ew.logical_and(valid, ew.less(above, k), name=scope)


# -- losses ------------------------------------------------------------------------------

def weighted_cross_entropy_with_logits(targets=None, logits=None, pos_weight=1.0,
                                       name: str | None = None, labels=None) -> Tensor:
    """Sigmoid cross-entropy with the positive term weighted by pos_weight, computed
    stably as (1 - z) x + (1 + (q - 1) z) (log1p(exp(-|x|)) + max(-x, 0)).
    TF1 calls the labels `targets`; `labels` (TF2's name) is accepted too."""
    z = labels if targets is None else targets
    x = _input(logits, "logistic_loss", name)
    z, q = convert_operands([z, x])[0], convert_operands([pos_weight, x])[0]
    with x.graph.name_scope(name or "logistic_loss") as scope:
        log_weight = (q - 1) * z + 1
        stable = ew.log1p(ew.exp(-ew.abs(x))) + relu(-x)
        return ew.add((1 - z) * x, log_weight * stable, name=scope)


def log_poisson_loss(targets, log_input, compute_full_loss: bool = False,
                     name: str | None = None) -> Tensor:
    """exp(log_input) - log_input * targets, the Poisson negative log-likelihood up to a
    constant; compute_full_loss adds Stirling's approximation of log(targets!) for
    targets above 1 (zero for targets in [0, 1]), as TF."""
    c = _input(log_input, "log_poisson_loss", name)
    z = convert_operands([targets, c])[0]
    with c.graph.name_scope(name or "log_poisson_loss") as scope:
        if not compute_full_loss:
            return ew.subtract(ew.exp(c), c * z, name=scope)
        result = ew.exp(c) - c * z
        # log of a target <= 0 is masked below; max(z, 1) keeps that branch finite so
        # its (unused) gradient is not NaN.
        safe = ew.maximum(z, 1)
        stirling = safe * ew.log(safe) - safe + ew.log(safe * (2 * math.pi)) * 0.5
        small = ew.logical_and(z >= 0, z <= 1)
        return ew.add(result, ew.where(small, zeros_like(z), stirling), name=scope)


__all__ = ["softsign", "crelu", "selu", "l2_normalize", "local_response_normalization", "lrn",
           "in_top_k", "weighted_cross_entropy_with_logits", "log_poisson_loss"]
