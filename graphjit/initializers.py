"""`tf.initializers`: TF 1.15's initializer namespace (`tf.initializers.he_normal()`),
and variance scaling, the family Glorot/Xavier, He and LeCun initializers belong to.

The classes are the tf.*_initializer ones (graphjit.variables); this module adds
`variance_scaling_initializer` (also `tf.variance_scaling_initializer`) and TF's short
names for all of them.
"""

from __future__ import annotations

import math

from graphjit import dtypes
from graphjit.errors import InvalidArgumentError
from graphjit.ops import state_ops
from graphjit.unsupported import module_getattr as _module_getattr
from graphjit.variables import (
    Initializer,
    _fans,
    constant_initializer,
    global_variables_initializer,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    ones_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    truncated_normal_initializer,
    variables_initializer,
    zeros_initializer,
)

_TRUNCATED_STDDEV = 0.87962566103423978  # stddev of a unit normal truncated at 2 sigma


class variance_scaling_initializer(Initializer):  # noqa: N801 - TF's name
    """Values of variance scale / n, n the fan_in, fan_out or their mean (`mode`):
    a truncated normal (rescaled so its stddev is right; "normal" is TF's older
    name for it), a plain normal ("untruncated_normal") or a uniform distribution."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 dtype=dtypes.float32):
        if scale <= 0:
            raise InvalidArgumentError(f"variance_scaling_initializer: scale must be positive, "
                                       f"got {scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise InvalidArgumentError(f"variance_scaling_initializer: invalid mode {mode!r}")
        if distribution not in ("normal", "truncated_normal", "untruncated_normal",
                                "uniform"):
            raise InvalidArgumentError(f"variance_scaling_initializer: invalid distribution "
                                       f"{distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        scale = self.scale / max(1.0, n[self.mode])
        dtype = dtype or self.dtype
        if self.distribution in ("normal", "truncated_normal"):
            stddev = math.sqrt(scale) / _TRUNCATED_STDDEV
            return state_ops.truncated_normal(shape, 0.0, stddev, dtype, self.seed)
        if self.distribution == "untruncated_normal":
            return state_ops.random_normal(shape, 0.0, math.sqrt(scale), dtype, self.seed)
        limit = math.sqrt(3.0 * scale)
        return state_ops.random_uniform(shape, -limit, limit, dtype, self.seed)


def he_normal(seed=None) -> variance_scaling_initializer:
    return variance_scaling_initializer(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed=None) -> variance_scaling_initializer:
    return variance_scaling_initializer(2.0, "fan_in", "uniform", seed)


def lecun_normal(seed=None) -> variance_scaling_initializer:
    return variance_scaling_initializer(1.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(seed=None) -> variance_scaling_initializer:
    return variance_scaling_initializer(1.0, "fan_in", "uniform", seed)


zeros = zeros_initializer
ones = ones_initializer
constant = constant_initializer
random_normal = random_normal_initializer
random_uniform = random_uniform_initializer
truncated_normal = truncated_normal_initializer
glorot_normal = glorot_normal_initializer
glorot_uniform = glorot_uniform_initializer
variance_scaling = variance_scaling_initializer
global_variables = global_variables_initializer
variables = variables_initializer

__getattr__ = _module_getattr(__name__, "tf.initializers")
