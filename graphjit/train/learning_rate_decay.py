"""TF1's learning-rate schedules (tf.train.exponential_decay and friends) as graph ops.

Each returns a scalar tensor computed from `global_step` at run time, so passing it
as an optimizer's learning rate decays the rate as `minimize(global_step=...)`
counts steps. They are TF 1.15's formulas built from ordinary ops (differentiable in
the learning rate and the other float arguments, as TF's), computed in the learning
rate's dtype, with TF's names (the result of exponential_decay is
"ExponentialDecay:0"). piecewise_constant picks its value with `where` rather than
TF's `case`, which gives the same value without a branch.
"""

from __future__ import annotations

import math

from graphjit.errors import InvalidArgumentError, user_source_line
from graphjit.graph import Tensor, get_default_graph
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_to_tensor


def _float(value, dtype, name):
    return ew.cast(convert_to_tensor(value, name=name), dtype)


def _decayed(schedule, default_name, learning_rate, global_step, name, build):
    """`build(lr, step, scope)` in the schedule's name scope, the step cast to the learning
    rate's dtype; build names its result after the scope, as TF does."""
    if global_step is None:
        raise InvalidArgumentError(f"{schedule} at {user_source_line()}: global_step is "
                                   f"required for {schedule}")
    graph = next((v.graph for v in (learning_rate, global_step) if isinstance(v, Tensor)),
                 get_default_graph())
    with graph.as_default(), graph.name_scope(name or default_name) as scope:
        lr = convert_to_tensor(learning_rate, name="learning_rate")
        if not lr.dtype.is_floating:
            raise InvalidArgumentError(f"{schedule} at {user_source_line()}: the learning "
                                       f"rate must be a float, got {lr.dtype}")
        step = ew.cast(convert_to_tensor(global_step), lr.dtype)
        return build(lr, step, scope)


def _progress(step, decay_steps, lr, staircase: bool) -> Tensor:
    """global_step / decay_steps, floored when the schedule is a staircase."""
    p = step / _float(decay_steps, lr.dtype, "decay_steps")
    return ew.floor(p) if staircase else p


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate,
                      staircase: bool = False, name=None) -> Tensor:
    """lr * decay_rate ^ (global_step / decay_steps), the exponent floored if staircase."""
    def build(lr, step, scope):
        p = _progress(step, decay_steps, lr, staircase)
        return ew.multiply(lr, ew.pow(_float(decay_rate, lr.dtype, "decay_rate"), p),
                           name=scope)
    return _decayed("exponential_decay", "ExponentialDecay", learning_rate, global_step,
                    name, build)


def natural_exp_decay(learning_rate, global_step, decay_steps, decay_rate,
                      staircase: bool = False, name=None) -> Tensor:
    """lr * exp(-decay_rate * global_step / decay_steps) (the ratio floored if staircase)."""
    def build(lr, step, scope):
        p = _progress(step, decay_steps, lr, staircase)
        exponent = ew.exp(ew.negative(_float(decay_rate, lr.dtype, "decay_rate")) * p)
        return ew.multiply(lr, exponent, name=scope)
    return _decayed("natural_exp_decay", "NaturalExpDecay", learning_rate, global_step,
                    name, build)


def inverse_time_decay(learning_rate, global_step, decay_steps, decay_rate,
                       staircase: bool = False, name=None) -> Tensor:
    """lr / (1 + decay_rate * global_step / decay_steps) (the ratio floored if staircase)."""
    def build(lr, step, scope):
        p = _progress(step, decay_steps, lr, staircase)
        denom = 1.0 + _float(decay_rate, lr.dtype, "decay_rate") * p
        return ew.divide(lr, denom, name=scope)
    return _decayed("inverse_time_decay", "InverseTimeDecay", learning_rate, global_step,
                    name, build)


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001,
                     power=1.0, cycle: bool = False, name=None) -> Tensor:
    """(lr - end) * (1 - step / decay_steps) ^ power + end, the step capped at decay_steps;
    with cycle, decay_steps grows to the first multiple of itself at or above the step."""
    def build(lr, step, scope):
        end = _float(end_learning_rate, lr.dtype, "end_learning_rate")
        steps = _float(decay_steps, lr.dtype, "decay_steps")
        if cycle:
            multiplier = ew.where(ew.equal(step, 0.0), 1.0, ew.ceil(step / steps))
            steps = steps * multiplier
        else:
            step = ew.minimum(step, steps)
        p = step / steps
        decayed = (lr - end) * ew.pow(1.0 - p, _float(power, lr.dtype, "power"))
        return ew.add(decayed, end, name=scope)
    return _decayed("polynomial_decay", "PolynomialDecay", learning_rate, global_step,
                    name, build)


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0, name=None) -> Tensor:
    """lr * ((1 - alpha) * (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2 + alpha)."""
    def build(lr, step, scope):
        steps = _float(decay_steps, lr.dtype, "decay_steps")
        fraction = ew.minimum(step, steps) / steps
        cosine = 0.5 * (1.0 + ew.cos(math.pi * fraction))
        a = _float(alpha, lr.dtype, "alpha")
        return ew.multiply(lr, (1.0 - a) * cosine + a, name=scope)
    return _decayed("cosine_decay", "CosineDecay", learning_rate, global_step, name, build)


def linear_cosine_decay(learning_rate, global_step, decay_steps, num_periods=0.5,
                        alpha=0.0, beta=0.001, name=None) -> Tensor:
    """lr * ((alpha + linear) * cosine + beta): linear = (decay_steps - step) / decay_steps,
    cosine = (1 + cos(2 pi num_periods step / decay_steps)) / 2, step capped at decay_steps."""
    def build(lr, step, scope):
        steps = _float(decay_steps, lr.dtype, "decay_steps")
        step = ew.minimum(step, steps)
        linear = (steps - step) / steps
        fraction = 2.0 * _float(num_periods, lr.dtype, "num_periods") * (step / steps)
        cosine = 0.5 * (1.0 + ew.cos(math.pi * fraction))
        decayed = (_float(alpha, lr.dtype, "alpha") + linear) * cosine \
            + _float(beta, lr.dtype, "beta")
        return ew.multiply(lr, decayed, name=scope)
    return _decayed("linear_cosine_decay", "LinearCosineDecay", learning_rate, global_step,
                    name, build)


def piecewise_constant(x, boundaries, values, name=None) -> Tensor:
    """values[0] while x <= boundaries[0], values[i] while boundaries[i-1] < x <=
    boundaries[i], values[-1] after the last boundary (TF's piecewise_constant)."""
    boundaries, values = list(boundaries), list(values)
    if len(values) != len(boundaries) + 1:
        raise InvalidArgumentError(
            f"piecewise_constant at {user_source_line()}: {len(values)} values for "
            f"{len(boundaries)} boundaries; there must be one value more than boundaries")
    graph = next((v.graph for v in [x, *boundaries, *values] if isinstance(v, Tensor)),
                 get_default_graph())
    with graph.as_default(), graph.name_scope(name or "PiecewiseConstant") as scope:
        x = convert_to_tensor(x)
        values = [convert_to_tensor(v) for v in values]
        dtypes_found = {str(v.dtype) for v in values}
        if len(dtypes_found) > 1:
            raise InvalidArgumentError(
                f"piecewise_constant at {user_source_line()}: the values must share one "
                f"dtype, got {', '.join(sorted(dtypes_found))}")
        bounds = [b if isinstance(b, Tensor) and b.dtype == x.dtype
                  else ew.cast(convert_to_tensor(b), x.dtype) for b in boundaries]
        result = values[-1]
        for i in reversed(range(len(bounds))):
            result = ew.where(ew.less_equal(x, bounds[i]), values[i], result,
                              name=scope if i == 0 else None)
        return result


__all__ = ["exponential_decay", "natural_exp_decay", "inverse_time_decay",
           "polynomial_decay", "cosine_decay", "linear_cosine_decay", "piecewise_constant"]
