"""boolean_mask: the slices of a tensor where a boolean mask is True.

The primitive BooleanMask(tensor, mask) keeps, along axes axis..axis+K-1 (the K dims
of the mask), the positions where the mask holds, flattened into one axis in row-major
order (NumPy's tensor[..., mask]). How many there are depends on the mask's values, so
the output's size there is known only once the op ran (`dynamic_shape` in its entry):
the reference interpreter runs it like any op; a compiled function runs the ops before
it as one plan, BooleanMask on the host, and the ops after it as a plan for the size it
found (graphjit.staged). Its gradient puts each kept slice's gradient back where the
slice came from and zeros elsewhere: a gather from the gradient, padded with a zero
slice first, at each position's running count of kept slices (0 where dropped).
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, ShapeError
from graphjit.graph import Tensor, TensorShape
from graphjit.ops._util import (
    convert_to_tensor,
    graph_of,
    make,
    normalize_axis,
    op_errors,
    static_value,
)
from graphjit.registry import Attr, AttrKind, Fusion, Host, Onnx, OpDef, register


def _boolean_mask_infer(specs, attrs):
    (shape, dtype), (mask_shape, mask_dtype) = specs
    if mask_dtype != dtypes.bool_:
        raise DTypeError(f"mask has dtype {mask_dtype}; boolean_mask takes a bool mask")
    axis, k = attrs["axis"], len(mask_shape)
    if k == 0:
        raise ShapeError("mask must have rank >= 1, got a scalar")
    if not 0 <= axis <= len(shape) - k:
        raise ShapeError(f"a mask of rank {k} from axis {axis} needs a tensor of rank >= "
                         f"{axis + k}, got rank {len(shape)}")
    if not TensorShape(shape[axis:axis + k]).is_compatible_with(mask_shape):
        raise ShapeError(f"mask of shape {list(mask_shape)} does not match the tensor's dims "
                         f"{list(shape[axis:axis + k])} from axis {axis}")
    return tuple(shape[:axis]) + (None,) + tuple(shape[axis + k:]), dtype


def _boolean_mask_reference(x, mask, *, axis):
    return np.ascontiguousarray(x[(slice(None),) * axis + (mask,)])


def _boolean_mask_grad(op, grads):
    from graphjit.ops import elementwise as ew
    from graphjit.ops.indexing import gather
    from graphjit.ops.scan import cumsum
    from graphjit.ops.shape_ops import pad, reshape
    x, mask = op.inputs
    axis, dy = op.attrs["axis"], grads[0]
    kept = ew.cast(mask if mask.ndim == 1 else reshape(mask, [-1]), dtypes.int32)
    position = cumsum(kept) * kept  # 1 + the slice's place in dy, 0 where dropped
    if mask.ndim > 1:
        position = make("ReshapeLike", [position, mask])
    padded = pad(dy, [[0, 0]] * axis + [[1, 0]] + [[0, 0]] * (dy.ndim - axis - 1))
    return [gather(padded, position, axis=axis), None]


register(OpDef("BooleanMask", _boolean_mask_infer, _boolean_mask_reference, Fusion.HOST,
               Host("its output size depends on the mask's values: it runs between the "
                    "plans before and after it"),
               attrs={"axis": Attr(AttrKind.INT)}, dynamic_shape=True,
               grad=_boolean_mask_grad, onnx=Onnx("Compress", imported=False)))


def boolean_mask(tensor, mask, name: str | None = "boolean_mask", axis=None) -> Tensor:
    """tensor[..., mask, ...]: the slices of `tensor` where `mask` (bool, K dims matching
    tensor's dims from `axis`, default 0) is True, flattened into one axis, as TF's
    tf.boolean_mask. That axis's size is known only when the graph runs."""
    graph = graph_of(tensor, mask)
    x = convert_to_tensor(tensor, graph=graph)
    m = convert_to_tensor(mask, graph=graph)
    with op_errors("BooleanMask", name, "boolean_mask", [x, m]):
        if isinstance(axis, Tensor):
            axis = static_value(axis, "axis").item()
        axis = 0 if axis is None else axis
        if m.ndim == 0:
            raise ShapeError("mask must have rank >= 1, got a scalar")
        axis = normalize_axis(axis, x.ndim) if x.ndim else axis
    return make("BooleanMask", [x, m], {"axis": axis}, name=name, default_name="boolean_mask")


__all__ = ["boolean_mask"]
