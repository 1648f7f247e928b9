"""The op registry: one entry per primitive op type holding all of its rules.

An entry gathers what every stage needs to know about an op: shape/dtype
inference (build time), the NumPy reference (the interpreter and the oracle of
tests), the gradient rule (autodiff) and the lowering hint (the compiler).
Composite ops such as softmax are not registered: they are Python functions that
build primitives, so later stages only ever see the types listed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from graphjit.errors import GraphError

Spec = tuple  # (shape: tuple of int|None, dtype: DType)


@dataclass
class OpDef:
    """Everything graphjit knows about one primitive op type."""

    type: str
    infer: Callable[[list[Spec], dict], Spec | list[Spec]]
    reference: Callable[..., np.ndarray | tuple]  # reference(*arrays, **attrs)
    kind: str  # "source", "elementwise", "reduction", "shape", "linalg", "conv"
    # differentiable: gradients pass through the op by its `grad` rule; an op marked
    # False blocks them (graphjit.autodiff names it when it is the only way through).
    differentiable: bool = True
    stateful: bool = False  # never folded, merged or removed when its output is unused
    # grad(op, grad_outputs) -> one gradient Tensor (or None) per input, built with the
    # public API; called by graphjit.gradients when an output received a gradient.
    grad: Callable | None = None
    scalar: str | None = None  # elementwise ops: the scalar function the compiler emits
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, OpDef] = {}


def register(op_def: OpDef) -> OpDef:
    if op_def.type in _REGISTRY:
        raise GraphError(f"op type {op_def.type} is registered twice")
    _REGISTRY[op_def.type] = op_def
    return op_def


def get_op_def(op_type: str) -> OpDef:
    try:
        return _REGISTRY[op_type]
    except KeyError:
        raise GraphError(f"unknown op type '{op_type}'") from None


def all_op_defs() -> dict[str, OpDef]:
    """Every registered op type (importing graphjit registers them all)."""
    return dict(_REGISTRY)


def infer_specs(op_def: OpDef, input_specs: list[Spec], attrs: dict) -> list[Spec]:
    """Run an op's inference; always a list of (shape, dtype), one per output."""
    from graphjit.dtypes import DType
    specs = op_def.infer(input_specs, attrs)
    if isinstance(specs, tuple) and len(specs) == 2 and isinstance(specs[1], DType):
        return [specs]
    return list(specs)
