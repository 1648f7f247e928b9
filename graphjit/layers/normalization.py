"""tf.layers.batch_normalization, as TF 1.15's (Keras' BatchNormalization in graph mode).

Training normalizes with the batch's mean and (biased) variance and makes two update
ops, in GraphKeys.UPDATE_OPS, that move moving_mean and moving_variance toward them:
`var -= (var - batch value) * (1 - momentum)`. A training program runs them with
`with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):`. Inference
normalizes with the moving averages. As in TF, 4-D inputs normalized over their
channels (axis 1 or 3, fused=None or True) take TF's fused kernel's arithmetic: the
moving variance moves toward the batch variance with Bessel's correction (n / (n - 1),
n the values per channel) and epsilon is at least 1.001e-5.
"""

from __future__ import annotations

import numbers

from graphjit import dtypes
from graphjit.errors import InvalidArgumentError, ShapeError
from graphjit.graph import Tensor
from graphjit.layers.base import ONES, ZEROS, Layer, choose
from graphjit.ops import elementwise as ew
from graphjit.ops.core import constant
from graphjit.ops.nn import batch_normalization as nn_batch_normalization
from graphjit.ops.nn import moments
from graphjit.ops.shape_ops import reshape, size
from graphjit.ops.state_ops import assign_sub
from graphjit.variable_scope import get_variable
from graphjit.variables import GraphKeys

_FUSED_MIN_EPSILON = 1.001e-5  # tf.nn.fused_batch_norm raises smaller ones to this


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                        beta_initializer=ZEROS,
                        gamma_initializer=ONES,
                        moving_mean_initializer=ZEROS,
                        moving_variance_initializer=ONES,
                        beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                        gamma_constraint=None, training=False, trainable=True, name=None,
                        reuse=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                        fused=None, virtual_batch_size=None, adjustment=None) -> Tensor:
    """(inputs - mean) / sqrt(variance + epsilon) * gamma + beta over `axis` (the
    channels), with variables gamma (ones), beta (zeros), moving_mean (zeros) and
    moving_variance (ones, these two not trainable), named "batch_normalization/gamma"...

    `training` is a Python bool or a scalar bool tensor (e.g. an is_training
    placeholder); with a tensor, a Select picks the batch or the moving statistics each
    run, and the update ops leave the moving averages unchanged when it is False.
    """
    layer = Layer("batch_normalization", "batch_normalization", inputs, name, reuse)
    layer.unsupported(beta_constraint=beta_constraint, gamma_constraint=gamma_constraint,
                      renorm_clipping=renorm_clipping, virtual_batch_size=virtual_batch_size,
                      adjustment=adjustment, renorm=renorm or None)
    x = layer.floating_inputs(min_rank=1)
    axis = _axis(layer, axis, x.ndim)
    channels = x.shape[axis]
    if channels is None:
        raise layer.error(ShapeError, f"input has undefined `axis` dimension (axis {axis} "
                          f"of inputs of shape {x.shape})")
    if not isinstance(momentum, numbers.Real) or not isinstance(epsilon, numbers.Real):
        raise layer.error(InvalidArgumentError, "momentum and epsilon must be numbers, got "
                          f"{momentum!r} and {epsilon!r}")
    training = layer.training(training)
    fused = fused is not False and x.ndim == 4 and axis in (1, 3)
    if fused:
        epsilon = max(epsilon, _FUSED_MIN_EPSILON)
    dtype = dtypes.float32 if x.dtype == dtypes.float16 else x.dtype  # the variables'
    reduction = [i for i in range(x.ndim) if i != axis]
    with layer.scope():
        def variable(name, initializer, regularizer=None, trainable=trainable):
            return get_variable(name, [channels], dtype=dtype, initializer=initializer,
                                regularizer=regularizer, trainable=trainable)
        gamma = variable("gamma", gamma_initializer, gamma_regularizer) if scale else None
        beta = variable("beta", beta_initializer, beta_regularizer) if center else None
        moving_mean = variable("moving_mean", moving_mean_initializer, trainable=False)
        moving_variance = variable("moving_variance", moving_variance_initializer,
                                   trainable=False)
        if training is False:
            mean, variance = moving_mean, moving_variance
        else:
            batch_mean, batch_variance = moments(ew.cast(x, dtype), reduction)
            mean = choose(training, lambda: batch_mean, lambda: moving_mean)
            variance = choose(training, lambda: batch_variance, lambda: moving_variance)
            observed = _bessel_corrected(x, batch_variance, channels) if fused \
                else batch_variance
            updates = [_moving_average(moving_mean, mean, momentum),
                       _moving_average(moving_variance,
                                       choose(training, lambda: observed,
                                              lambda: moving_variance), momentum)]
            for update in updates:
                x.graph.add_to_collection(GraphKeys.UPDATE_OPS, update)
        statistics = [ew.cast(t, x.dtype) if t is not None else None
                      for t in (mean, variance, beta, gamma)]
        if axis != x.ndim - 1:  # [C] -> [1, C, 1, ...] to broadcast over the other axes
            statistics = [t if t is None else reshape(t, [channels if i == axis else 1
                                                          for i in range(x.ndim)])
                          for t in statistics]
        return nn_batch_normalization(x, *statistics, variance_epsilon=epsilon)


def _axis(layer: Layer, axis, rank: int) -> int:
    if isinstance(axis, (list, tuple)) and len(axis) == 1:
        axis = axis[0]
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise layer.error(InvalidArgumentError, "axis must be an int (graphjit normalizes "
                          f"over one axis), got {axis!r}")
    if not -rank <= axis < rank:
        raise layer.error(InvalidArgumentError, f"invalid axis {axis} for inputs of rank "
                          f"{rank}")
    return int(axis) % rank


def _bessel_corrected(x: Tensor, variance: Tensor, channels: int) -> Tensor:
    """variance * n / (n - 1), n = values per channel (TF's fused kernel: n - 1 >= 1)."""
    n = ew.cast(size(x), variance.dtype) / channels
    return variance * (n / ew.maximum(n - 1, 1))


def _moving_average(variable, value: Tensor, momentum: float) -> Tensor:
    """TF's _assign_moving_average: variable -= (variable - value) * (1 - momentum)."""
    with variable.graph.name_scope("AssignMovingAvg") as scope:
        decay = constant(1.0 - momentum, dtype=variable.dtype, name="decay")
        delta = (variable - ew.cast(value, variable.dtype)) * decay
        return assign_sub(variable, delta, name=scope)


__all__ = ["batch_normalization"]
