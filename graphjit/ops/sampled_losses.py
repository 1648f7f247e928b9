"""tf.nn.nce_loss and tf.nn.sampled_softmax_loss, as TF 1.15's: losses over the true
classes and num_sampled candidate classes (a log-uniform draw unless `sampled_values`
are given) instead of all num_classes, for large vocabularies (word2vec).

Composites: candidate sampling is the one primitive (graphjit.ops.candidate_sampling);
the logits are embedding lookups of the weights and biases, a matmul and a row-wise
product, corrected by log(expected count) as TF's _compute_sampled_logits does.
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import ShapeError
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_to_tensor, op_errors
from graphjit.ops.candidate_sampling import log_uniform_candidate_sampler
from graphjit.ops.core import stop_gradient
from graphjit.ops.embedding import embedding_lookup
from graphjit.ops.linalg import matmul
from graphjit.ops.nn import (
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
)
from graphjit.ops.reductions import reduce_any, reduce_sum
from graphjit.ops.shape_ops import concat, expand_dims, ones_like, reshape, zeros_like

_FLOAT_MAX = float(np.finfo(np.float32).max)  # what TF subtracts from accidental hits


def _sampled_logits(where, weights, biases, labels, inputs, num_sampled, num_classes,
                    num_true, sampled_values, subtract_log_q, remove_accidental_hits,
                    partition_strategy, seed) -> tuple[Tensor, Tensor]:
    """(logits [batch, num_true + num_sampled], labels of the same shape: 1 / num_true
    for the true classes, 0 for the sampled ones)."""
    tables = list(weights) if isinstance(weights, (list, tuple)) else [weights]
    tables = [convert_to_tensor(w) for w in tables]
    inputs = convert_to_tensor(inputs)
    labels = convert_to_tensor(labels)
    with op_errors(where, None, where, [inputs, labels]):
        if inputs.ndim != 2 or labels.ndim != 2 or tables[0].ndim != 2:
            raise ShapeError(f"inputs must be [batch, dim], labels [batch, num_true] and "
                             f"weights [num_classes, dim]; got {inputs.shape}, "
                             f"{labels.shape} and {tables[0].shape}")
        if labels.shape[1] not in (None, num_true):
            raise ShapeError(f"labels have {labels.shape[1]} classes per row; num_true is "
                             f"{num_true}")
    dim = tables[0].shape[1]
    labels = ew.cast(labels, dtypes.int64)
    labels_flat = reshape(labels, [-1])
    if sampled_values is None:
        sampled_values = log_uniform_candidate_sampler(labels, num_true, num_sampled, True,
                                                       num_classes, seed=seed)
    sampled, true_expected, sampled_expected = (stop_gradient(s) for s in sampled_values)
    sampled = ew.cast(sampled, dtypes.int64)
    sampled_w = embedding_lookup(tables, sampled, partition_strategy)
    true_w = reshape(embedding_lookup(tables, labels_flat, partition_strategy),
                     [-1, num_true, dim])
    sampled_logits = matmul(inputs, sampled_w, transpose_b=True)
    true_logits = reduce_sum(expand_dims(inputs, 1) * true_w, -1)  # [batch, num_true]
    if biases is not None:
        true_logits += reshape(embedding_lookup(biases, labels_flat, partition_strategy),
                               [-1, num_true])
        sampled_logits += embedding_lookup(biases, sampled, partition_strategy)
    if remove_accidental_hits:  # a sampled class that is a true one counts for nothing
        hits = reduce_any(ew.equal(expand_dims(labels, 2), reshape(sampled, [1, 1, -1])), 1)
        sampled_logits += ew.where(hits, ew.cast(-_FLOAT_MAX + zeros_like(sampled_logits),
                                                 sampled_logits.dtype),
                                   zeros_like(sampled_logits))
    if subtract_log_q:
        true_logits -= ew.log(ew.cast(true_expected, true_logits.dtype))
        sampled_logits -= ew.log(ew.cast(sampled_expected, sampled_logits.dtype))
    logits = concat([true_logits, sampled_logits], 1)
    targets = concat([ones_like(true_logits) / num_true, zeros_like(sampled_logits)], 1)
    return logits, targets


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, partition_strategy="mod",
             name="nce_loss") -> Tensor:
    """Noise-contrastive estimation loss per example ([batch]): sigmoid cross-entropy
    of the true classes' logits against 1 / num_true and the sampled classes' against 0,
    summed per row. `weights` [num_classes, dim] (or a list of partitions), `biases`
    [num_classes], `labels` int [batch, num_true], `inputs` [batch, dim]."""
    inputs = convert_to_tensor(inputs)
    with inputs.graph.as_default(), inputs.graph.name_scope(name or "nce_loss") as scope:
        logits, targets = _sampled_logits("nce_loss", weights, biases, labels, inputs,
                                          num_sampled, num_classes, num_true, sampled_values,
                                          True, remove_accidental_hits, partition_strategy,
                                          None)
        losses = sigmoid_cross_entropy_with_logits(labels=targets, logits=logits,
                                                   name="sampled_losses")
        return reduce_sum(losses, 1, name=scope)


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes,
                         num_true=1, sampled_values=None, remove_accidental_hits=True,
                         partition_strategy="mod", name="sampled_softmax_loss",
                         seed=None) -> Tensor:
    """Softmax cross-entropy per example ([batch]) over the true classes and the sampled
    ones only (sampled classes that are true ones removed by default), arguments as
    nce_loss's."""
    inputs = convert_to_tensor(inputs)
    with inputs.graph.as_default(), \
            inputs.graph.name_scope(name or "sampled_softmax_loss") as scope:
        logits, targets = _sampled_logits("sampled_softmax_loss", weights, biases, labels,
                                          inputs, num_sampled, num_classes, num_true,
                                          sampled_values, True, remove_accidental_hits,
                                          partition_strategy, seed)
        return softmax_cross_entropy_with_logits_v2(labels=stop_gradient(targets),
                                                    logits=logits, name=scope)


__all__ = ["nce_loss", "sampled_softmax_loss"]
