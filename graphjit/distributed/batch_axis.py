"""Which fetches can run chunk by chunk along the batch axis, read from the graph itself.

Every tensor a fetch needs gets a kind: *const* (no batch data reaches it: weights,
variables, non-batch inputs), *row* (axis 0 is the batch axis and row i depends only on
row i of the batch inputs) or *reduced* (no batch axis left: it depends on the batch
through batch reductions, Sum / Mean / Max / Min over axis 0). A row op that is none of
these (a transpose of the batch axis, a reshape moving rows, the shape of a batch) is a
`BatchAxisError` naming the op and the user's line.

A reduction's *level* says when it can be combined: 1 when its input needs no other
reduction, 1 + the highest level its input needs otherwise (the variance of
`tf.nn.moments` needs the mean first: level 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphjit.errors import GraphError
from graphjit.graph import Operation, Tensor
from graphjit.registry import _REGISTRY, Fusion

CONST, ROW, REDUCED = "const", "row", "reduced"
BATCH_REDUCTIONS = {"Sum": "sum", "Mean": "mean", "Max": "max", "Min": "min"}
_PASS_THROUGH = {"Identity", "StopGradient", "FillLike", "Cast"}


class BatchAxisError(GraphError, ValueError):
    """A fetch needs an op that mixes rows of the batch axis: it cannot run per chunk."""


@dataclass(frozen=True)
class Reduction:
    """A batch reduction of the graph: its op, kind (sum, mean, max, min), axes, level."""

    op: Operation
    kind: str
    axes: tuple
    keepdims: bool
    level: int

    @property
    def input(self) -> Tensor:
        return self.op.inputs[0]

    @property
    def output(self) -> Tensor:
        return self.op.outputs[0]


@dataclass
class TensorKind:
    kind: str
    needs: frozenset = frozenset()  # names of the batch reduction ops it depends on


@dataclass
class Analysis:
    """Kinds of the tensors the fetches need, and the batch reductions among them."""

    kinds: dict = field(default_factory=dict)  # Tensor -> TensorKind
    reductions: dict = field(default_factory=dict)  # op name -> Reduction

    def kind(self, t: Tensor) -> str:
        return self.kinds[t].kind

    def level(self, t: Tensor) -> int:
        """The highest level of the reductions `t` needs (0: none)."""
        return max((self.reductions[n].level for n in self.kinds[t].needs), default=0)


def _where(op: Operation) -> str:
    return f", created at {op.source}" if op.source else ""


def _mixing(op: Operation, why: str) -> BatchAxisError:
    return BatchAxisError(f"{op.describe()} mixes rows of the batch axis ({why}), so it cannot "
                          f"run chunk by chunk{_where(op)}")


def _rank(t: Tensor) -> int | None:
    return t.shape.rank


def _prod(dims) -> int | None:
    n = 1
    for d in dims:
        if d is None:
            return None
        n *= d
    return n


def _row_op_kind(op: Operation, rows: list[bool]) -> str:
    """ROW, or a batch reduction's kind ("sum"...), for an op with a row input; else raise."""
    t = op.type
    out = op.outputs[0]
    fusion = getattr(_REGISTRY.get(t), "fusion", None)
    if t in _PASS_THROUGH:
        return ROW
    if fusion == Fusion.ELEMENTWISE or t == "BiasAdd":
        for x, is_row in zip(op.inputs, rows):
            if is_row and _rank(x) != _rank(out):
                raise _mixing(op, f"input {x.name} of rank {_rank(x)} broadcasts its batch "
                                  f"axis into axis {_rank(out) - _rank(x)}")
            if not is_row and _rank(x) == _rank(out) and x.shape[0] not in (1,):
                raise _mixing(op, f"input {x.name} has its own axis 0 of size {x.shape[0]}")
        return ROW
    if t in BATCH_REDUCTIONS or fusion == Fusion.ROW_REDUCE:
        axes = tuple(a % _rank(op.inputs[0]) for a in op.attrs.get("axes", ()))
        if 0 not in axes:
            return ROW
        if t not in BATCH_REDUCTIONS:
            raise _mixing(op, f"{t} over the batch axis is not one of "
                              f"{', '.join(BATCH_REDUCTIONS)}")
        return BATCH_REDUCTIONS[t]
    if t == "ArgMax" or t == "ArgMin":
        if op.attrs["axis"] % _rank(op.inputs[0]) != 0:
            return ROW
        raise _mixing(op, "it runs over the batch axis")
    if t == "MatMul":
        a_row, b_row = rows[:2]
        if a_row and not b_row and not op.attrs.get("transpose_a") and _rank(op.inputs[0]) == 2:
            return ROW
        raise _mixing(op, "its batch input is not the untransposed left operand")
    if t == "Squeeze":
        axes = op.attrs.get("axes") or ()
        return ROW if all(a % _rank(op.inputs[0]) != 0 for a in axes) else _raise(
            op, "it squeezes the batch axis")
    if t == "ExpandDims":
        return ROW if op.attrs["axis"] % _rank(out) != 0 else _raise(
            op, "it inserts an axis before the batch axis")
    if t == "Reshape":
        x = op.inputs[0]
        if x.shape[0] is None and out.shape[0] is None and \
                _prod(x.shape[1:]) is not None and _prod(x.shape[1:]) == _prod(out.shape[1:]):
            return ROW
        raise _mixing(op, f"it reshapes {x.shape} to {out.shape}, moving values across rows")
    if t == "Transpose":
        return ROW if op.attrs["perm"][0] == 0 else _raise(op, "it moves the batch axis")
    if t == "ConcatV2":
        if all(rows) and op.attrs["axis"] % _rank(out) != 0:
            return ROW
        raise _mixing(op, "it concatenates along the batch axis or with a non-batch value")
    if t in ("Conv2D", "DepthwiseConv2dNative"):
        if rows[0] and not rows[1]:
            return ROW
        raise _mixing(op, "its filter depends on the batch")
    if t in ("MaxPool", "AvgPool"):
        if op.attrs["ksize"][0] == 1 and op.attrs["strides"][0] == 1:
            return ROW
        raise _mixing(op, "its window spans the batch axis")
    if t == "GatherV2":
        params_row, indices_row = rows[:2]
        if indices_row and not params_row and op.attrs["axis"] == 0:
            return ROW  # an embedding lookup: row i of the ids gives row i of the output
        if params_row and not indices_row and op.attrs["axis"] % _rank(op.inputs[0]) != 0:
            return ROW
        raise _mixing(op, "it gathers along the batch axis")
    if t == "StridedSlice":
        if tuple(op.attrs["slices"][0]) == (None, None, 1):
            return ROW
        raise _mixing(op, f"it slices the batch axis ({op.attrs['slices'][0]})")
    if t == "RandomUniformLike":  # dropout's mask: drawn per row, from a key per chunk
        if rows[0] and not rows[1] and op.attrs["shape"][0] != 1:
            return ROW
        raise _mixing(op, "one dropout mask is shared by all rows (noise_shape's axis 0 is 1)")
    if t == "Pad":
        if tuple(op.attrs["paddings"][0]) == (0, 0):
            return ROW
        raise _mixing(op, "it pads the batch axis")
    raise _mixing(op, f"{t} is not known to keep rows apart")


def _raise(op: Operation, why: str):
    raise _mixing(op, why)


def needed_ops(fetches: list) -> list[Operation]:
    """The ops the fetches (Tensors or Operations) need (data and control inputs), in
    graph order."""
    seen: set = set()
    stack = [f if isinstance(f, Operation) else f.op for f in fetches]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(x.op for x in op.inputs)
        stack.extend(op.control_inputs)
    graph = fetches[0].graph
    return [op for op in graph.get_operations() if op.name in seen]


def classify(fetches: list[Tensor], batch_inputs: list[Tensor]) -> Analysis:
    """The kind of every tensor the fetches need (batch_inputs are the row sources)."""
    result = Analysis()
    kinds = result.kinds
    batch = {t.name for t in batch_inputs}
    for op in needed_ops(fetches):
        ins = [kinds.get(x, TensorKind(CONST)) for x in op.inputs]
        needs = frozenset().union(*(k.needs for k in ins))
        rows = [k.kind == ROW for k in ins]
        if op.outputs and op.outputs[0].name in batch:
            kind = ROW
        elif any(rows):
            kind = _row_op_kind(op, rows)
        elif any(k.kind == REDUCED for k in ins):
            kind = REDUCED
        else:
            kind = CONST
        if kind not in (CONST, ROW, REDUCED):
            x = op.inputs[0]
            level = 1 + max((result.reductions[n].level for n in kinds[x].needs), default=0)
            axes = tuple(a % _rank(x) for a in op.attrs["axes"])
            if _prod(x.shape[a] for a in axes if a != 0) is None:
                raise _mixing(op, "a reduced axis besides the batch axis has no static size")
            result.reductions[op.name] = Reduction(op, kind, axes, op.attrs["keepdims"], level)
            kind, needs = REDUCED, needs | {op.name}
        for out in op.outputs:
            kinds[out] = TensorKind(kind, needs)
    return result
