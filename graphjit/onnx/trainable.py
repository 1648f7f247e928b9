"""Trainable imports: ONNX initializers as graphjit Variables (import_model's `trainable`).

By default every initializer is a constant, which is what inference wants: the
importer folds with them and the compiler packs constant weights into its
matmul kernels (graphjit.lower.packed_matmul takes Const weights only). To
fine-tune an imported model the TF1 way, `trainable` makes initializers
Variables named after them, initialized to their values and in the
GLOBAL_VARIABLES and TRAINABLE_VARIABLES collections as tf.Variable would put
them, so `optimizer.minimize(loss)` trains them (their matmuls go through BLAS).

Only float32 and float64 tensors can be variables. A variable's value is not
known at import, so an initializer some converter needs the value of when the
graph is built (a Reshape's shape, Resize's scales, Pad's pads, a Split's
sizes...) must stay a constant:

- `trainable=True` means "every float32/float64 initializer some node reads as
  data": the import is tried with all of them, and each one a converter turns
  out to need the value of is silently kept constant and the import retried;
  `graph.kept_constant` says which and why.
- `trainable=[names]` is exact: a named initializer a converter needs the value
  of is an error naming it and the node, as is a name that is no float
  initializer of the model's main graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from graphjit.errors import GraphError
from graphjit.onnx.convert import StaticValueRequired

TRAINABLE_TYPES = (np.float32, np.float64)


def variable(name: str, value: np.ndarray):
    """The Variable an initializer becomes: named exactly after it, its value the initial one."""
    from graphjit.variables import Variable
    value = np.array(value, order="C")  # (ascontiguousarray makes a scalar 1-D)
    return Variable(value, name=name + "/", dtype=value.dtype)


def trainable_import(model, trainable, static_inputs: dict,
                     build: Callable[[frozenset], object]):
    """`build(names)` (the importer with `names` as variables) under import_model's
    `trainable` option: see the module docstring."""
    if trainable is False or trainable is None:
        return build(frozenset())
    if trainable is True:
        names, explicit = _data_initializers(model, static_inputs), False
    else:
        names, explicit = _named(model, trainable, static_inputs), True
    kept: dict[str, str] = {}
    while True:
        try:
            graph = build(frozenset(names))
        except StaticValueRequired as exc:
            needed = sorted(name for name, kind in exc.needs
                            if kind == "value" and name in names)
            if not needed:
                raise
            reason = str(exc).split("; graphjit.onnx.backend")[0]
            if explicit:
                raise GraphError(
                    f"import_model(trainable=...): initializer '{needed[0]}' cannot be "
                    "trainable: its value is needed when the graph is built, so it must "
                    f"stay a constant (leave it out of trainable): {reason}") from None
            for name in needed:
                names.discard(name)
                kept[name] = reason
            continue
        graph.kept_constant = kept
        return graph


def _data_initializers(model, static_inputs: dict) -> set[str]:
    """The main graph's float32/float64 initializers that some node (or subgraph) reads."""
    read = _read_names(model.graph)
    return {init.name for init in model.graph.initializer
            if init.name in read and init.name not in static_inputs
            and _np_type(init) in TRAINABLE_TYPES}


def _named(model, trainable, static_inputs: dict) -> set[str]:
    if isinstance(trainable, (str, bytes)) or not isinstance(trainable, Iterable):
        raise TypeError("import_model(trainable=...) takes True, False or a list of "
                        f"initializer names, got {trainable!r:.60}")
    inits = {init.name: init for init in model.graph.initializer}
    names = set()
    for name in trainable:
        init = inits.get(name)
        if init is None:
            raise GraphError(f"import_model(trainable=...): '{name}' is not an initializer of "
                             f"the model's main graph (it has {len(inits)}: "
                             f"{', '.join(sorted(inits)[:8])}{', ...' if len(inits) > 8 else ''})")
        if name in static_inputs:
            raise GraphError(f"import_model(trainable=...): initializer '{name}' is also given "
                             "a value in static_inputs; a constant cannot be trainable")
        if _np_type(init) not in TRAINABLE_TYPES:
            raise GraphError(f"import_model(trainable=...): initializer '{name}' is "
                             f"{_type_name(init)}; only float32 and float64 initializers can "
                             "be trainable variables")
        names.add(name)
    return names


def _np_type(init):
    from onnx import helper
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(init.data_type)).type
    except (KeyError, TypeError, ValueError):
        return None


def _type_name(init) -> str:
    from onnx import TensorProto
    return TensorProto.DataType.Name(init.data_type).lower()


def _read_names(graph) -> set[str]:
    """Every value name a node of `graph` or of its subgraphs reads."""
    read = set()
    for node in graph.node:
        read.update(node.input)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                read |= _read_names(sub)
    return read
