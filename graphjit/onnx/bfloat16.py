"""bfloat16 arithmetic for imported ONNX nodes: computed in float32, rounded back per node.

graphjit's bfloat16 is a storage type (kernels have no bfloat16 arithmetic). ONNX's
reference computes a bfloat16 node with NumPy on ml_dtypes arrays, that is in float32
with the result rounded to bfloat16. The importer does the same at node granularity:
a node that computes with bfloat16 inputs gets them cast to float32, its converter
builds the float32 graph, and every output the op's schema types like a bfloat16
input is cast back to bfloat16. Within one node the intermediate values stay float32
(one rounding per node, not per NumPy step: at most one bfloat16 ulp apart).
"""

from __future__ import annotations

from graphjit import dtypes
from graphjit.graph import Tensor

# Ops that take bfloat16 as it is: conversions (their point is the narrow type) and
# pure data movement, exact in any dtype, which graphjit runs on the stored values.
STORAGE_OPS = frozenset({
    "Cast", "CastLike", "QuantizeLinear", "DequantizeLinear", "Identity", "Reshape",
    "Shape", "Size", "Squeeze", "Unsqueeze", "Flatten",
})


def _bfloat16():
    return getattr(dtypes, "bfloat16", None)


def needs_widening(node, inputs: list) -> bool:
    """Whether the node computes with a bfloat16 input (graphjit computes it in float32)."""
    bf16 = _bfloat16()
    if bf16 is None or node.op_type in STORAGE_OPS:
        return False
    return any(_is_bfloat16(t, bf16) for t in inputs)


def widen(inputs: list) -> list:
    """The inputs with each bfloat16 one cast to float32 (exact: bfloat16 is float32's top
    16 bits)."""
    import graphjit as gj
    bf16 = _bfloat16()
    return [gj.cast(t, dtypes.float32) if _is_bfloat16(t, bf16) else t
            for t in inputs]


def bfloat16_outputs(node, opset: int, inputs: list) -> set[int]:
    """The output positions the op's schema types with a type parameter that a bfloat16
    input binds (Celu's Y, Attention's Y and present_key, Where's output, ...)."""
    import onnx
    bf16 = _bfloat16()
    schema = onnx.defs.get_schema(node.op_type, opset, node.domain or "")
    formal_in, formal_out = list(schema.inputs), list(schema.outputs)
    bound = set()
    for i, t in enumerate(inputs):
        if _is_bfloat16(t, bf16) and formal_in:
            bound.add(formal_in[min(i, len(formal_in) - 1)].type_str)
    bound |= {"tensor(bfloat16)"}
    return {i for i in range(len(node.output))
            if formal_out and formal_out[min(i, len(formal_out) - 1)].type_str in bound}


def narrowed(outputs: list, positions: set[int]) -> list:
    """The converter's outputs with those at `positions` rounded to bfloat16 (the others,
    such as a comparison's bool, as they are)."""
    import graphjit as gj
    bf16 = _bfloat16()
    return [gj.cast(t, bf16) if i in positions and isinstance(t, Tensor) and t.dtype.is_floating
            and t.dtype != bf16 else t for i, t in enumerate(outputs)]


def _is_bfloat16(value, bf16) -> bool:
    """Whether `value` is a bfloat16 tensor (sequences and optionals are not widened)."""
    return isinstance(value, Tensor) and value.dtype == bf16
