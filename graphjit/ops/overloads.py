"""Python operators on Tensors (`+ - * / // % ** @`, unary -, abs, <, &, [...]).

The default names are TF's: `a + b` creates an op named "add", `tf.add` "Add".
`==` keeps identity semantics, as in TF1; use graphjit.equal for elementwise.
"""

from __future__ import annotations

from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_operands, graph_of, make


def _binary_operator(op_type: str, default_name: str, reverse: bool = False):
    def method(self, other):
        x, y = (other, self) if reverse else (self, other)
        x, y = convert_operands([x, y], graph=graph_of(self))
        return make(op_type, [x, y], default_name=default_name)
    return method


def _truediv(reverse):
    def method(self, other):
        x, y = (other, self) if reverse else (self, other)
        return ew.divide(x, y)
    return method


def _matmul(reverse):
    def method(self, other):
        from graphjit.ops.linalg import matmul
        x, y = (other, self) if reverse else (self, other)
        return matmul(x, y)
    return method


def _getitem(self, key):
    from graphjit.ops.shape_ops import getitem
    return getitem(self, key)


_OPERATORS = {
    "add": ("Add", "add"), "sub": ("Sub", "sub"), "mul": ("Mul", "mul"),
    "floordiv": ("FloorDiv", "floordiv"), "mod": ("FloorMod", "mod"), "pow": ("Pow", "pow"),
    "and": ("LogicalAnd", "and"), "or": ("LogicalOr", "or"),
}

for _name, (_type, _default) in _OPERATORS.items():
    setattr(Tensor, f"__{_name}__", _binary_operator(_type, _default))
    setattr(Tensor, f"__r{_name}__", _binary_operator(_type, _default, reverse=True))

for _name, _type in {"lt": "Less", "le": "LessEqual", "gt": "Greater",
                     "ge": "GreaterEqual"}.items():
    setattr(Tensor, f"__{_name}__", _binary_operator(_type, _type))

Tensor.__truediv__ = _truediv(False)
Tensor.__rtruediv__ = _truediv(True)
Tensor.__matmul__ = _matmul(False)
Tensor.__rmatmul__ = _matmul(True)
Tensor.__neg__ = lambda self: ew.negative(self)
Tensor.__abs__ = lambda self: ew.abs(self)
Tensor.__invert__ = lambda self: ew.logical_not(self)
Tensor.__getitem__ = _getitem
