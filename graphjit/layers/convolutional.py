"""tf.layers.conv2d, conv2d_transpose, max_pooling2d and average_pooling2d, as TF
1.15's (tensorflow/python/layers/convolutional.py and pooling.py), channels_last."""

from __future__ import annotations

from graphjit.errors import InvalidArgumentError, ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.layers.base import ZEROS, Layer, activate
from graphjit.ops.conv import avg_pool, max_pool
from graphjit.ops.conv import conv2d as nn_conv2d
from graphjit.ops.conv import conv2d_transpose as nn_conv2d_transpose
from graphjit.ops.nn import bias_add
from graphjit.ops.shape_ops import shape
from graphjit.variable_scope import get_variable


def _conv_layer(function: str, inputs, name, reuse, strides, padding, data_format,
                activity_regularizer, kernel_constraint, bias_constraint):
    """The layer, its (stride h, stride w) and the op's padding, the arguments checked."""
    layer = Layer(function, function, inputs, name, reuse)
    layer.unsupported(activity_regularizer=activity_regularizer,
                      kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
    layer.channels_last(data_format)
    layer.floating_inputs(rank=4)
    steps, padding = layer.int_pair(strides, "strides"), layer.padding(padding)
    layer.known_channels()
    return layer, steps, padding


def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid",
           data_format="channels_last", dilation_rate=(1, 1), activation=None, use_bias=True,
           kernel_initializer=None, bias_initializer=ZEROS,
           kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
           kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
           reuse=None) -> Tensor:
    """activation(conv2d(inputs, kernel) + bias) over NHWC images: kernel [kh, kw, in,
    filters] ("conv2d/kernel", glorot_uniform by default), bias [filters] (zeros)."""
    layer, steps, padding = _conv_layer("conv2d", inputs, name, reuse, strides, padding,
                                        data_format, activity_regularizer, kernel_constraint,
                                        bias_constraint)
    x = layer.inputs
    filters = layer.positive_int(filters, "filters")
    kh, kw = layer.int_pair(kernel_size, "kernel_size")
    dilations = layer.int_pair(dilation_rate, "dilation_rate")
    if max(steps) > 1 and max(dilations) > 1:
        raise layer.error(InvalidArgumentError, "strides > 1 not supported in conjunction "
                          "with dilation_rate > 1")
    with layer.scope():
        kernel = get_variable("kernel", [kh, kw, x.shape[3], filters], dtype=x.dtype,
                              initializer=kernel_initializer, regularizer=kernel_regularizer,
                              trainable=trainable)
        bias = get_variable("bias", [filters], dtype=x.dtype, initializer=bias_initializer,
                            regularizer=bias_regularizer, trainable=trainable) \
            if use_bias else None
        outputs = nn_conv2d(x, kernel, strides=steps, padding=padding,
                            dilations=dilations, name="Conv2D")
        if bias is not None:
            outputs = bias_add(outputs, bias, data_format="NHWC")
        return activate(outputs, activation)


def _deconv_length(size: int, k: int, stride: int, padding: str) -> int:
    """TF's conv_utils.deconv_output_length (no output_padding, no dilation)."""
    return size * stride + max(k - stride, 0) if padding == "VALID" else size * stride


def conv2d_transpose(inputs, filters, kernel_size, strides=(1, 1), padding="valid",
                     data_format="channels_last", activation=None, use_bias=True,
                     kernel_initializer=None, bias_initializer=ZEROS,
                     kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                     kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                     reuse=None) -> Tensor:
    """The transposed convolution ("deconvolution") layer: kernel [kh, kw, filters, in]
    ("conv2d_transpose/kernel"), outputs [batch, h * stride (+ max(k - stride, 0) for
    'valid'), ..., filters], plus bias and activation. Height and width must be known
    when the graph is built."""
    layer, (sh, sw), padding = _conv_layer("conv2d_transpose", inputs, name, reuse, strides,
                                           padding, data_format, activity_regularizer,
                                           kernel_constraint, bias_constraint)
    x = layer.inputs
    filters = layer.positive_int(filters, "filters")
    kh, kw = layer.int_pair(kernel_size, "kernel_size")
    if x.shape[1] is None or x.shape[2] is None:
        raise layer.error(UnsupportedError, f"inputs of shape {x.shape}: graphjit needs the "
                          "height and width known when the graph is built")
    out_h, out_w = _deconv_length(x.shape[1], kh, sh, padding), \
        _deconv_length(x.shape[2], kw, sw, padding)
    with layer.scope():
        kernel = get_variable("kernel", [kh, kw, filters, x.shape[3]], dtype=x.dtype,
                              initializer=kernel_initializer, regularizer=kernel_regularizer,
                              trainable=trainable)
        bias = get_variable("bias", [filters], dtype=x.dtype, initializer=bias_initializer,
                            regularizer=bias_regularizer, trainable=trainable) \
            if use_bias else None
        batch = x.shape[0] if x.shape[0] is not None else shape(x)[0]
        outputs = nn_conv2d_transpose(x, kernel, [batch, out_h, out_w, filters],
                                      strides=(1, sh, sw, 1), padding=padding)
        if bias is not None:
            outputs = bias_add(outputs, bias, data_format="NHWC")
        return activate(outputs, activation)


def _pooling(function: str, pool, inputs, pool_size, strides, padding, data_format,
             name) -> Tensor:
    layer = Layer(function, function, inputs, name, None)
    layer.channels_last(data_format)
    x = layer.floating_inputs(rank=4)
    size = layer.int_pair(pool_size, "pool_size")
    steps = layer.int_pair(strides, "strides")
    padding = layer.padding(padding)
    for k, d, what in zip(size, x.shape[1:3], ("height", "width")):
        if padding == "VALID" and d is not None and k > d:
            raise layer.error(ShapeError, f"the pool {what} ({k}) is larger than the inputs' "
                              f"({d}) with padding 'valid'")
    with layer.scope():
        return pool(x, ksize=(1, *size, 1), strides=(1, *steps, 1), padding=padding)


def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last",
                  name=None) -> Tensor:
    """The max of each pool_size window, moved by strides ("max_pooling2d/MaxPool")."""
    return _pooling("max_pooling2d", max_pool, inputs, pool_size, strides, padding,
                    data_format, name)


def average_pooling2d(inputs, pool_size, strides, padding="valid",
                      data_format="channels_last", name=None) -> Tensor:
    """The mean of each window's real cells ("average_pooling2d/AvgPool")."""
    return _pooling("average_pooling2d", avg_pool, inputs, pool_size, strides, padding,
                    data_format, name)


__all__ = ["conv2d", "conv2d_transpose", "max_pooling2d", "average_pooling2d"]
