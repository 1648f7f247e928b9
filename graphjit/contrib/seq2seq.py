"""`tf.contrib.seq2seq.sequence_loss` as TF 1.15's: the weighted cross-entropy of
[batch, time, classes] logits against [batch, time] int targets, averaged (or summed
over the nonzero weights) across time steps and/or the batch. TF1's RNN tutorials train
character models with it; the rest of tf.contrib.seq2seq (decoders, attention) is not
here and raises UnsupportedNameError."""

from __future__ import annotations

from graphjit.errors import ShapeError
from graphjit.ops._util import convert_operands
from graphjit.unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(__name__, "tf.contrib.seq2seq")


def sequence_loss(logits, targets, weights, average_across_timesteps=True,
                  average_across_batch=True, sum_over_timesteps=False, sum_over_batch=False,
                  softmax_loss_function=None, name=None):
    """A scalar, [batch] or [time] loss (TF 1.15's modes; each average divides by the
    summed weights and each sum by the count of nonzero weights, 0 where that is 0)."""
    from graphjit import nn
    from graphjit.losses import _div_no_nan
    from graphjit.ops.elementwise import cast
    from graphjit.ops.math_ops import count_nonzero
    from graphjit.ops.reductions import reduce_sum
    from graphjit.ops.shape_ops import reshape

    logits, = convert_operands([logits])
    targets, weights = convert_operands([targets, weights])
    if logits.ndim != 3:
        raise ShapeError(f"sequence_loss: logits must be [batch, time, classes], got "
                         f"shape {logits.shape}")
    if targets.ndim != 2 or weights.ndim != 2:
        raise ShapeError(f"sequence_loss: targets and weights must be [batch, time], got "
                         f"shapes {targets.shape} and {weights.shape}")
    if average_across_timesteps and sum_over_timesteps:
        raise ValueError("average_across_timesteps and sum_over_timesteps cannot be set "
                         "to True at the same time")
    if average_across_batch and sum_over_batch:
        raise ValueError("average_across_batch and sum_over_batch cannot be set to True "
                         "at the same time")
    with logits.graph.name_scope(name or "sequence_loss"):
        if softmax_loss_function is None:
            crossent = nn.sparse_softmax_cross_entropy_with_logits(labels=targets,
                                                                   logits=logits)
        else:
            flat = softmax_loss_function(labels=reshape(targets, [-1]),
                                         logits=reshape(logits, [-1, logits.shape[-1]]))
            steps = logits.shape[1]
            crossent = reshape(flat, [-1, steps] if steps is not None
                               else [logits.shape[0], -1])
        crossent = crossent * weights
        if average_across_timesteps and average_across_batch:
            return _div_no_nan(reduce_sum(crossent), reduce_sum(weights), "value")
        if sum_over_timesteps and sum_over_batch:
            count = cast(count_nonzero(weights), crossent.dtype)
            return _div_no_nan(reduce_sum(crossent), count, "value")
        if average_across_timesteps or average_across_batch:  # TF 1.15's order
            axes = [0] if average_across_batch else [1]
            return _div_no_nan(reduce_sum(crossent, axes), reduce_sum(weights, axes), "value")
        if sum_over_timesteps or sum_over_batch:
            axes = [0] if sum_over_batch else [1]
            count = cast(count_nonzero(weights, axes), crossent.dtype)
            return _div_no_nan(reduce_sum(crossent, axes), count, "value")
        return crossent
