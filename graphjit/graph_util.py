"""Training graph -> inference graph: variables frozen into constants (TF's freeze_graph).

`freeze(sess, fetches)` copies only what `fetches` need from the session's
graph, with every variable replaced by a constant holding its current value in
`sess`. What only training needs (gradients, optimizer slots and updates,
initializers, the global step) is not needed by the fetches, so it is left
behind; the result is an ordinary stateless graph that `compile`, `Session` and
`optimize` take, with the same op names (feeding placeholders by name works).
`convert_variables_to_constants` is TF1's spelling of the same thing.
"""

from __future__ import annotations

import numpy as np

from graphjit.errors import UnsupportedError
from graphjit.feeds import flatten_fetches
from graphjit.graph import Graph, Operation, Tensor
from graphjit.graph_queries import data_dependencies
from graphjit.ops.state_ops import read_variable
from graphjit.passes.constant_folding import DEFAULT_MAX_FOLDED_BYTES
from graphjit.passes.rebuild import PassContext, Rewriter
from graphjit.registry import get_op_def

# Collections that describe training state: they make no sense in a frozen graph.
_TRAINING_COLLECTIONS = ("variables", "trainable_variables", "train_op", "global_step")


def freeze(sess, fetches, graph: Graph | None = None):
    """(frozen graph, `fetches` as tensors/ops of it): variables become constants with
    their values in `sess`; only what `fetches` need is kept.

    `fetches` is a tensor, op, name or a nested structure of them, as for
    `Session.run`. Raises FailedPreconditionError naming a needed variable that
    `sess` never initialized.
    """
    graph = graph or sess.graph
    leaves, rebuild = flatten_fetches(graph, fetches)
    frozen, mapping = _freeze(sess, graph, leaves)
    return frozen, rebuild([mapping[leaf] for leaf in leaves])


def convert_variables_to_constants(sess, input_graph_def, output_node_names,
                                   variable_names_whitelist=None,
                                   variable_names_blacklist=None) -> Graph:
    """TF1's graph_util.convert_variables_to_constants on a graphjit Graph: the ops
    named in `output_node_names` and what they need, variables made constants."""
    if variable_names_whitelist is not None or variable_names_blacklist is not None:
        raise UnsupportedError("convert_variables_to_constants: every needed variable is "
                               "frozen; white/blacklists are not supported")
    graph = input_graph_def if isinstance(input_graph_def, Graph) else sess.graph
    outputs = [graph.get_operation_by_name(name) for name in output_node_names]
    return _freeze(sess, graph, outputs)[0]


def _freeze(sess, graph: Graph, leaves: list) -> tuple[Graph, dict]:
    fetch_ops = [leaf.op if isinstance(leaf, Tensor) else leaf for leaf in leaves]
    for op in fetch_ops:
        if "write_state" in get_op_def(op.type).extra:
            raise UnsupportedError(f"cannot freeze '{op.name}': it assigns a variable "
                                   "(fetch what you want to infer, not training updates)")
    # Data edges only: with every variable a constant, ordering by control edges no
    # longer matters (and what they order, the training updates, is what freezing leaves
    # behind).
    needed = data_dependencies(fetch_ops)
    rw = Rewriter(graph, PassContext(list(leaves), [], DEFAULT_MAX_FOLDED_BYTES), "freeze")
    for op in graph.get_operations():
        if op not in needed:
            continue
        if op.type == "VariableV2":
            value = np.array(read_variable(sess.state, op), copy=True)
            value.flags.writeable = False
            rw.fold(op, value)
        elif "write_state" in get_op_def(op.type).extra:
            # A value read from an Assign is the value it would store.
            rw.alias(op, [rw.get(op.inputs[1])], "drop assign")
        else:
            rw.copy(op)
    result = rw.finish()
    frozen = result.graph
    for key in _TRAINING_COLLECTIONS:
        frozen.collections.pop(key, None)
    mapping = {leaf: result.op_map[leaf] if isinstance(leaf, Operation)
               else result.tensor_map[leaf] for leaf in leaves}
    return frozen, mapping


__all__ = ["freeze", "convert_variables_to_constants"]
