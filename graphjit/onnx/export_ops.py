"""The ONNX translation of every graphjit op type, used by graphjit.onnx.exporter.

A translation gets an OpContext (the op, its inputs' ONNX value names, their
static shapes and dtypes, helpers adding nodes and constants) and returns the
value name of the op's output. Where the two formats differ, the translation
keeps graphjit's semantics (which are TF's):
- images are NHWC with HWIO filters, ONNX's NCHW/OIHW (export_conv.py);
- FloorDiv/FloorMod round toward -inf, ONNX Div truncates and Mod(fmod=1)
  keeps the dividend's sign; integer Mean truncates; Any/All count the true
  cells, so an empty reduction gives False/True; log1p/expm1 stay accurate
  near 0 (Kahan's correction) instead of computing log(1 + x) and exp(x) - 1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from onnx import helper, numpy_helper

from graphjit import dtypes
from graphjit.errors import UnsupportedError

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

class OpContext:
    """One graphjit op as its translation sees it, and the helpers to emit ONNX for it."""

    def __init__(self, builder, op, inputs: list[str]):
        self.builder = builder
        self.op = op
        self.inputs = inputs
        self.attrs = op.attrs
        self.opset = builder.opset

    def shape(self, i: int = 0) -> tuple:
        return tuple(self.op.inputs[i].shape)

    def dtype(self, i: int = 0) -> dtypes.DType:
        return self.op.inputs[i].dtype

    def node(self, op_type: str, *inputs: str, outputs: int = 1, **attrs):
        """Add a node; its output value name (a list of them if outputs > 1)."""
        hint = f"{self.op.name}/{op_type}"
        names = [self.builder.fresh(hint) for _ in range(outputs)]
        self.builder.add_node(op_type, inputs, names, hint, **attrs)
        return names[0] if outputs == 1 else names

    def const(self, value, dtype=None, hint: str = "const") -> str:
        return self.builder.const(np.asarray(value, None if dtype is None else dtype), hint)

    def ints(self, values) -> str:
        """A 1-D int64 constant (axes, shapes, pads, ...)."""
        return self.builder.const(np.array(list(values), np.int64).reshape(-1))

    def scalar(self, value, dtype: dtypes.DType) -> str:
        return self.builder.const(np.array(value, dtype.np))

    def fill_value(self, value, dtype: dtypes.DType):
        """ConstantOfShape's `value` attribute."""
        return numpy_helper.from_array(np.array([value], dtype.np), "value")

    def value(self, i: int) -> np.ndarray | None:
        """Input i's value when it is a constant (an initializer), else None."""
        return self.builder.constants.get(self.inputs[i])

    def transposed(self, i: int, perm) -> str:
        value = self.value(i)
        if value is not None:
            return self.builder.const(np.ascontiguousarray(np.transpose(value, perm)),
                                      f"{self.inputs[i]}/transposed")
        return self.node("Transpose", self.inputs[i], perm=list(perm))

    def unsupported(self, why: str) -> UnsupportedError:
        op = self.op
        return UnsupportedError(f"cannot export {op.type} '{op.name}' (created at {op.source}) "
                                f"to ONNX opset {self.opset}: {why}")


Translation = Callable[[OpContext], str]
TRANSLATIONS: dict[str, Translation] = {}


def translates(*op_types: str):
    def register(fn: Translation) -> Translation:
        for op_type in op_types:
            TRANSLATIONS[op_type] = fn
        return fn
    return register


# -- elementwise ------------------------------------------------------------------

# One node each, though ONNX's node imports back with its own semantics (an integer Div
# truncates, Pow mixes dtypes, Max/Min are variadic). Ops that map one to one both ways
# are translated from the registry (graphjit.onnx.one_to_one).
_ONE_NODE = {"RealDiv": "Div", "Pow": "Pow", "Maximum": "Max", "Minimum": "Min",
             "MatrixDeterminant": "Det"}

for _type, _onnx_type in _ONE_NODE.items():
    translates(_type)(lambda ctx, t=_onnx_type: ctx.node(t, *ctx.inputs))


# Exported as their (first) input, as tf2onnx does: ONNX has no check or print, and a
# model's inputs are its feeds (a placeholder's default is dropped).
@translates("Identity", "StopGradient", "PlaceholderWithDefault", "CheckNumerics", "Print",
            "EnsureShape")
def _identity(ctx):
    return ctx.inputs[0]


@translates("Square")
def _square(ctx):
    return ctx.node("Mul", ctx.inputs[0], ctx.inputs[0])


@translates("Rsqrt")
def _rsqrt(ctx):
    return ctx.node("Reciprocal", ctx.node("Sqrt", ctx.inputs[0]))


@translates("Relu")
def _relu(ctx):
    if ctx.dtype().is_floating:
        return ctx.node("Relu", ctx.inputs[0])
    return ctx.node("Max", ctx.inputs[0], ctx.scalar(0, ctx.dtype()))  # Relu on ints: opset 14


@translates("NotEqual")
def _not_equal(ctx):
    return ctx.node("Not", ctx.node("Equal", *ctx.inputs))


@translates("Log1p")
def _log1p(ctx):
    # u = 1 + x rounds; log(u) * x / (u - 1) corrects for it. u - 1 == 0: log1p(x) = x;
    # u - 1 == u (huge or inf x): log(u).
    x, dtype = ctx.inputs[0], ctx.dtype()
    u = ctx.node("Add", x, ctx.scalar(1, dtype))
    d = ctx.node("Sub", u, ctx.scalar(1, dtype))
    log_u = ctx.node("Log", u)
    corrected = ctx.node("Mul", log_u, ctx.node("Div", x, d))
    big = ctx.node("Where", ctx.node("Equal", d, u), log_u, corrected)
    return ctx.node("Where", ctx.node("Equal", d, ctx.scalar(0, dtype)), x, big)


@translates("Expm1")
def _expm1(ctx):
    # u = exp(x) rounds; (u - 1) * x / log(u) corrects for it. u == 1: expm1(x) = x;
    # u - 1 == -1: -1; u - 1 == u (huge or inf): u.
    x, dtype = ctx.inputs[0], ctx.dtype()
    u = ctx.node("Exp", x)
    d = ctx.node("Sub", u, ctx.scalar(1, dtype))
    corrected = ctx.node("Div", ctx.node("Mul", d, x), ctx.node("Log", u))
    minus_one = ctx.scalar(-1, dtype)
    out = ctx.node("Where", ctx.node("Equal", d, u), u, corrected)
    out = ctx.node("Where", ctx.node("Equal", d, minus_one), minus_one, out)
    return ctx.node("Where", ctx.node("Equal", u, ctx.scalar(1, dtype)), x, out)


@translates("FloorMod")
def _floor_mod(ctx):
    x, y = ctx.inputs
    if not ctx.dtype().is_floating:
        return ctx.node("Mod", x, y, fmod=0)  # integer Mod takes the divisor's sign
    # fmod has the dividend's sign; where it differs from the divisor's, add the divisor.
    r = ctx.node("Mod", x, y, fmod=1)
    zero = ctx.scalar(0, ctx.dtype())
    signs_differ = ctx.node("Xor", ctx.node("Less", r, zero), ctx.node("Less", y, zero))
    fix = ctx.node("And", signs_differ, ctx.node("Not", ctx.node("Equal", r, zero)))
    return ctx.node("Where", fix, ctx.node("Add", r, y), r)


@translates("FloorDiv")
def _floor_div(ctx):
    x, y = ctx.inputs
    if ctx.dtype().is_floating:
        return ctx.node("Floor", ctx.node("Div", x, y))  # TF's floor(x / y)
    # x - floormod(x, y) is a multiple of y: truncating division is then exact.
    return ctx.node("Div", ctx.node("Sub", x, ctx.node("Mod", x, y, fmod=0)), y)


# The opset that first has each storage-only type (graphjit.dtypes.NARROW).
_NARROW_SINCE = {"bfloat16": 13, "float8_e4m3fn": 19, "float8_e4m3fnuz": 19,
                 "float8_e5m2": 19, "float8_e5m2fnuz": 19, "uint4": 21, "int4": 21,
                 "float4_e2m1fn": 23, "uint2": 25, "int2": 25}


@translates("Cast")
def _cast(ctx):
    dtype = ctx.attrs["dtype"]
    for d in (ctx.op.inputs[0].dtype, dtype):
        if d.is_narrow and ctx.opset < _NARROW_SINCE.get(d.name, 1 << 30):
            since = _NARROW_SINCE.get(d.name)
            raise ctx.unsupported(f"ONNX has {d.name} from opset {since} on" if since else
                                  f"graphjit's {d.name} cast (ml_dtypes' rounding, 0 -> NaN) "
                                  "matches no ONNX round_mode")
    if dtype.name.startswith("float8"):  # graphjit's cast does not saturate; ONNX's default does
        return ctx.node("Cast", ctx.inputs[0], to=_elem(dtype), saturate=0)
    return ctx.node("Cast", ctx.inputs[0], to=_elem(dtype))


def _elem(dtype: dtypes.DType) -> int:
    return helper.np_dtype_to_tensor_dtype(dtype.np)


# -- reductions --------------------------------------------------------------------

def _reduce(ctx, onnx_type: str, x: str, axes, keepdims: bool) -> str:
    """A Reduce* node over `axes`: an input from opset 13 (ReduceSum) or 18 (the others)."""
    if onnx_type == "ReduceSum" or ctx.opset >= 18:
        return ctx.node(onnx_type, x, ctx.ints(axes), keepdims=int(keepdims))
    return ctx.node(onnx_type, x, axes=list(axes), keepdims=int(keepdims))


_REDUCTIONS = {"Sum": "ReduceSum", "Mean": "ReduceMean", "Prod": "ReduceProd",
               "Max": "ReduceMax", "Min": "ReduceMin"}


@translates(*_REDUCTIONS, "Any", "All")
def _reduction(ctx):
    x, axes, keepdims = ctx.inputs[0], ctx.attrs["axes"], ctx.attrs["keepdims"]
    if not axes:  # ONNX would reduce every axis
        return x
    op_type, dtype = ctx.op.type, ctx.dtype()
    if op_type in ("Any", "All"):
        # Count the true (Any) or false (All) cells as floats: exact > 0 test, no overflow,
        # and an empty reduction counts 0.
        cells = x if op_type == "Any" else ctx.node("Not", x)
        count = _reduce(ctx, "ReduceSum", ctx.node("Cast", cells, to=_elem(dtypes.float32)),
                        axes, keepdims)
        zero = ctx.scalar(0, dtypes.float32)
        return ctx.node("Greater" if op_type == "Any" else "Equal", count, zero)
    if op_type == "Mean" and not dtype.is_floating:
        # TF: the sum in the input dtype divided by the count, truncated (as ONNX int Div).
        total = _reduce(ctx, "ReduceSum", x, axes, keepdims)
        shape = ctx.shape()
        if all(shape[a] is not None for a in axes):
            n = ctx.scalar(max(int(np.prod([shape[a] for a in axes])), 1), dtype)
        else:
            dims = ctx.node("Gather", ctx.node("Shape", x), ctx.ints(axes), axis=0)
            n = ctx.node("Cast", ctx.node("ReduceProd", dims, keepdims=0), to=_elem(dtype))
            n = ctx.node("Max", n, ctx.scalar(1, dtype))  # empty: 0 / 1, never 0 / 0
        return ctx.node("Div", total, n)
    return _reduce(ctx, _REDUCTIONS[op_type], x, axes, keepdims)


@translates("ArgMax", "ArgMin")
def _arg(ctx):
    out = ctx.node(ctx.op.type, ctx.inputs[0], axis=ctx.attrs["axis"], keepdims=0,
                   select_last_index=0)  # ties: the first index, as graphjit
    if ctx.attrs["output_type"] != dtypes.int64:
        out = ctx.node("Cast", out, to=_elem(ctx.attrs["output_type"]))
    return out


@translates("Cumsum")
def _cumsum(ctx):
    return ctx.node("CumSum", ctx.inputs[0], ctx.scalar(ctx.attrs["axis"], dtypes.int64),
                    exclusive=int(ctx.attrs["exclusive"]), reverse=int(ctx.attrs["reverse"]))


@translates("SumToShapeOf")
def _sum_to_shape_of(ctx):
    g, like = ctx.inputs
    gshape, lshape = ctx.shape(0), ctx.shape(1)
    lead = len(gshape) - len(lshape)
    axes = list(range(lead))
    for j, d in enumerate(lshape):
        if d is None and gshape[lead + j] != 1:
            raise ctx.unsupported(
                f"which axes it sums depends on dim {j} of '{ctx.op.inputs[1].name}' "
                f"({lshape}), unknown until run time; give that input a static shape")
        if d == 1:
            axes.append(lead + j)  # summing an axis that is already 1 changes nothing
    if axes:
        g = _reduce(ctx, "ReduceSum", g, axes, True)
    return reshape_like(ctx, g, like)


# -- shapes ------------------------------------------------------------------------

def reshape_like(ctx, x: str, like: str) -> str:
    allow = {"allowzero": 1} if ctx.opset >= 14 else {}  # a 0 in the shape means 0
    return ctx.node("Reshape", x, ctx.node("Shape", like), **allow)


@translates("Reshape")
def _reshape(ctx):
    shape = list(ctx.attrs["shape"])
    if 0 not in shape:
        return ctx.node("Reshape", ctx.inputs[0], ctx.ints(shape))
    if ctx.opset < 14:
        raise ctx.unsupported(f"shape {shape} has a 0 dim, which Reshape before opset 14 "
                              "reads as 'copy the input dim'; export with opset >= 14")
    return ctx.node("Reshape", ctx.inputs[0], ctx.ints(shape), allowzero=1)


@translates("ReshapeLike")
def _reshape_like_op(ctx):
    return reshape_like(ctx, *ctx.inputs)


@translates("Transpose")
def _transpose(ctx):
    return ctx.node("Transpose", ctx.inputs[0], perm=list(ctx.attrs["perm"]))


@translates("ExpandDims")
def _expand_dims(ctx):
    return ctx.node("Unsqueeze", ctx.inputs[0], ctx.ints([ctx.attrs["axis"]]))


@translates("Squeeze")
def _squeeze(ctx):
    axes = ctx.attrs["axes"]
    if axes is None:
        axes = [i for i, d in enumerate(ctx.shape()) if d == 1]
    if not axes:  # ONNX would squeeze every size-1 axis
        return ctx.inputs[0]
    return ctx.node("Squeeze", ctx.inputs[0], ctx.ints(axes))


@translates("ConcatV2")
def _concat(ctx):
    return ctx.node("Concat", *ctx.inputs, axis=ctx.attrs["axis"])


@translates("Tile")
def _tile(ctx):
    if not ctx.shape():
        return ctx.inputs[0]
    return ctx.node("Tile", ctx.inputs[0], ctx.ints(ctx.attrs["multiples"]))


@translates("BroadcastTo")
def _broadcast_to(ctx):
    return ctx.node("Expand", ctx.inputs[0], ctx.ints(ctx.attrs["shape"]))


@translates("Pad")
def _pad(ctx):
    x, paddings, mode = ctx.inputs[0], ctx.attrs["paddings"], ctx.attrs["mode"]
    if not paddings or not any(b or a for b, a in paddings):
        return x
    if mode == "SYMMETRIC":  # no ONNX mode: the mirrored borders, concatenated axis by axis
        for axis, (before, after) in enumerate(paddings):
            if not before and not after:
                continue
            parts = [x]
            if before:  # x[before-1::-1]
                parts.insert(0, slice_axes(ctx, x, [axis], [before - 1], [INT64_MIN], [-1]))
            if after:  # x[:-after-1:-1]
                parts.append(slice_axes(ctx, x, [axis], [-1], [-after - 1], [-1]))
            x = ctx.node("Concat", *parts, axis=axis)
        return x
    pads = ctx.ints([b for b, _ in paddings] + [a for _, a in paddings])
    if mode == "REFLECT":
        return ctx.node("Pad", x, pads, mode="reflect")
    return ctx.node("Pad", x, pads, ctx.scalar(ctx.attrs["constant_value"], ctx.dtype()),
                    mode="constant")


@translates("Range")
def _range(ctx):
    from graphjit.registry import get_op_def
    value = get_op_def("Range").reference(**ctx.attrs)  # static: a constant
    return ctx.const(value, hint=f"{ctx.op.name}/value")


@translates("Fill")
def _fill(ctx):
    return ctx.node("ConstantOfShape", ctx.ints(ctx.attrs["shape"]),
                    value=ctx.fill_value(ctx.attrs["value"], ctx.attrs["dtype"]))


@translates("FillLike")
def _fill_like(ctx):
    return ctx.node("ConstantOfShape", ctx.node("Shape", ctx.inputs[0]),
                    value=ctx.fill_value(ctx.attrs["value"], ctx.attrs["dtype"]))


@translates("Shape")
def _shape(ctx):
    out = ctx.node("Shape", ctx.inputs[0])
    if ctx.attrs["out_type"] != dtypes.int64:
        out = ctx.node("Cast", out, to=_elem(ctx.attrs["out_type"]))
    return out


# -- indexing ----------------------------------------------------------------------

def slice_axes(ctx, x: str, axes, starts, ends, steps) -> str:
    return ctx.node("Slice", x, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes),
                    ctx.ints(steps))


def _strided(ctx, x: str, slices) -> str:
    """Python slices (start, stop, step) per axis as one Slice node (Python's clamping
    is ONNX's; INT64_MIN as the stop of a negative step means 'through index 0')."""
    axes, starts, ends, steps = [], [], [], []
    for axis, (start, stop, step) in enumerate(slices):
        step = 1 if step is None else step
        if (start in (None, 0) and step == 1 and stop is None):
            continue
        axes.append(axis)
        steps.append(step)
        starts.append((0 if step > 0 else INT64_MAX) if start is None else start)
        ends.append((INT64_MAX if step > 0 else INT64_MIN) if stop is None else stop)
    return slice_axes(ctx, x, axes, starts, ends, steps) if axes else x


@translates("StridedSlice")
def _stridedslice_axes(ctx):
    return _strided(ctx, ctx.inputs[0], ctx.attrs["slices"])


@translates("GatherV2")
def _gather(ctx):
    return ctx.node("Gather", *ctx.inputs, axis=ctx.attrs["axis"])


@translates("BooleanMask")
def _boolean_mask(ctx):
    """Compress along `axis` by the flattened mask; a mask of rank K > 1 first merges the
    tensor's K dims there (their sizes are the mask's)."""
    x, mask = ctx.inputs
    axis, k = ctx.attrs["axis"], len(ctx.shape(1))
    if k > 1:
        mask = ctx.node("Reshape", mask, ctx.ints([-1]))
        shape = ctx.node("Shape", ctx.inputs[0])
        parts = [ctx.ints([-1])]
        if axis:
            parts.insert(0, slice_axes(ctx, shape, [0], [0], [axis], [1]))
        if axis + k < len(ctx.shape(0)):
            parts.append(slice_axes(ctx, shape, [0], [axis + k], [INT64_MAX], [1]))
        x = ctx.node("Reshape", x, ctx.node("Concat", *parts, axis=0) if len(parts) > 1
                     else parts[0])
    return ctx.node("Compress", x, mask, axis=axis)


@translates("TopKV2")
def _top_k(ctx):
    k = ctx.attrs["k"]
    if k is None:  # the whole last axis
        size = slice_axes(ctx, ctx.node("Shape", ctx.inputs[0]), [0], [-1], [INT64_MAX], [1])
    else:
        size = ctx.ints([k])
    values, indices = ctx.node("TopK", ctx.inputs[0], size, outputs=2, axis=-1, largest=1,
                               sorted=1)  # ties: the lower index first, as graphjit
    return [values, ctx.node("Cast", indices, to=_elem(dtypes.int32))]


def flat_zeros(ctx, like: str, dtype: dtypes.DType) -> tuple[str, str]:
    """(a flat zero vector with as many cells as `like`, that count as a 1-D int64)."""
    size = ctx.node("Reshape", ctx.node("Size", like), ctx.ints([1]))
    return ctx.node("ConstantOfShape", size, value=ctx.fill_value(0, dtype)), size


@translates("StridedSliceGrad")
def _strided_slice_grad(ctx):
    # Zeros shaped like `like`, dy written at the flat positions the slice reads.
    dy, like = ctx.inputs
    shape = ctx.node("Shape", like)
    zeros, size = flat_zeros(ctx, like, ctx.dtype(0))
    one = ctx.scalar(1, dtypes.int64)
    flat = ctx.node("Range", ctx.scalar(0, dtypes.int64), ctx.node("Squeeze", size), one)
    positions = _strided(ctx, reshape_like(ctx, flat, like), ctx.attrs["slices"])
    out = ctx.node("ScatterElements", zeros, ctx.node("Reshape", positions, ctx.ints([-1])),
                   ctx.node("Reshape", dy, ctx.ints([-1])), axis=0)
    return ctx.node("Reshape", out, shape)


@translates("ScatterAddLike")
def _scatter_add_like(ctx):
    # ScatterND adds along the first axis: move `axis` first in the result and the
    # index dims first in the updates, scatter-add, move the axis back.
    if ctx.opset < 16:
        raise ctx.unsupported("adding repeated indices needs ScatterND's reduction='add' "
                              "(opset 16); export with opset >= 16")
    updates, indices, like = ctx.inputs
    axis, rank, k = ctx.attrs["axis"], len(ctx.shape(2)), len(ctx.shape(1))
    order = [axis] + [i for i in range(rank) if i != axis]
    shape = ctx.node("Gather", ctx.node("Shape", like), ctx.ints(order), axis=0)
    zeros = ctx.node("ConstantOfShape", shape, value=ctx.fill_value(0, ctx.dtype(0)))
    perm = list(range(axis, axis + k)) + list(range(axis)) + list(range(axis + k, rank - 1 + k))
    if perm != sorted(perm):
        updates = ctx.node("Transpose", updates, perm=perm)
    index = ctx.node("Unsqueeze", ctx.node("Cast", indices, to=_elem(dtypes.int64)),
                     ctx.ints([-1]))
    out = ctx.node("ScatterND", zeros, index, updates, reduction="add")
    if axis == 0:
        return out
    return ctx.node("Transpose", out, perm=[order.index(i) for i in range(rank)])


# -- linear algebra ---------------------------------------------------------------

@translates("MatMul")
def _matmul(ctx):
    operands = []
    for i, flag in enumerate(("transpose_a", "transpose_b")):
        if ctx.attrs[flag]:
            r = len(ctx.shape(i))
            operands.append(ctx.transposed(i, list(range(r - 2)) + [r - 1, r - 2]))
        else:
            operands.append(ctx.inputs[i])
    return ctx.node("MatMul", *operands)


# -- random draws -------------------------------------------------------------------

@translates("RandomStandardNormal", "RandomUniform")
def _random(ctx):
    # Same distribution, not the same numbers: onnxruntime has its own generator. A
    # seeded op stays seeded (the same sequence in every fresh session).
    seed, seed2 = ctx.attrs["seed"], ctx.attrs["seed2"]
    attrs = {"shape": list(ctx.attrs["shape"]), "dtype": _elem(ctx.attrs["dtype"])}
    if seed is not None:
        attrs["seed"] = float((seed * 1_000_003 + seed2) % (1 << 24))
    if ctx.op.type == "RandomUniform":
        return ctx.node("RandomUniform", low=0.0, high=1.0, **attrs)
    return ctx.node("RandomNormal", mean=0.0, scale=1.0, **attrs)
