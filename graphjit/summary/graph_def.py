"""A TensorFlow `GraphDef` of a graphjit graph, for TensorBoard's graph tab.

One NodeDef per op: its name, its op type, its inputs as TF writes them ("x" for an
op's first output, "x:1" for others, "^x" for a control input), its attrs where they
have an AttrValue form (ints, floats, bools, strings, dtypes, shapes, lists of
numbers, and constants of at most MAX_CONST_ELEMENTS elements as tensors: a large
constant would make the event file as large as the model) and `_output_shapes`, which
TensorBoard labels edges with. The op types are graphjit's, which are mostly TF's.

The protobuf classes are the tensorboard package's copies of TF's: graphjit.summary
imports this module only once it has checked that the extra is installed.
"""

from __future__ import annotations

import numbers

import numpy as np
from tensorboard.compat.proto import (
    attr_value_pb2,
    graph_pb2,
    node_def_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
    versions_pb2,
)

from graphjit.dtypes import DType, as_dtype
from graphjit.graph import Graph, Tensor, TensorShape

MAX_CONST_ELEMENTS = 1024
_TF_NAMES = {"float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE"}


def _data_type(dtype: DType) -> int:
    return types_pb2.DataType.Value(_TF_NAMES.get(dtype.name, "DT_" + dtype.name.upper()))


def _shape(shape) -> tensor_shape_pb2.TensorShapeProto:
    if getattr(shape, "unknown_rank", False):  # tf.placeholder(tf.float32): TF's unknown_rank
        return tensor_shape_pb2.TensorShapeProto(unknown_rank=True)
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else int(d))
            for d in shape]
    return tensor_shape_pb2.TensorShapeProto(dim=dims)


def _tensor(array: np.ndarray) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=_data_type(as_dtype(array.dtype)),
                                   tensor_shape=_shape(array.shape))
    if array.dtype.hasobject:  # strings
        proto.string_val.extend(array.reshape(-1).tolist())
    else:
        proto.tensor_content = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")
                                                                  ).tobytes()
    return proto


def attr_value(value) -> attr_value_pb2.AttrValue | None:
    """The AttrValue of an op attr, or None where it has no simple one."""
    AttrValue = attr_value_pb2.AttrValue  # noqa: N806
    if isinstance(value, (bool, np.bool_)):
        return AttrValue(b=bool(value))
    if isinstance(value, numbers.Integral):
        return AttrValue(i=int(value))
    if isinstance(value, numbers.Real):
        return AttrValue(f=float(value))
    if isinstance(value, str):
        return AttrValue(s=value.encode())
    if isinstance(value, DType):
        return AttrValue(type=_data_type(value))
    if isinstance(value, TensorShape):
        return AttrValue(shape=_shape(value))
    if isinstance(value, (tuple, list)) and value \
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        if all(isinstance(v, numbers.Integral) for v in value):
            return AttrValue(list=AttrValue.ListValue(i=[int(v) for v in value]))
        return AttrValue(list=AttrValue.ListValue(f=[float(v) for v in value]))
    if isinstance(value, np.ndarray) and value.size <= MAX_CONST_ELEMENTS:
        return AttrValue(tensor=_tensor(value))
    return None


def _input_name(t: Tensor) -> str:
    return t.op.name if t.value_index == 0 else f"{t.op.name}:{t.value_index}"


def graph_def(graph: Graph, add_shapes: bool = True) -> graph_pb2.GraphDef:
    """The GraphDef protobuf (tensorboard's copy of TF's) of every op of `graph`, with
    `_output_shapes` unless `add_shapes` is False."""
    nodes = []
    for op in graph.get_operations():
        attrs = {}
        for key, value in op.attrs.items():
            proto = attr_value(value)
            if proto is not None:
                attrs[key] = proto
        if op.outputs and add_shapes:
            shapes = [_shape(t.shape) for t in op.outputs]
            attrs["_output_shapes"] = attr_value_pb2.AttrValue(
                list=attr_value_pb2.AttrValue.ListValue(shape=shapes))
        inputs = [_input_name(t) for t in op.inputs] + [f"^{c.name}" for c in op.control_inputs]
        nodes.append(node_def_pb2.NodeDef(name=op.name, op=op.type, input=inputs, attr=attrs,
                                          device=op.device))
    return graph_pb2.GraphDef(node=nodes, versions=versions_pb2.VersionDef(producer=1))
