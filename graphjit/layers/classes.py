"""TF 1.15's layer classes (`tf.layers.Dense(10)(x)`): the functional layers' arguments
given once, the inputs at each call.

The first call names the layer as the functional one would (`dense`, `dense_1`) and
makes its variables in that scope; every later call, in whatever scope it is made,
reenters that scope and reuses them, so one layer object shares its weights between
calls (a GAN's discriminator on real and fake images), as TF's layer objects do.
"""

from __future__ import annotations

from graphjit.errors import InvalidArgumentError, user_source_line
from graphjit.layers import convolutional, core, normalization
from graphjit.ops._util import convert_operands
from graphjit.variable_scope import _scopes, get_variable_scope, variable_scope
from graphjit.variables import global_variables, trainable_variables


class _LayerObject:
    """A layer object calling the functional layer `_function` (default name `_default`);
    `_call_args` are the arguments given at call time rather than construction."""

    _function = None
    _default = ""
    _call_args: tuple[str, ...] = ()
    _makes_variables = False

    def __init__(self, *args, name: str | None = None, **kwargs):
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"tf.layers.{type(self).__name__} at "
                                       f"{user_source_line()}: name must be a string, got "
                                       f"{name!r}")
        self._args, self._kwargs = args, kwargs
        self._given_name = name
        self._outer = None  # the variable scope of the first call
        self._graph = None
        self.name = name or self._default
        self.built = False

    def __call__(self, inputs, **call_kwargs):
        unknown = set(call_kwargs) - set(self._call_args)
        if unknown:
            raise InvalidArgumentError(f"{type(self).__name__} at {user_source_line()}: "
                                       f"unexpected call argument(s) {sorted(unknown)}")
        function = type(self)._function
        (x,) = convert_operands([inputs])
        with x.graph.as_default():
            if not self.built:
                self._outer, self._graph = get_variable_scope(), x.graph
                self.name = self._given_name or _scopes(x.graph).unique_name(self._default)
                out = function(x, *self._args, name=self.name, **self._kwargs, **call_kwargs)
                self.built = True
                return out
            scope = variable_scope(self._outer)
            reuse = {"reuse": True} if self._makes_variables else {}
            with scope:
                return function(x, *self._args, name=self.name, **reuse, **self._kwargs,
                                **call_kwargs)

    apply = __call__

    @property
    def scope_name(self) -> str:
        outer = self._outer.name if self._outer is not None else ""
        return f"{outer}/{self.name}" if outer else self.name

    def _mine(self, variables) -> list:
        prefix = self.scope_name + "/"
        return [v for v in variables if v.op.name.startswith(prefix)]

    @property
    def variables(self) -> list:
        if not self.built:
            return []
        with self._graph.as_default():
            return self._mine(global_variables())

    weights = variables

    @property
    def trainable_variables(self) -> list:
        if not self.built:
            return []
        with self._graph.as_default():
            return self._mine(trainable_variables())

    trainable_weights = trainable_variables

    def _variable(self, name: str):
        found = [v for v in self.variables if v.op.name == f"{self.scope_name}/{name}"]
        return found[0] if found else None

    @property
    def kernel(self):
        return self._variable("kernel")

    @property
    def bias(self):
        return self._variable("bias")


def _layer_class(name: str, function, default: str, call_args=(), variables=False):
    cls = type(name, (_LayerObject,), {"_function": staticmethod(function),
                                       "_default": default, "_call_args": tuple(call_args),
                                       "_makes_variables": variables})
    cls.__doc__ = f"tf.layers.{name}: tf.layers.{function.__name__} as an object."
    cls.__module__ = __name__
    return cls


Dense = _layer_class("Dense", core.dense, "dense", variables=True)
Flatten = _layer_class("Flatten", core.flatten, "flatten")
Dropout = _layer_class("Dropout", core.dropout, "dropout", ("training",))
Conv2D = _layer_class("Conv2D", convolutional.conv2d, "conv2d", variables=True)
Conv2DTranspose = _layer_class("Conv2DTranspose", convolutional.conv2d_transpose,
                               "conv2d_transpose", variables=True)
MaxPooling2D = _layer_class("MaxPooling2D", convolutional.max_pooling2d, "max_pooling2d")
AveragePooling2D = _layer_class("AveragePooling2D", convolutional.average_pooling2d,
                                "average_pooling2d")
BatchNormalization = _layer_class("BatchNormalization", normalization.batch_normalization,
                                  "batch_normalization", ("training",), variables=True)

# TF's aliases
Convolution2D, Convolution2DTranspose = Conv2D, Conv2DTranspose
MaxPool2D, AveragePool2D = MaxPooling2D, AveragePooling2D

__all__ = ["Dense", "Flatten", "Dropout", "Conv2D", "Conv2DTranspose", "MaxPooling2D",
           "AveragePooling2D", "BatchNormalization", "Convolution2D",
           "Convolution2DTranspose", "MaxPool2D", "AveragePool2D"]
