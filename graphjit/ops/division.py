"""TF1's other divisions: tf.div (Python 2's `/`), floor_div, truncatediv and truncatemod.

They are built from the primitives graphjit has (RealDiv, FloorDiv, FloorMod, Abs,
Sign), so they fuse, lower, differentiate and export as those do. Truncation rounds
toward zero, C's rule: for integers trunc(x / y) = floor(|x| / |y|) * sign(x) * sign(y)
and the remainder fmod(x, y) = (|x| mod |y|) * sign(x), whose sign is x's.
"""

from __future__ import annotations

from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import NUMERIC, check_dtype, convert_operands, make, op_errors


def _operands(x, y, op_type: str, name, default_name: str) -> tuple[Tensor, Tensor]:
    x, y = convert_operands([x, y])
    with op_errors(op_type, name, default_name, [x, y]):
        check_dtype(x.dtype, NUMERIC)
    return x, y


def div(x, y, name: str | None = None) -> Tensor:
    """TF1's tf.div, Python 2's `/`: integers floor-divide (-7 / 2 = -4), floats divide."""
    x, y = _operands(x, y, "RealDiv", name, "div")
    op_type = "RealDiv" if x.dtype.is_floating else "FloorDiv"
    return make(op_type, [x, y], name=name, default_name="div")


def floor_div(x, y, name: str | None = None) -> Tensor:
    """floor(x / y) for integers and floats (TF's FloorDiv op; also tf.floordiv)."""
    x, y = convert_operands([x, y])
    return make("FloorDiv", [x, y], name=name, default_name="FloorDiv")


def truncatediv(x, y, name: str | None = None) -> Tensor:
    """Integer division rounding toward zero (-7 / 2 = -3), as C; floats divide (TF's
    TruncateDiv is documented for integer types: for floats it is x / y)."""
    x, y = _operands(x, y, "TruncateDiv", name, "TruncateDiv")
    if x.dtype.is_floating:
        return make("RealDiv", [x, y], name=name, default_name="TruncateDiv")
    if x.dtype.is_unsigned:  # no negative values: truncation is the floor
        return make("FloorDiv", [x, y], name=name, default_name="TruncateDiv")
    with x.graph.name_scope(name or "TruncateDiv") as scope:
        magnitude = ew.floordiv(ew.abs(x), ew.abs(y))
        return ew.multiply(magnitude, ew.sign(x) * ew.sign(y), name=scope)


def truncatemod(x, y, name: str | None = None) -> Tensor:
    """The remainder of truncatediv, with x's sign (C's fmod: truncatemod(-7, 2) = -1,
    truncatemod(7, -2) = 1), for integers and floats."""
    x, y = _operands(x, y, "TruncateMod", name, "TruncateMod")
    if x.dtype.is_unsigned:
        return make("FloorMod", [x, y], name=name, default_name="TruncateMod")
    with x.graph.name_scope(name or "TruncateMod") as scope:
        magnitude = ew.floormod(ew.abs(x), ew.abs(y))
        return ew.multiply(magnitude, ew.sign(x), name=scope)


__all__ = ["div", "floor_div", "truncatediv", "truncatemod"]
