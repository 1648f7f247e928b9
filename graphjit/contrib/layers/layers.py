"""tf.contrib.layers' layer functions, as TF 1.15's: fully_connected and conv2d (relu by
default, variables "fully_connected/weights" and "Conv/biases"), max_pool2d, avg_pool2d,
flatten, batch_norm and dropout.

fully_connected and conv2d make their variables here (contrib names them weights and
biases, and adds them to GraphKeys.MODEL_VARIABLES); the others are tf.layers' code in
contrib's scopes ("BatchNorm/", "MaxPool2D/", "Dropout/").
"""

from __future__ import annotations

import numbers

from graphjit import layers as core_layers
from graphjit.contrib.layers.initializers import xavier_initializer
from graphjit.errors import InvalidArgumentError, ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.layers.base import ZEROS, Layer, choose
from graphjit.ops._util import convert_operands
from graphjit.ops.conv import avg_pool, max_pool
from graphjit.ops.conv import conv2d as nn_conv2d
from graphjit.ops.core import identity
from graphjit.ops.dropout import dropout as nn_dropout
from graphjit.ops.linalg import matmul, tensordot
from graphjit.ops.nn import bias_add, relu
from graphjit.variable_scope import _scopes, get_variable, variable_scope
from graphjit.variables import GraphKeys

_NHWC = (None, "NHWC")


def _collections(variables_collections, which: str) -> list[str]:
    """The collections a contrib variable joins: the global and model variables, and
    the user's (a list for every variable, or a dict by 'weights'/'biases')."""
    extra = variables_collections
    if isinstance(extra, dict):
        extra = extra.get(which)
    if isinstance(extra, str):
        extra = [extra]
    return [GraphKeys.GLOBAL_VARIABLES, GraphKeys.MODEL_VARIABLES, *(extra or [])]


def _outputs(outputs: Tensor, outputs_collections) -> Tensor:
    for key in ([outputs_collections] if isinstance(outputs_collections, str)
                else outputs_collections or []):
        outputs.graph.add_to_collection(key, outputs)
    return outputs


def _weights_and_biases(shape, dtype, weights_initializer, weights_regularizer,
                        biases_initializer, biases_regularizer, use_biases: bool,
                        variables_collections, trainable):
    weights = get_variable("weights", shape, dtype, weights_initializer, weights_regularizer,
                           trainable, collections=_collections(variables_collections,
                                                               "weights"))
    biases = None
    if use_biases:
        biases = get_variable("biases", [shape[-1]], dtype, biases_initializer,
                              biases_regularizer, trainable,
                              collections=_collections(variables_collections, "biases"))
    return weights, biases


def _finish(outputs, biases, normalizer_fn, normalizer_params, activation_fn):
    if biases is not None:
        outputs = bias_add(outputs, biases)
    if normalizer_fn is not None:
        outputs = normalizer_fn(outputs, **(normalizer_params or {}))
    return outputs if activation_fn is None else activation_fn(outputs)


def fully_connected(inputs, num_outputs, activation_fn=relu, normalizer_fn=None,
                    normalizer_params=None, weights_initializer=None,
                    weights_regularizer=None, biases_initializer=ZEROS,
                    biases_regularizer=None, reuse=None, variables_collections=None,
                    outputs_collections=None, trainable=True, scope=None) -> Tensor:
    """activation_fn(normalizer_fn(inputs @ weights + biases)): weights [depth,
    num_outputs] (xavier by default), biases [num_outputs] (none with a normalizer_fn or
    biases_initializer=None), in variable scope "fully_connected" (or `scope`)."""
    (x,) = convert_operands([inputs])
    where = "tf.contrib.layers.fully_connected"
    if not isinstance(num_outputs, numbers.Integral) or isinstance(num_outputs, bool):
        raise InvalidArgumentError(f"{where}: num_outputs type should be one of (int, long), "
                                   f"got {num_outputs!r}")
    if x.shape.unknown_rank or x.ndim < 2 or x.shape[-1] is None:
        raise ShapeError(f"{where}: inputs must have rank >= 2 and a known last dimension, "
                         f"got shape {x.shape}")
    with x.graph.as_default(), variable_scope(scope, default_name="fully_connected",
                                              values=[x], reuse=reuse):
        weights, biases = _weights_and_biases(
            [x.shape[-1], int(num_outputs)], x.dtype,
            weights_initializer or xavier_initializer(), weights_regularizer,
            biases_initializer, biases_regularizer,
            normalizer_fn is None and biases_initializer is not None,
            variables_collections, trainable)
        outputs = tensordot(x, weights, [[x.ndim - 1], [0]]) if x.ndim > 2 \
            else matmul(x, weights)
        outputs = _finish(outputs, biases, normalizer_fn, normalizer_params, activation_fn)
    return _outputs(outputs, outputs_collections)


def _pair(value, what: str, where: str) -> tuple[int, int]:
    items = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(items) != 2 or not all(isinstance(v, numbers.Integral) and v > 0 for v in items):
        raise InvalidArgumentError(f"{where}: {what} must be an int or a pair of positive "
                                   f"ints, got {value!r}")
    return int(items[0]), int(items[1])


def _image_inputs(inputs, data_format, where: str) -> Tensor:
    (x,) = convert_operands([inputs])
    if data_format not in _NHWC:
        raise UnsupportedError(f"{where}: data_format {data_format!r} is not supported: "
                               "graphjit computes images in NHWC")
    if x.shape.unknown_rank or x.ndim != 4:
        raise ShapeError(f"{where}: inputs must be 4-D NHWC images, got shape {x.shape}")
    return x


def conv2d(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None,
           rate=1, activation_fn=relu, normalizer_fn=None, normalizer_params=None,
           weights_initializer=None, weights_regularizer=None,
           biases_initializer=ZEROS, biases_regularizer=None, reuse=None,
           variables_collections=None, outputs_collections=None, trainable=True,
           scope=None) -> Tensor:
    """activation_fn(conv2d(inputs, weights) + biases) over NHWC images: weights [kh, kw,
    in, num_outputs] (xavier), biases [num_outputs], in variable scope "Conv"."""
    where = "tf.contrib.layers.conv2d"
    x = _image_inputs(inputs, data_format, where)
    kh, kw = _pair(kernel_size, "kernel_size", where)
    strides, dilations = _pair(stride, "stride", where), _pair(rate, "rate", where)
    if x.shape[3] is None:
        raise ShapeError(f"{where}: the channels of the inputs must be known, got shape "
                         f"{x.shape}")
    with x.graph.as_default(), variable_scope(scope, default_name="Conv", values=[x],
                                              reuse=reuse):
        weights, biases = _weights_and_biases(
            [kh, kw, x.shape[3], int(num_outputs)], x.dtype,
            weights_initializer or xavier_initializer(), weights_regularizer,
            biases_initializer, biases_regularizer,
            normalizer_fn is None and biases_initializer is not None,
            variables_collections, trainable)
        outputs = nn_conv2d(x, weights, strides=strides, padding=str(padding).upper(),
                            dilations=dilations, name="Conv2D")
        outputs = _finish(outputs, biases, normalizer_fn, normalizer_params, activation_fn)
    return _outputs(outputs, outputs_collections)


convolution2d = conv2d


def _pool(pool, default: str, inputs, kernel_size, stride, padding, data_format,
          outputs_collections, scope) -> Tensor:
    where = f"tf.contrib.layers.{default}"
    x = _image_inputs(inputs, data_format, where)
    kh, kw = _pair(kernel_size, "kernel_size", where)
    sh, sw = _pair(stride, "stride", where)
    with x.graph.as_default(), x.graph.name_scope(scope or default):
        outputs = pool(x, (1, kh, kw, 1), (1, sh, sw, 1), str(padding).upper())
    return _outputs(outputs, outputs_collections)


def max_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format="NHWC",
               outputs_collections=None, scope=None) -> Tensor:
    """The max of each kernel_size window ("MaxPool2D/MaxPool")."""
    return _pool(max_pool, "MaxPool2D", inputs, kernel_size, stride, padding, data_format,
                 outputs_collections, scope)


def avg_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format="NHWC",
               outputs_collections=None, scope=None) -> Tensor:
    """The mean of each kernel_size window ("AvgPool2D/AvgPool")."""
    return _pool(avg_pool, "AvgPool2D", inputs, kernel_size, stride, padding, data_format,
                 outputs_collections, scope)


def flatten(inputs, outputs_collections=None, scope=None) -> Tensor:
    """[batch, ...] -> [batch, k] (tf.layers.flatten in name scope "Flatten")."""
    (x,) = convert_operands([inputs])
    with x.graph.as_default(), x.graph.name_scope(scope or "Flatten"):
        outputs = core_layers.flatten(x)
    return _outputs(outputs, outputs_collections)


def _unique_scope(x: Tensor, scope, default: str, reuse) -> str:
    """The variable scope contrib's variable_scope(scope, default) would open."""
    if scope is not None or reuse:
        return scope or default
    with x.graph.as_default():
        return _scopes(x.graph).unique_name(default)


def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001,
               activation_fn=None, param_initializers=None, param_regularizers=None,
               updates_collections=GraphKeys.UPDATE_OPS, is_training=True, reuse=None,
               variables_collections=None, outputs_collections=None, trainable=True,
               batch_weights=None, fused=None, data_format="NHWC",
               zero_debias_moving_mean=False, scope=None, renorm=False,
               renorm_clipping=None, renorm_decay=0.99, adjustment=None) -> Tensor:
    """tf.layers.batch_normalization over the last axis, with contrib's defaults (decay
    0.999, no gamma unless scale=True) and names ("BatchNorm/beta",
    "BatchNorm/moving_mean"). The moving-average updates go to `updates_collections`;
    with updates_collections=None they run with the output (TF's in-place updates)."""
    where = "tf.contrib.layers.batch_norm"
    for what, value in (("batch_weights", batch_weights), ("variables_collections",
                        variables_collections), ("renorm", renorm or None),
                        ("zero_debias_moving_mean", zero_debias_moving_mean or None)):
        if value is not None:
            raise UnsupportedError(f"{where}: {what} is not supported (got {value!r})")
    if data_format not in _NHWC:
        raise UnsupportedError(f"{where}: data_format {data_format!r} is not supported")
    (x,) = convert_operands([inputs])
    initializers = dict(param_initializers or {})
    regularizers = dict(param_regularizers or {})
    graph = x.graph
    before = len(graph.get_collection(GraphKeys.UPDATE_OPS))
    given = {k: initializers[k] for k in ("beta", "gamma", "moving_mean", "moving_variance")
             if k in initializers}
    name = _unique_scope(x, scope, "BatchNorm", reuse)
    outputs = core_layers.batch_normalization(
        x, axis=-1, momentum=decay, epsilon=epsilon, center=center, scale=scale,
        **{f"{k}_initializer": v for k, v in given.items()},
        beta_regularizer=regularizers.get("beta"), gamma_regularizer=regularizers.get("gamma"),
        training=is_training, trainable=trainable, fused=fused,
        name=name, reuse=reuse)
    updates = graph.get_collection(GraphKeys.UPDATE_OPS)[before:]
    if updates and updates_collections != GraphKeys.UPDATE_OPS:
        del graph.collections[GraphKeys.UPDATE_OPS][before:]
        if updates_collections is None:  # TF: the output waits for the updates
            with graph.as_default(), graph.name_scope(name + "/"), \
                    graph.control_dependencies(updates):
                outputs = identity(outputs)
        else:
            for key in ([updates_collections] if isinstance(updates_collections, str)
                        else updates_collections):
                for update in updates:
                    graph.add_to_collection(key, update)
    if activation_fn is not None:
        outputs = activation_fn(outputs)
    return _outputs(outputs, outputs_collections)


def dropout(inputs, keep_prob=0.5, noise_shape=None, is_training=True,
            outputs_collections=None, scope=None, seed=None) -> Tensor:
    """When is_training (a Python bool or a scalar bool tensor), tf.nn.dropout(inputs,
    keep_prob), else inputs unchanged; in name scope "Dropout"."""
    layer = Layer("dropout", "Dropout", inputs, "Dropout", None)  # (for its checks only)
    x = layer.floating_inputs()
    training = layer.training(is_training)
    with x.graph.as_default(), x.graph.name_scope(scope or "Dropout"):
        outputs = choose(training,
                         lambda: nn_dropout(x, keep_prob, noise_shape=noise_shape, seed=seed),
                         lambda: identity(x))
    return _outputs(outputs, outputs_collections)


__all__ = ["fully_connected", "conv2d", "convolution2d", "max_pool2d", "avg_pool2d",
           "flatten", "batch_norm", "dropout"]
