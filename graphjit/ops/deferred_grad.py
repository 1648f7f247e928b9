"""Gradients through ops whose ranks are unknown until a value is fed.

A gradient rule decides from static shapes (which axes a broadcast input must be
summed over, where a reduction's axes go back), so it cannot run on tensors of
unknown rank. `tf.gradients` then adds one DeferredGrad op in its place: its
outputs are the gradients of the forward op's floating inputs, and once the graph is
specialized to the fed ranks (graphjit.specialize) the op's own rule builds them
there. A DeferredGrad never reaches the interpreter or the compiler.
"""

from __future__ import annotations

from graphjit.errors import InternalError
from graphjit.graph import Operation, Tensor
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, OpDef, register


def needs_deferring(op: Operation, out_grads: list) -> bool:
    """True when a tensor the rule of `op` would read has unknown rank."""
    tensors = list(op.inputs) + list(op.outputs) + [g for g in out_grads if g is not None]
    return any(t.shape.unknown_rank for t in tensors)


def deferred_gradients(op: Operation, out_grads: list) -> list[Tensor | None]:
    """One DeferredGrad standing for `op`'s gradient rule: a gradient per floating input
    (None for the others), each of its input's static shape."""
    given = tuple(int(g is not None) for g in out_grads)
    floating = tuple(int(t.dtype.is_floating) for t in op.inputs)
    inputs = list(op.inputs) + list(op.outputs) + [g for g in out_grads if g is not None]
    attrs = {"forward": op.name, "n_inputs": len(op.inputs), "given": given,
             "floating": floating}
    grad_op = op.graph.create_op("DeferredGrad", inputs, attrs, default_name="DeferredGrad")
    it = iter(grad_op.outputs)
    return [next(it) if f else None for f in floating]


def _infer(specs, attrs):
    n = attrs["n_inputs"]
    return [(shape, dtype) for (shape, dtype), f in zip(specs[:n], attrs["floating"]) if f]


def _never_run(*arrays, **attrs):
    raise InternalError("a DeferredGrad is expanded when the graph is specialized to the "
                        "fed ranks; it never runs")


register(OpDef("DeferredGrad", _infer, _never_run, Fusion.HOST,
               Host("expanded by graphjit.specialize before planning"),
               differentiable=False, infer_unknown_rank=_infer,
               onnx=NoOnnx("it stands for gradients of unknown rank; the graph is "
                           "specialized to the fed ranks before it is exported"),
               attrs={"forward": Attr(AttrKind.STR), "n_inputs": Attr(AttrKind.INT),
                      "given": Attr(AttrKind.INTS), "floating": Attr(AttrKind.INTS)}))
