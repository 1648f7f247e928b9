"""ONNX sequence and optional values as the importer holds them: graphjit has tensors
only, so a sequence is a Python tuple of graphjit tensors of a length known when the
graph is built, and an optional is either one such value or empty (its ONNX type kept
for OptionalHasElement and the model's outputs). Neither exists in the compiled graph:
a model input or output of these types is flattened into its tensors (`layout`).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphjit.graph import Tensor


@dataclass(frozen=True, eq=False)
class SequenceValue:
    """An ONNX sequence of a static length: its tensors in order."""

    items: tuple
    elem_type: int = 0  # the ONNX element type (TensorProto enum); 0 where not known

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, eq=False)
class OptionalValue:
    """An ONNX optional: `value` (a Tensor or SequenceValue), or None when empty."""

    value: object = None


Value = Tensor | SequenceValue | OptionalValue


def is_value(x) -> bool:
    return isinstance(x, (Tensor, SequenceValue, OptionalValue))


def flatten(x) -> tuple[list[Tensor], object]:
    """(the tensors of an imported value, its layout to rebuild it from them): layout is
    "tensor", ("sequence", n) or ("optional", inner layout or None)."""
    if isinstance(x, Tensor):
        return [x], "tensor"
    if isinstance(x, SequenceValue):
        return list(x.items), ("sequence", len(x.items))
    if x.value is None:
        return [], ("optional", None)
    tensors, inner = flatten(x.value)
    return tensors, ("optional", inner)


def unflatten(layout, arrays: list):
    """The run-time value of `layout` from the arrays of its tensors (consumed in order):
    an array, a list of arrays, or None for an empty optional."""
    if layout == "tensor":
        return arrays.pop(0)
    kind, inner = layout
    if kind == "sequence":
        return [arrays.pop(0) for _ in range(inner)]
    return None if inner is None else unflatten(inner, arrays)
