"""tf.contrib.layers' initializers: `xavier_initializer` and contrib's own
`variance_scaling_initializer` (factor, mode 'FAN_IN'/'FAN_OUT'/'FAN_AVG', uniform),
whose normal draw uses stddev sqrt(1.3 * factor / n), unlike tf.variance_scaling_initializer."""

from __future__ import annotations

import math

from graphjit import dtypes
from graphjit.errors import DTypeError, InvalidArgumentError
from graphjit.ops.state_ops import random_uniform, truncated_normal
from graphjit.variables import Initializer, _fans


class _ContribVarianceScaling(Initializer):
    def __init__(self, factor, mode, uniform, seed, dtype):
        dtype = dtypes.as_dtype(dtype)
        if not dtype.is_floating:
            raise DTypeError(f"Cannot create initializer for non-floating point type {dtype}")
        if mode not in ("FAN_IN", "FAN_OUT", "FAN_AVG"):
            raise InvalidArgumentError(f"Unknown mode {mode} [FAN_IN, FAN_OUT, FAN_AVG]")
        self.factor, self.mode, self.uniform, self.seed, self.dtype = \
            factor, mode, uniform, seed, dtype

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = dtypes.as_dtype(dtype or self.dtype)
        if not dtype.is_floating:
            raise DTypeError(f"Cannot create initializer for non-floating point type {dtype}")
        fan_in, fan_out = _fans(shape) if len(shape) else (1, 1)
        n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2.0}
        variance = self.factor / n[self.mode]
        if self.uniform:
            limit = math.sqrt(3.0 * variance)
            return random_uniform(shape, -limit, limit, dtype, self.seed)
        return truncated_normal(shape, 0.0, math.sqrt(1.3 * variance), dtype, self.seed)


def variance_scaling_initializer(factor=2.0, mode="FAN_IN", uniform=False, seed=None,
                                 dtype=dtypes.float32) -> Initializer:
    """Values of variance factor / n (n the fan_in, fan_out or their mean): uniform in
    [-sqrt(3 var), sqrt(3 var)], or a normal of stddev sqrt(1.3 var) truncated at two
    stddevs. The default is He et al.'s initialization."""
    return _ContribVarianceScaling(factor, mode, uniform, seed, dtype)


def xavier_initializer(uniform=True, seed=None, dtype=dtypes.float32) -> Initializer:
    """Glorot and Bengio's initialization: variance_scaling_initializer(1.0, 'FAN_AVG')."""
    return variance_scaling_initializer(1.0, "FAN_AVG", uniform, seed, dtype)


xavier_initializer_conv2d = xavier_initializer

__all__ = ["variance_scaling_initializer", "xavier_initializer", "xavier_initializer_conv2d"]
