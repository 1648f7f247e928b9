"""tf.contrib.layers' regularizers: functions of a weights tensor giving a scalar penalty
(for get_variable's `regularizer=`, contrib layers' `weights_regularizer=`), and
`apply_regularization`, which sums them into GraphKeys.REGULARIZATION_LOSSES."""

from __future__ import annotations

import numbers

from graphjit.errors import InvalidArgumentError, ShapeError
from graphjit.graph import Tensor, get_default_graph
from graphjit.losses import _add_n
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_to_tensor
from graphjit.ops.core import constant
from graphjit.ops.nn import l2_loss
from graphjit.ops.reductions import reduce_sum
from graphjit.variables import GraphKeys


def _check_scale(scale, what: str) -> bool:
    """Whether the regularizer does anything (a scale of 0 makes it return None, as TF)."""
    if isinstance(scale, numbers.Integral) and not isinstance(scale, bool):
        raise InvalidArgumentError(f"scale cannot be an integer: {scale}")
    if isinstance(scale, numbers.Real):
        if scale < 0.0:
            raise InvalidArgumentError(f"Setting a scale less than 0 on a regularizer: "
                                       f"{scale}.")
        return scale != 0.0
    return True


def _scaled(scale, penalty, default: str, scope):
    def regularizer(weights, name=None):
        with weights.graph.as_default(), weights.graph.name_scope(scope or default) as name:
            my_scale = convert_to_tensor(scale, dtype=weights.dtype, name="scale")
            return ew.multiply(my_scale, penalty(weights), name=name)
    return regularizer


def l1_regularizer(scale, scope=None):
    """weights -> scale * sum(|weights|) (None when scale is 0)."""
    if not _check_scale(scale, "l1"):
        return lambda _: None
    return _scaled(scale, lambda w: reduce_sum(ew.abs(w)), "l1_regularizer", scope)


def l2_regularizer(scale, scope=None):
    """weights -> scale * sum(weights ** 2) / 2, tf.nn.l2_loss scaled (None when scale is 0)."""
    if not _check_scale(scale, "l2"):
        return lambda _: None
    return _scaled(scale, l2_loss, "l2_regularizer", scope)


def sum_regularizer(regularizer_list, scope=None):
    """weights -> the sum of what each regularizer of the list gives."""
    regularizers = [r for r in regularizer_list if r is not None]

    def regularizer(weights):
        with weights.graph.as_default(), \
                weights.graph.name_scope(scope or "sum_regularizer") as name:
            penalties = [p for p in (r(weights) for r in regularizers) if p is not None]
            return _add_n(penalties, name) if penalties else None
    return regularizer


def l1_l2_regularizer(scale_l1=1.0, scale_l2=1.0, scope=None):
    """weights -> scale_l1 * sum(|w|) + scale_l2 * sum(w ** 2) / 2."""
    if isinstance(scale_l1, numbers.Real) and isinstance(scale_l2, numbers.Real):
        if scale_l1 == 0 and scale_l2 == 0:
            return lambda _: None
        if scale_l1 == 0:
            return l2_regularizer(scale_l2, scope)
        if scale_l2 == 0:
            return l1_regularizer(scale_l1, scope)
    return sum_regularizer([l1_regularizer(scale_l1), l2_regularizer(scale_l2)],
                           scope=scope or "l1_l2_regularizer")


def apply_regularization(regularizer, weights_list=None) -> Tensor:
    """The sum of regularizer(w) over weights_list (default: GraphKeys.WEIGHTS), added to
    GraphKeys.REGULARIZATION_LOSSES and returned ("get_regularization_penalty")."""
    graph = get_default_graph()
    if not weights_list:
        weights_list = graph.get_collection(GraphKeys.WEIGHTS)
    if not weights_list:
        raise InvalidArgumentError("No weights to regularize.")
    with graph.name_scope("get_regularization_penalty") as scope:
        penalties = [regularizer(w) for w in weights_list]
        penalties = [p if p is not None else constant(0.0) for p in penalties]
        for p in penalties:
            if p.ndim != 0:
                raise ShapeError(f"regularizer must return a scalar Tensor instead of a Tensor "
                                 f"with rank {p.ndim}.")
        total = _add_n(penalties, scope)
    graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, total)
    return total


__all__ = ["l1_regularizer", "l2_regularizer", "l1_l2_regularizer", "sum_regularizer",
           "apply_regularization"]
