"""tf.layers.dense, flatten and dropout, as TF 1.15's (tensorflow/python/layers/core.py)."""

from __future__ import annotations

from graphjit.errors import ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.layers.base import ZEROS, Layer, activate, choose
from graphjit.ops.core import identity
from graphjit.ops.dropout import dropout as nn_dropout
from graphjit.ops.linalg import matmul, tensordot
from graphjit.ops.nn import bias_add
from graphjit.ops.shape_ops import reshape
from graphjit.variable_scope import get_variable


def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None,
          bias_initializer=ZEROS, kernel_regularizer=None, bias_regularizer=None,
          activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
          trainable=True, name=None, reuse=None) -> Tensor:
    """activation(inputs @ kernel + bias), kernel [last dim, units] ("dense/kernel",
    glorot_uniform unless the scope or kernel_initializer says otherwise), bias [units]
    ("dense/bias", zeros). Inputs of rank > 2 are contracted over their last dim."""
    layer = Layer("dense", "dense", inputs, name, reuse)
    layer.unsupported(activity_regularizer=activity_regularizer,
                      kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
    x = layer.floating_inputs(min_rank=2)
    units = layer.positive_int(units, "units")
    if x.shape[-1] is None:
        raise layer.error(ShapeError, "the last dimension of the inputs to `Dense` should be "
                          f"defined, found None (inputs of shape {x.shape})")
    with layer.scope():
        kernel = get_variable("kernel", [x.shape[-1], units], x.dtype, kernel_initializer,
                              kernel_regularizer, trainable)
        bias = get_variable("bias", [units], x.dtype, bias_initializer, bias_regularizer,
                            trainable) if use_bias else None
        if x.ndim > 2:
            outputs = tensordot(x, kernel, [[x.ndim - 1], [0]])
        else:
            outputs = matmul(x, kernel)
        if bias is not None:
            outputs = bias_add(outputs, bias)
        return activate(outputs, activation)


def flatten(inputs, name=None, data_format="channels_last") -> Tensor:
    """[batch, ...] -> [batch, product of the other dims] ("flatten/Reshape"). graphjit
    needs either the batch dim or all the others known when the graph is built."""
    layer = Layer("flatten", "flatten", inputs, name, None)
    layer.channels_last(data_format)
    x = layer.inputs
    if x.ndim < 1:
        raise layer.error(ShapeError, "inputs must have a batch dim, got a scalar")
    rest = x.shape[1:]
    if rest.is_fully_defined():
        target = [-1, rest.num_elements()]
    elif x.shape[0] is not None:
        target = [x.shape[0], -1]
    else:
        raise layer.error(UnsupportedError, f"inputs of shape {x.shape}: graphjit reshapes to "
                          "static shapes, so the batch dim or all the others must be known")
    with layer.scope():
        return reshape(x, target)


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False,
            name=None) -> Tensor:
    """When training, tf.nn.dropout(inputs, rate=rate): each value is kept with
    probability 1 - rate and scaled by 1 / (1 - rate); else inputs unchanged.

    `training` is a Python bool or a scalar bool tensor (e.g. a placeholder); with a
    tensor both results are built and a Select picks one each run, where TF uses a
    cond. noise_shape entries of None take the inputs' dims, as TF's.
    """
    layer = Layer("dropout", "dropout", inputs, name, None)
    x = layer.floating_inputs()
    training = layer.training(training)
    with layer.scope():
        return choose(training,
                      lambda: nn_dropout(x, noise_shape=noise_shape, seed=seed, rate=rate),
                      lambda: identity(x))


__all__ = ["dense", "flatten", "dropout"]
