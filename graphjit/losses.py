"""`tf.losses`: TF 1.15's loss functions (tensorflow/python/ops/losses/losses_impl.py).

Each computes per-element losses, weights them (`weights` a scalar or a tensor that
broadcasts to the losses: same rank, each dim 1 or the losses'), reduces them, and
adds the result to GraphKeys.LOSSES, where get_total_loss finds it. The default
reduction, SUM_BY_NONZERO_WEIGHTS, is the weighted sum divided by the number of
losses whose weight is not 0 (0 when there are none). As in TF, the weighting is done
in float32 and the result cast back to the losses' dtype, and the regression losses
cast labels and predictions to float32 first.
"""

from __future__ import annotations

from graphjit import dtypes
from graphjit.errors import InvalidArgumentError, ShapeError, user_source_line
from graphjit.graph import Tensor, TensorShape, get_default_graph
from graphjit.ops import elementwise as ew
from graphjit.ops import nn
from graphjit.ops._util import convert_operands, graph_of
from graphjit.ops.core import constant, identity, stop_gradient
from graphjit.ops.reductions import reduce_sum
from graphjit.ops.shape_ops import ones_like, shape, size, squeeze, zeros_like
from graphjit.variables import GraphKeys, get_collection


class Reduction:
    """How compute_weighted_loss reduces the weighted losses (TF's tf.losses.Reduction)."""

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE,
                cls.SUM_OVER_NONZERO_WEIGHTS, cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key) -> None:
        if key not in cls.all():
            raise InvalidArgumentError(f"Invalid Reduction Key {key!r} (at "
                                       f"{user_source_line()}); one of {cls.all()}")


_DEFAULT = Reduction.SUM_BY_NONZERO_WEIGHTS


def _error(cls, function: str, message: str):
    return cls(f"tf.losses.{function} at {user_source_line()}: {message}")


# -- weighting and reducing -----------------------------------------------------------

def _check_weights(function: str, weights: Tensor, losses: Tensor) -> None:
    """TF's assert_broadcastable, at build time: a scalar, or the losses' rank with each
    dim 1 or the losses' (a dim unknown on either side passes)."""
    if weights.ndim == 0:
        return
    fits = weights.ndim == losses.ndim and all(
        w is None or w == 1 or d is None or w == d for w, d in zip(weights.shape, losses.shape))
    if not fits:
        raise _error(ShapeError, function, f"weights can not be broadcast to values. "
                     f"values.rank={losses.ndim}. weights.rank={weights.ndim}. "
                     f"values.shape={losses.shape}. weights.shape={weights.shape}.")


def _div_no_nan(total: Tensor, count: Tensor, name: str) -> Tensor:
    """total / count, 0 where count is 0 (tf.div_no_nan), no NaN in the gradient."""
    empty = ew.equal(count, 0.0)
    return ew.where(empty, zeros_like(total), total / ew.where(empty, ones_like(count), count),
                    name=name)


def _num_present(losses: Tensor, weights: Tensor) -> Tensor:
    """How many losses have a weight that is not 0."""
    with losses.graph.name_scope("num_present") as scope:
        present = ew.where(ew.equal(weights, 0.0), zeros_like(weights), ones_like(weights))
        present = present * ones_like(losses)
        return reduce_sum(present, name=scope)


def _num_elements(losses: Tensor) -> Tensor:
    with losses.graph.name_scope("num_elements"):
        return ew.cast(size(losses), losses.dtype)


def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=GraphKeys.LOSSES,
                          reduction=_DEFAULT) -> Tensor:
    """losses * weights, reduced as `reduction` says, added to `loss_collection`."""
    return _weighted("compute_weighted_loss", losses, weights, scope, loss_collection,
                     reduction)


def _weighted(function: str, losses, weights, scope, loss_collection, reduction) -> Tensor:
    Reduction.validate(reduction)
    losses, weights = convert_operands([losses, weights], graph=graph_of(losses, weights))
    _check_weights(function, weights, losses)
    input_dtype = losses.dtype
    graph = losses.graph
    with graph.as_default(), graph.name_scope(scope or "weighted_loss"):
        losses = ew.cast(losses, dtypes.float32)
        weights = ew.cast(weights, dtypes.float32)
        weighted = ew.multiply(losses, weights)
        if reduction == Reduction.NONE:
            loss = weighted
        else:
            loss = reduce_sum(weighted)
            if reduction == Reduction.MEAN:
                loss = _div_no_nan(loss, reduce_sum(ones_like(losses) * weights), "value")
            elif reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
                loss = _div_no_nan(loss, _num_present(losses, weights), "value")
            elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
                loss = _div_no_nan(loss, _num_elements(losses), "value")
        loss = ew.cast(loss, input_dtype)
        add_loss(loss, loss_collection)
        return loss


def _regression(function: str, labels, predictions):
    """(labels, predictions) as float32 tensors of compatible shapes, in their scope."""
    if labels is None or predictions is None:
        raise _error(InvalidArgumentError, function, "labels and predictions must not be None")
    labels, predictions = convert_operands([labels, predictions],
                                           graph=graph_of(labels, predictions))
    if not predictions.shape.is_compatible_with(labels.shape):
        raise _error(ShapeError, function, f"predictions of shape {predictions.shape} and "
                     f"labels of shape {labels.shape} are incompatible")
    with labels.graph.as_default():
        return ew.cast(labels, dtypes.float32), ew.cast(predictions, dtypes.float32)


def _loss(function: str, default_scope: str, scope, tensors, per_element, weights,
          loss_collection, reduction) -> Tensor:
    """Open the loss's scope, compute the per-element losses, weight and reduce them."""
    graph = graph_of(*[t for t in tensors if t is not None])
    with graph.as_default(), graph.name_scope(scope or default_scope) as opened:
        losses = per_element()
        return _weighted(function, losses, weights, opened, loss_collection, reduction)


# -- the losses ----------------------------------------------------------------------

def absolute_difference(labels, predictions, weights=1.0, scope=None,
                        loss_collection=GraphKeys.LOSSES, reduction=_DEFAULT) -> Tensor:
    """|predictions - labels|, weighted and reduced."""
    def losses():
        y, p = _regression("absolute_difference", labels, predictions)
        return ew.abs(p - y)
    return _loss("absolute_difference", "absolute_difference", scope, [labels, predictions],
                 losses, weights, loss_collection, reduction)


def mean_squared_error(labels, predictions, weights=1.0, scope=None,
                       loss_collection=GraphKeys.LOSSES, reduction=_DEFAULT) -> Tensor:
    """(predictions - labels)^2, weighted and reduced."""
    def losses():
        y, p = _regression("mean_squared_error", labels, predictions)
        return ew.square(p - y)
    return _loss("mean_squared_error", "mean_squared_error", scope, [labels, predictions],
                 losses, weights, loss_collection, reduction)


def huber_loss(labels, predictions, weights=1.0, delta=1.0, scope=None,
               loss_collection=GraphKeys.LOSSES, reduction=_DEFAULT) -> Tensor:
    """0.5 e^2 where |e| <= delta, else 0.5 delta^2 + delta (|e| - delta), e = p - y."""
    def losses():
        y, p = _regression("huber_loss", labels, predictions)
        error = ew.abs(p - y)
        quadratic = ew.minimum(error, delta)
        return 0.5 * quadratic * quadratic + delta * (error - quadratic)
    return _loss("huber_loss", "huber_loss", scope, [labels, predictions], losses, weights,
                 loss_collection, reduction)


def log_loss(labels, predictions, weights=1.0, epsilon=1e-7, scope=None,
             loss_collection=GraphKeys.LOSSES, reduction=_DEFAULT) -> Tensor:
    """-y log(p + epsilon) - (1 - y) log(1 - p + epsilon), p a probability."""
    def losses():
        y, p = _regression("log_loss", labels, predictions)
        return -(y * ew.log(p + epsilon)) - (1 - y) * ew.log(1 - p + epsilon)
    return _loss("log_loss", "log_loss", scope, [labels, predictions], losses, weights,
                 loss_collection, reduction)


def hinge_loss(labels, logits, weights=1.0, scope=None, loss_collection=GraphKeys.LOSSES,
               reduction=_DEFAULT) -> Tensor:
    """max(0, 1 - (2 y - 1) logits), labels y in {0, 1}."""
    def losses():
        y, x = _regression("hinge_loss", labels, logits)
        return nn.relu(1 - (2 * y - 1) * x)
    return _loss("hinge_loss", "hinge_loss", scope, [labels, logits], losses, weights,
                 loss_collection, reduction)


def cosine_distance(labels, predictions, axis=None, weights=1.0, scope=None,
                    loss_collection=GraphKeys.LOSSES, reduction=_DEFAULT, dim=None) -> Tensor:
    """1 - sum(labels * predictions, axis) (both unit-normalized by the caller), the
    axis kept as a dim of 1, as TF's."""
    axis = dim if axis is None else axis
    if axis is None:
        raise _error(InvalidArgumentError, "cosine_distance", "you must specify 'axis'")

    def losses():
        y, p = _regression("cosine_distance", labels, predictions)
        return 1 - reduce_sum(p * y, axis, keepdims=True)
    return _loss("cosine_distance", "cosine_distance_loss", scope, [labels, predictions],
                 losses, weights, loss_collection, reduction)


def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0,
                          scope=None, loss_collection=GraphKeys.LOSSES,
                          reduction=_DEFAULT) -> Tensor:
    """Elementwise sigmoid cross-entropy of logits; label_smoothing s moves the labels
    to y (1 - s) + s / 2."""
    def losses():
        x, y = _logits_and_labels("sigmoid_cross_entropy", logits, multi_class_labels)
        if label_smoothing > 0:
            y = y * (1 - label_smoothing) + 0.5 * label_smoothing
        return nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x, name="xentropy")
    return _loss("sigmoid_cross_entropy", "sigmoid_cross_entropy_loss", scope,
                 [logits, multi_class_labels], losses, weights, loss_collection, reduction)


def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=GraphKeys.LOSSES, reduction=_DEFAULT) -> Tensor:
    """Per-example -sum(labels * log_softmax(logits)); label_smoothing s moves the labels
    to y (1 - s) + s / classes. No gradient flows into the labels."""
    def losses():
        x, y = _logits_and_labels("softmax_cross_entropy", logits, onehot_labels)
        if label_smoothing > 0:
            classes = ew.cast(shape(y)[-1], x.dtype)
            y = y * (1.0 - label_smoothing) + label_smoothing / classes
        y = stop_gradient(y, name="labels_stop_gradient")
        return nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=x, name="xentropy")
    return _loss("softmax_cross_entropy", "softmax_cross_entropy_loss", scope,
                 [logits, onehot_labels], losses, weights, loss_collection, reduction)


def _logits_and_labels(function: str, logits, labels) -> tuple[Tensor, Tensor]:
    (x,) = convert_operands([logits])
    with x.graph.as_default():
        (y,) = convert_operands([labels], graph=x.graph)
        y = ew.cast(y, x.dtype)
    if not x.shape.is_compatible_with(y.shape):
        raise _error(ShapeError, function, f"logits of shape {x.shape} and labels of shape "
                     f"{y.shape} are incompatible")
    return x, y


def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None,
                                 loss_collection=GraphKeys.LOSSES,
                                 reduction=_DEFAULT) -> Tensor:
    """Per-example -log_softmax(logits)[label], labels int class ids of the logits' shape
    without the class dim (a trailing dim of 1 on labels or weights is squeezed)."""
    function = "sparse_softmax_cross_entropy"
    graph = graph_of(labels, logits, weights)
    with graph.as_default():
        labels, logits, weights = (convert_operands([t], graph=graph)[0]
                                   for t in (labels, logits, weights))
    if labels.ndim == logits.ndim:  # TF's remove_squeezable_dimensions
        if labels.shape[-1] not in (None, 1):
            raise _error(ShapeError, function, f"labels of shape {labels.shape} must have "
                         f"the shape of logits ({logits.shape}) without its last dim")
        with graph.as_default():
            labels = squeeze(labels, [-1])
    if weights.ndim == labels.ndim + 1:
        with graph.as_default():
            weights = squeeze(weights, [-1])

    def losses():
        return nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits,
                                                           name="xentropy")
    return _loss(function, "sparse_softmax_cross_entropy_loss", scope, [labels, logits],
                 losses, weights, loss_collection, reduction)


# -- the losses collection ---------------------------------------------------------------

def add_loss(loss, loss_collection=GraphKeys.LOSSES) -> None:
    """Add `loss` to `loss_collection` (none if it is None or empty)."""
    if loss_collection:
        graph = loss.graph if isinstance(loss, Tensor) else get_default_graph()
        graph.add_to_collection(loss_collection, loss)


def get_losses(scope=None, loss_collection=GraphKeys.LOSSES) -> list:
    return get_collection(loss_collection, scope)


def get_regularization_losses(scope=None) -> list:
    return get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name="total_regularization_loss") -> Tensor:
    """The sum of the regularization losses (a constant 0.0 when there are none)."""
    losses = get_regularization_losses(scope)
    return _add_n(losses, name) if losses else constant(0.0)


def get_total_loss(add_regularization_losses=True, name="total_loss", scope=None) -> Tensor:
    """The sum of GraphKeys.LOSSES (and, by default, of the regularization losses)."""
    losses = get_losses(scope)
    if add_regularization_losses:
        losses = losses + get_regularization_losses(scope)
    if not losses:
        raise _error(InvalidArgumentError, "get_total_loss", "there are no losses to add: "
                     "none in GraphKeys.LOSSES"
                     + (" or GraphKeys.REGULARIZATION_LOSSES" if add_regularization_losses
                        else ""))
    return _add_n(losses, name)


def _add_n(tensors: list, name: str) -> Tensor:
    """tf.add_n: the sum of same-shape tensors, its op named `name`."""
    tensors = convert_operands(tensors)
    for t in tensors[1:]:
        if not TensorShape(t.shape).is_compatible_with(tensors[0].shape):
            raise _error(ShapeError, "get_total_loss", f"cannot add losses of shapes "
                         f"{tensors[0].shape} and {t.shape} ('{t.name}')")
    graph = tensors[0].graph
    with graph.as_default():
        if len(tensors) == 1:
            return identity(tensors[0], name=name)
        total = tensors[0]
        for t in tensors[1:-1]:
            total = ew.add(total, t)
        return ew.add(total, tensors[-1], name=name)


__all__ = ["Reduction", "compute_weighted_loss", "absolute_difference", "mean_squared_error",
           "huber_loss", "log_loss", "hinge_loss", "cosine_distance", "sigmoid_cross_entropy",
           "softmax_cross_entropy", "sparse_softmax_cross_entropy", "add_loss", "get_losses",
           "get_regularization_losses", "get_regularization_loss", "get_total_loss"]

from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.losses")
