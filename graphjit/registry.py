"""The op registry: one entry per primitive op type holding all of its rules.

An entry gathers what every stage needs to know about an op: shape/dtype
inference (build time), the NumPy reference (the interpreter and the oracle of
tests), the gradient rule (autodiff), how the compiler fuses and lowers it, the
attrs it takes (save/load) and its ONNX mapping. Composite ops such as softmax
are not registered: they are Python functions that build primitives, so later
stages only ever see the types listed here.

This module imports no op module: each op module registers its own ops, and the
stages (partition, emit, program, io, onnx) ask the registry, never an op-type list
of their own. tests/graphjit/test_registry.py fails when a facet is missing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codegen.loopir import Fn
from codegen.record import MutableRecord, Record
from graphjit.errors import GraphError

Spec = tuple  # (shape: tuple of int|None, dtype: DType)


class Fusion(str, enum.Enum):
    """How the partitioner places an op (graphjit.lower.partition)."""

    SOURCE = "source"  # a plan input: placeholders and constants (literals when fused)
    ELEMENTWISE = "elementwise"  # a scalar function of input elements at one index
    INDEX = "index"  # reads input elements at computed indices (slice, pad, concat...)
    VIEW = "view"  # the input's elements in a new shape: fuses, or alone views the buffer
    ROW_REDUCE = "row_reduce"  # over trailing axes it makes its region a row region
    STANDALONE = "standalone"  # a kernel (or plan step) of its own, from a builder
    HOST = "host"  # NumPy runs the reference on the host (random numbers, state, control)


@dataclass(frozen=True, eq=False, repr=False)
class Scalar(Record):
    """Lowering of an elementwise op: one scalar function of its broadcast inputs.
    `expensive` ops are computed once and parked rather than recomputed per pass."""

    fn: Fn
    expensive: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class ElementRule(Record):
    """Lowering of one output element by a rule:
    rule(em, op, idx, out_shape, dtype) -> loop-IR expression (graphjit.lower.rules).
    `check(lowerer, op)` adds what verifies the op's input `checked_input` after the
    kernel (a gather's indices, which the rule clamps); the kernel then keeps that input
    as an output when it computes it."""

    rule: Callable
    expensive: bool = False
    check: Callable | None = None
    checked_input: int | None = None


@dataclass(frozen=True, eq=False, repr=False)
class RowReduce(Record):
    """Lowering of a reduction: acc = combine(acc, x) from init(dtype); `mean` divides
    by the count. Over trailing axes it fuses as a row reduction, else it is a
    reduce kernel of its own."""

    combine: Fn
    init: Callable[[np.dtype], object]
    mean: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class KernelBuilder(Record):
    """Lowering of a standalone op: build(lowerer, op, outputs, out_slots, names) adds
    its steps (graphjit.lower.program). `region` begins its kernels' names;
    `identity_if_same_shape` fuses the op as an identity when its output has its first
    input's shape; `shape_only` ops read their inputs' shapes alone (a plan-time
    constant, any dtype)."""

    region: str
    build: Callable
    identity_if_same_shape: bool = False
    shape_only: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Host(Record):
    """Not compiled: the plan calls the NumPy reference on the host, for this reason; or,
    given `call(op) -> HostCall`, that host kernel instead (control flow runs the
    compiled plans of its sub-graphs)."""

    reason: str
    call: Callable | None = None


Lowering = Scalar | ElementRule | RowReduce | KernelBuilder | Host


@dataclass(frozen=True, eq=False, repr=False)
class Onnx(Record):
    """The op's ONNX counterpart, `op_type` (None where ONNX has no one op for it); the
    translations are graphjit.onnx's, and its importer reads `op_type` nodes unless
    `imported` is False. A `same` op maps one to one, same inputs and no attrs:
    graphjit.onnx then exports and imports it from this entry alone."""

    op_type: str | None
    same: bool = False
    imported: bool = True


@dataclass(frozen=True, eq=False, repr=False)
class NoOnnx(Record):
    """No ONNX form, for this reason (the exporter's error says it)."""

    reason: str


class AttrKind(str, enum.Enum):
    """What an attr holds: save/load checks values against it (graphjit.io.attrs_codec)."""

    INT = "int"
    INT_OR_NONE = "int or None"
    BOOL = "bool"
    STR = "str"
    DTYPE = "dtype"
    NUMBER = "number"  # a bool, int or float (or a NumPy scalar of one)
    INTS = "ints"  # a tuple of ints
    INT_PAIRS = "int pairs"
    SHAPE = "shape"  # a TensorShape or a tuple of ints
    SLICES = "slices"  # a tuple of (start, stop, step) of ints or None
    ARRAY = "array"
    FUNCTION = "function"  # a sub-graph (graphjit.function.Function): branches, loop bodies


@dataclass(frozen=True, eq=False, repr=False)
class Attr(Record):
    kind: AttrKind
    required: bool = True


@dataclass(eq=False, repr=False)
class OpDef(MutableRecord):
    """Everything graphjit knows about one primitive op type."""

    type: str
    infer: Callable[[list[Spec], dict], Spec | list[Spec]]
    reference: Callable[..., np.ndarray | tuple]  # reference(*arrays, **attrs)
    fusion: Fusion
    lowering: Lowering
    # every attr the op takes, by name; nothing else may be set on it
    attrs: dict[str, Attr] = field(default_factory=dict)
    onnx: Onnx | NoOnnx | None = None  # None: not declared (the registry test fails)
    # differentiable: gradients pass through the op by its `grad` rule; an op marked
    # False blocks them (graphjit.autodiff names it when it is the only way through).
    differentiable: bool = True
    stateful: bool = False  # never folded, merged or removed when its output is unused
    # side_effect: running the op acts on the world (printing): never folded or merged, and
    # lowered even where nothing reads its output; it needs no state, unlike a stateful op.
    side_effect: bool = False
    # run_time_infer(specs, attrs): inference on a run's concrete input specs where the
    # static `infer` leaves dims unknown on purpose (PlaceholderWithDefault's declared shape).
    run_time_infer: Callable | None = None
    # dynamic_shape: an output's size depends on input values (BooleanMask), known only once
    # the op ran; a compiled function runs it between two plans (graphjit.staged).
    dynamic_shape: bool = False
    # infer_unknown_rank(specs, attrs): inference when an input's rank is unknown (its
    # shape an UnknownShape); may give None for an output of unknown rank. Without it, the
    # outputs' ranks are unknown too (see infer_specs).
    infer_unknown_rank: Callable | None = None
    # grad(op, grad_outputs) -> one gradient Tensor (or None) per input, built with the
    # public API; called by graphjit.gradients when an output received a gradient.
    grad: Callable | None = None
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


def infer_specs(op_def: OpDef, input_specs: list[Spec], attrs: dict,
                run_time: bool = False) -> list[Spec]:
    """Run an op's inference (`run_time`: on a run's concrete input specs); always a list
    of (shape, dtype), one per output."""
    infer = op_def.run_time_infer if run_time and op_def.run_time_infer else op_def.infer
    if any(_unknown_rank(shape) for shape, _ in input_specs):
        if op_def.infer_unknown_rank is not None:
            return _as_spec_list(op_def.infer_unknown_rank(input_specs, attrs))
        return _with_ranks_unknown(op_def, input_specs, attrs)
    return _as_spec_list(infer(input_specs, attrs))


def _as_spec_list(specs) -> list[Spec]:
    from graphjit.dtypes import DType
    if isinstance(specs, tuple) and len(specs) == 2 and isinstance(specs[1], DType):
        return [specs]
    return list(specs)


def _unknown_rank(shape) -> bool:
    return getattr(shape, "unknown_rank", False)


class RankDependent:
    """An attr value that depends on the rank of the op's first input, for an op built on
    a tensor of unknown rank (`reduce_sum(x)` over all of x's axes): graphjit.specialize
    replaces it by `resolve(rank)` once the fed ranks are known."""

    def resolve(self, rank: int):
        raise NotImplementedError


def resolve_attrs(attrs: dict, rank: int) -> dict:
    """`attrs` with every RankDependent value resolved for a first input of `rank`."""
    if not any(isinstance(v, RankDependent) for v in attrs.values()):
        return attrs
    return {k: v.resolve(rank) if isinstance(v, RankDependent) else v
            for k, v in attrs.items()}


# Ranks tried for the inputs of unknown rank to learn an op's output dtypes and count.
_STAND_IN_RANKS = (0, 1, 2, 3, 4)


def _with_ranks_unknown(op_def: OpDef, input_specs: list[Spec], attrs: dict) -> list[Spec]:
    """An op whose rule needs its inputs' ranks: its outputs have unknown rank (None) and
    the dtypes the rule gives for inputs of some rank that it accepts. The shapes are
    inferred for real, and checked, when the graph is specialized to the fed ranks."""
    last = None
    for rank in _STAND_IN_RANKS:
        specs = [((None,) * rank if _unknown_rank(shape) else shape, dtype)
                 for shape, dtype in input_specs]
        try:
            out = _as_spec_list(op_def.infer(specs, resolve_attrs(attrs, rank)))
        except GraphError as exc:
            last = exc
            continue
        return [(None, dtype) for _, dtype in out]
    raise type(last)(f"{last} (for inputs of unknown rank, no rank up to "
                     f"{_STAND_IN_RANKS[-1]} fits)")
