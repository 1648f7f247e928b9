"""What every tf.layers function shares: its variable scope, argument checks, errors
and the `training` switch.

TF 1.15's legacy layers open `variable_scope(name, default_name=<layer>)` (or, with
reuse, `variable_scope(name or <layer>, reuse=reuse)`), create their variables there
with get_variable, and build their ops in that scope's name scope. So names are TF's:
"dense/kernel", then "dense_1/kernel"; inside `variable_scope("model")`,
"model/dense/kernel"; `name="fc", reuse=True` shares "fc/kernel" and builds its ops
under "fc_1/".
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

import numpy as np

from graphjit import dtypes
from graphjit.errors import (
    DTypeError,
    InvalidArgumentError,
    ShapeError,
    UnsupportedError,
    user_source_line,
)
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_operands
from graphjit.ops.core import with_rank
from graphjit.variable_scope import _scopes, get_variable_scope, variable_scope
from graphjit.variables import ones_initializer, zeros_initializer

ZEROS, ONES = zeros_initializer(), ones_initializer()  # TF's default arguments


class Layer:
    """One call of a tf.layers function: its name (for errors) and its scope."""

    def __init__(self, function: str, default: str, inputs, name, reuse):
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"tf.layers.{function} at {user_source_line()}: name "
                                       f"must be a string, got {name!r}")
        self.function, self.default, self.reuse = function, default, reuse
        self.given_name = name or None
        (self.inputs,) = convert_operands([inputs])
        graph = self.inputs.graph
        if reuse or self.given_name:
            scope_name = self.given_name or default
        else:
            with graph.as_default():
                scope_name = _scopes(graph).unique_name(default)
        with graph.as_default():
            outer = get_variable_scope().name
        self.name = outer + "/" + scope_name if outer else scope_name

    def error(self, cls, message: str):
        """An error naming the layer function, the layer's scope and the user's line."""
        return cls(f"tf.layers.{self.function} '{self.name}' at {user_source_line()}: "
                   f"{message}")

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """The layer's variable scope and name scope, as TF's legacy Layer opens them."""
        graph = self.inputs.graph
        if self.reuse:
            opened = variable_scope(self.given_name or self.default, reuse=self.reuse)
        else:
            opened = variable_scope(self.given_name, default_name=self.default)
        with graph.as_default(), opened:
            yield

    # -- argument checks ---------------------------------------------------------------
    def floating_inputs(self, min_rank: int | None = None, rank: int | None = None) -> Tensor:
        x = self.inputs
        if not x.dtype.is_floating:
            raise self.error(DTypeError, f"inputs must be floating point, got {x.dtype}")
        if rank is not None and x.ndim != rank:
            raise self.error(ShapeError, f"expected inputs of rank {rank}, got shape {x.shape}")
        if min_rank is not None and x.ndim < min_rank:
            raise self.error(ShapeError, f"expected inputs of rank >= {min_rank}, got shape "
                             f"{x.shape}")
        return x

    def unsupported(self, **arguments) -> None:
        for argument, value in arguments.items():
            if value is not None:
                raise self.error(UnsupportedError, f"{argument} is not supported (got "
                                 f"{value!r})")

    def positive_int(self, value, what: str) -> int:
        if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
                or value <= 0):
            raise self.error(InvalidArgumentError, f"{what} must be a positive integer, "
                             f"got {value!r}")
        return int(value)

    def int_pair(self, value, what: str) -> tuple[int, int]:
        """An int n -> (n, n), or a tuple/list of 2 positive ints (TF's normalize_tuple)."""
        items = (value, value) if isinstance(value, numbers.Integral) else value
        try:
            items = tuple(items)
        except TypeError:
            items = ()
        if len(items) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(
                v, bool) and v > 0 for v in items):
            raise self.error(InvalidArgumentError, f"the `{what}` argument must be an int or "
                             f"a tuple of 2 positive integers, got {value!r}")
        return int(items[0]), int(items[1])

    def padding(self, padding) -> str:
        """'valid' or 'same', any case (TF's normalize_padding); the op's 'VALID'/'SAME'."""
        value = padding.lower() if isinstance(padding, str) else padding
        if value not in ("valid", "same"):
            raise self.error(InvalidArgumentError, "the `padding` argument must be 'valid' or "
                             f"'same', got {padding!r}")
        return value.upper()

    def channels_last(self, data_format) -> None:
        value = data_format.lower() if isinstance(data_format, str) else data_format
        if value == "channels_first":
            raise self.error(UnsupportedError, "data_format 'channels_first' is not supported:"
                             " graphjit computes images in NHWC (use channels_last, or "
                             "transpose the inputs to [batch, height, width, channels])")
        if value != "channels_last":
            raise self.error(InvalidArgumentError, "the `data_format` argument must be "
                             f"'channels_last' or 'channels_first', got {data_format!r}")

    def known_channels(self, axis: int = -1) -> int:
        channels = self.inputs.shape[axis]
        if channels is None:
            raise self.error(ShapeError, "the channel dimension of the inputs should be "
                             f"defined, found None (inputs of shape {self.inputs.shape})")
        return channels

    def training(self, training):
        """True or False when known when the graph is built (a Python or NumPy bool, 0 or
        1, a constant; None is Keras' learning phase, False unless fed), else the scalar
        bool tensor that chooses at run time (TF's smart_cond)."""
        if training is None:
            return False
        if isinstance(training, (bool, np.bool_)):
            return bool(training)
        if isinstance(training, numbers.Integral) and training in (0, 1):
            return bool(training)
        if not isinstance(training, Tensor):
            raise self.error(InvalidArgumentError, "training must be a Python bool or a "
                             f"scalar bool tensor, got {training!r}")
        if training.dtype != dtypes.bool_:
            raise self.error(DTypeError, f"training must be a bool tensor, got "
                             f"'{training.name}' of dtype {training.dtype}")
        if training.shape.unknown_rank:  # an is_training placeholder made without a shape
            training = with_rank(training, 0, "training")
        if training.ndim != 0:
            raise self.error(ShapeError, f"training must be a scalar, got '{training.name}'"
                             f" of shape {training.shape}")
        if training.op.type == "Const":
            return bool(training.op.attrs["value"])
        return training


def activate(outputs: Tensor, activation) -> Tensor:
    """`activation(outputs)`, in the layer's name scope ("dense/Relu"), if given."""
    return outputs if activation is None else activation(outputs)


def choose(training, if_training, otherwise, name: str | None = None) -> Tensor:
    """smart_cond without a cond: the branch itself when `training` is a Python bool, else
    a Select of both (both are computed; the run-time flag picks one)."""
    if isinstance(training, bool):
        return if_training() if training else otherwise()
    return ew.where(training, if_training(), otherwise(), name=name)


__all__: list[str] = []
