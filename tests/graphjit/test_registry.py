"""The registry holds every facet of every op, consistently (issue #12): the stages
consult it alone, so a missing facet must fail here rather than deep in lowering."""

from __future__ import annotations

import ast
import pathlib

import pytest

from graphjit import registry
from graphjit.io.attrs_codec import KINDS
from graphjit.registry import (
    Attr,
    AttrKind,
    ElementRule,
    Fusion,
    Host,
    KernelBuilder,
    NoOnnx,
    Onnx,
    RowReduce,
    Scalar,
    all_op_defs,
)

# The lowerings each fusion class can use.
ALLOWED = {
    Fusion.SOURCE: (ElementRule, Host),
    Fusion.ELEMENTWISE: (Scalar, ElementRule),
    Fusion.INDEX: (ElementRule,),
    Fusion.VIEW: (Scalar, ElementRule),
    Fusion.ROW_REDUCE: (RowReduce,),
    Fusion.STANDALONE: (KernelBuilder,),
    Fusion.HOST: (Host,),
}

OPS = sorted(all_op_defs().items())


@pytest.mark.parametrize("op_type, op_def", OPS, ids=[t for t, _ in OPS])
def test_every_op_has_every_facet(op_type, op_def):
    assert op_def.type == op_type
    assert callable(op_def.infer) and callable(op_def.reference)
    assert isinstance(op_def.fusion, Fusion)
    assert isinstance(op_def.lowering, ALLOWED[op_def.fusion]), (
        f"{op_type}: fusion {op_def.fusion.value} cannot lower by "
        f"{type(op_def.lowering).__name__}")
    lowering = op_def.lowering
    if isinstance(lowering, (ElementRule, KernelBuilder)):
        assert callable(lowering.rule if isinstance(lowering, ElementRule) else lowering.build)
    if isinstance(lowering, RowReduce):
        assert callable(lowering.init)
    if isinstance(lowering, Host):
        assert lowering.reason.strip(), f"{op_type}: a host op says why it is not compiled"
    for name, attr in op_def.attrs.items():
        assert isinstance(attr, Attr) and isinstance(attr.kind, AttrKind), f"{op_type}.{name}"
    assert isinstance(op_def.onnx, (Onnx, NoOnnx)), f"{op_type} declares no ONNX mapping"
    if isinstance(op_def.onnx, Onnx) and op_def.onnx.same:  # generated both ways: no attrs
        assert op_def.onnx.op_type and not op_def.attrs, op_type
    # a gradient, or an explicit "not differentiable"
    assert op_def.grad is not None or not op_def.differentiable, (
        f"{op_type} is marked differentiable but has no gradient rule")


def test_the_registry_imports_no_op_module():
    """A leaf: the op modules import it and register themselves, never the reverse."""
    tree = ast.parse(pathlib.Path(registry.__file__).read_text())
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names]
    allowed = ("__future__", "enum", "collections.abc", "dataclasses", "numpy",
               "codegen.loopir", "codegen.record", "graphjit.errors", "graphjit.dtypes")
    assert [m for m in imported if m not in allowed] == []


def test_every_attr_kind_has_a_check_on_load():
    assert {k.value for k in AttrKind} == set(KINDS)
