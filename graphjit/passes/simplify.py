"""Algebraic simplification: local rewrites that compute the same values more cheaply.

The rule for every rewrite: the result must equal the original under IEEE
arithmetic for every input, NaN, infinities and signed zeros included (the
reference interpreter is the oracle), and its dtype and static shape must be
identical. Hence:

- x*1, x/1, x**1, neg(neg(x)), identity reshape/transpose/cast/broadcast and
  Identity are exact for every dtype and are removed.
- x+0 needs the zero to be -0.0 for floats (-0.0 + +0.0 is +0.0, not -0.0),
  and x-0 needs +0.0; integers take any zero.
- x*0 -> 0 and x-x -> 0 only for integers: for floats NaN*0, inf*0 and
  inf-inf are NaN.
- x**2 -> x*x, x**3 -> x*x*x (rounding may differ from pow by an ulp or so,
  within dtype tolerance), x**-1 -> 1/x, x**0 -> 1 (pow(NaN, 0) is 1 too).
  x**0.5 is NOT turned into sqrt(x): pow(-inf, 0.5) is +inf where sqrt gives
  NaN, and pow(-0.0, 0.5) is +0.0 where sqrt gives -0.0.
- exp(log(x)) and log(exp(x)) are left alone (exp(log(-1)) is NaN, not -1;
  log(exp(1000)) is inf).
- add(x, neg(y)) -> sub(x, y), sub(x, neg(y)) -> add(x, y) and
  1/sqrt(x) -> rsqrt(x) are exact by definition of the operations.
- A broadcast operand of an elementwise op (a BroadcastTo, a Fill, or a
  constant whose elements are all equal) is replaced by its source (or a
  scalar constant) when the op's output shape does not change: broadcasting
  happens in the op.
- Layout around convolutions: a Transpose moving only size-1 axes is a Reshape
  (a view); MaxPool(relu(x + b)) is relu(MaxPool(x) + b) for b constant within each
  window (a non-decreasing map commutes with max, NaN stays NaN); an NCHW Flatten
  before a dense layer, MatMul(Reshape(Transpose(x)), W), becomes MatMul(Reshape(x), W')
  with W's rows permuted at compile time (the sum runs in another order: an ulp or so).
- Shapes never change: x+0 where the zero broadcasts x to a bigger shape
  stays. Static shapes decide, so the other operand of a removed op must have
  known dims (a constant, a Fill): an unknown dim could broadcast x at run time.

Kept (fed) tensors are opaque: no rule looks at their producer or value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphjit.errors import Error
from graphjit.graph import Graph, Operation, Tensor, TensorShape
from graphjit.passes.rebuild import PassContext, PassResult, Rewriter
from graphjit.registry import Fusion, get_op_def, infer_specs

Rule = Callable[[Rewriter, Operation, list[Tensor]], bool]
_RULES: dict[str, list[Rule]] = {}
_RESHAPES = ("Reshape", "ExpandDims", "Squeeze")


def simplify(graph: Graph, ctx: PassContext) -> PassResult:
    """Apply the first matching rule to every op (see the module docstring)."""
    rw = Rewriter(graph, ctx, "simplify")
    for op in graph.get_operations():
        ins = rw.inputs(op)
        if rw.frozen(op) or _unknown_rank(op, ins) \
                or not any(rule(rw, op, ins) for rule in _rules_for(op)):
            rw.copy(op, ins)
    return rw.finish()


def _unknown_rank(op: Operation, ins: list[Tensor]) -> bool:
    """The rules decide from static shapes: ops of unknown rank (a placeholder made without
    a shape) are left for the graph specialized to the fed ranks."""
    return any(t.shape.unknown_rank for t in list(ins) + list(op.outputs))


def _rules_for(op: Operation) -> list[Rule]:
    rules = _RULES.get(op.type, [])
    op_def = get_op_def(op.type)
    if op_def.fusion is Fusion.ELEMENTWISE and len(op.inputs) >= 2:
        rules = rules + [_shrink_broadcast_operands]
    return rules


def rule(*types: str) -> Callable[[Rule], Rule]:
    """Register a rule for op types; a rule returns True once it has handled the op."""
    def register(fn: Rule) -> Rule:
        for t in types:
            _RULES.setdefault(t, []).append(fn)
        return fn
    return register


# -- helpers -------------------------------------------------------------------

def _same_spec(a: Tensor, b: Tensor) -> bool:
    return a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)


def _fits(op: Operation, op_type: str, specs: list, attrs: dict) -> bool:
    """Would `op_type` on inputs of `specs` give exactly `op`'s output spec?"""
    try:
        (shape, dtype), = infer_specs(get_op_def(op_type), specs, attrs)
    except (Error, ValueError, TypeError, IndexError):  # specs the op rejects: no rewrite
        return False
    out = op.outputs[0]
    return dtype == out.dtype and tuple(TensorShape(shape)) == tuple(out.shape)


def _spec(t: Tensor) -> tuple:
    return (t.shape, t.dtype)


def _known(rw: Rewriter, t: Tensor) -> np.ndarray | None:
    """The compile-time value of `t`: a Const's array, or a Fill's scalar (it broadcasts
    the same way, as its shape is fully known)."""
    value = rw.const_value(t)
    if value is not None:
        return value
    fill = rw.producer(t, "Fill", "FillLike")
    if fill is not None and t.shape.is_fully_defined():
        return np.array(fill.attrs["value"], t.dtype.np)
    return None


def _all_equal(value: np.ndarray | None, x) -> bool:
    return value is not None and bool(np.all(value == x))


def _is_zero_for(op_type: str, value: np.ndarray | None) -> bool:
    """x + z == x and x - z == x for every x, signed zeros included."""
    if not _all_equal(value, 0):
        return False
    if value.dtype.kind != "f":
        return True
    negative = np.signbit(value)
    return bool(np.all(negative)) if op_type == "Add" else not bool(np.any(negative))


def _filled(rw: Rewriter, op: Operation, like: Tensor, value, rule_name: str) -> bool:
    """Replace `op` by a tensor of its shape filled with `value` (no constant bytes)."""
    out = op.outputs[0]
    scalar = np.array(value, out.dtype.np).item()
    if out.shape.is_fully_defined():
        rw.rewrite(op, "Fill", [], {"shape": tuple(out.shape), "value": scalar,
                                    "dtype": out.dtype}, rule_name)
        return True
    if tuple(like.shape) == tuple(out.shape):  # same run-time shape as `like`
        rw.rewrite(op, "FillLike", [like], {"value": scalar, "dtype": out.dtype}, rule_name)
        return True
    return False


# -- arithmetic ----------------------------------------------------------------

@rule("Add", "Sub")
def _add_zero(rw, op, ins):
    pairs = [(ins[0], ins[1])] + ([(ins[1], ins[0])] if op.type == "Add" else [])
    for x, z in pairs:
        if _is_zero_for(op.type, _known(rw, z)) and _same_spec(op.outputs[0], x):
            rw.alias(op, [x], f"x{'+' if op.type == 'Add' else '-'}0 -> x")
            return True
    return False


@rule("Add")
def _add_neg(rw, op, ins):
    for x, n in ((ins[0], ins[1]), (ins[1], ins[0])):
        neg = rw.producer(n, "Neg")
        if neg is not None:
            y = neg.inputs[0]
            if _fits(op, "Sub", [_spec(x), _spec(y)], {}):
                rw.rewrite(op, "Sub", [x, y], {}, "x+(-y) -> x-y")
                return True
    return False


@rule("Sub")
def _sub_neg(rw, op, ins):
    x, n = ins
    neg = rw.producer(n, "Neg")
    if neg is not None and _fits(op, "Add", [_spec(x), _spec(neg.inputs[0])], {}):
        rw.rewrite(op, "Add", [x, neg.inputs[0]], {}, "x-(-y) -> x+y")
        return True
    return False


@rule("Sub")
def _sub_self(rw, op, ins):
    if ins[0] is ins[1] and op.outputs[0].dtype.is_integer:
        return _filled(rw, op, ins[0], 0, "x-x -> 0 (integers)")
    return False


@rule("Mul")
def _mul_one_zero(rw, op, ins):
    out = op.outputs[0]
    for x, c in ((ins[0], ins[1]), (ins[1], ins[0])):
        value = _known(rw, c)
        if _all_equal(value, 1) and _same_spec(out, x):
            rw.alias(op, [x], "x*1 -> x")
            return True
        if _all_equal(value, 0) and out.dtype.is_integer and _filled(
                rw, op, x, 0, "x*0 -> 0 (integers)"):
            return True
    return False


@rule("RealDiv")
def _div_one(rw, op, ins):
    x, y = ins
    if _all_equal(_known(rw, y), 1) and _same_spec(op.outputs[0], x):
        rw.alias(op, [x], "x/1 -> x")
        return True
    if _all_equal(_known(rw, x), 1) and _same_spec(op.outputs[0], y):
        rw.rewrite(op, "Reciprocal", [y], {}, "1/x -> reciprocal(x)")
        return True
    return False


@rule("Neg")
def _neg_neg(rw, op, ins):
    inner = rw.producer(ins[0], "Neg")
    if inner is not None:
        rw.alias(op, [inner.inputs[0]], "-(-x) -> x")
        return True
    return False


@rule("Pow")
def _pow_small(rw, op, ins):
    x, e = ins
    value = _known(rw, e)
    if value is None or value.size != 1 or not _same_spec(op.outputs[0], x):
        return False
    k = value.reshape(()).item()
    if k == 1:
        rw.alias(op, [x], "x**1 -> x")
    elif k == 2:
        rw.rewrite(op, "Mul", [x, x], {}, "x**2 -> x*x")
    elif k == 3:
        square = rw.helper(op, "Mul", [x, x], {}, "square")
        rw.rewrite(op, "Mul", [square, x], {}, "x**3 -> x*x*x")
    elif k == 0:
        return _filled(rw, op, x, 1, "x**0 -> 1")
    elif k == -1 and x.dtype.is_floating:
        rw.rewrite(op, "Reciprocal", [x], {}, "x**-1 -> reciprocal(x)")
    else:
        return False
    return True


@rule("Reciprocal")
def _rsqrt(rw, op, ins):
    sqrt = rw.producer(ins[0], "Sqrt")
    if sqrt is not None:
        rw.rewrite(op, "Rsqrt", [sqrt.inputs[0]], {}, "1/sqrt(x) -> rsqrt(x)")
        return True
    return False


@rule("Maximum", "Minimum", "LogicalAnd", "LogicalOr")
def _idempotent(rw, op, ins):
    if ins[0] is ins[1] and _same_spec(op.outputs[0], ins[0]):
        rw.alias(op, [ins[0]], f"{op.type.lower()}(x,x) -> x")
        return True
    if op.type in ("LogicalAnd", "LogicalOr"):
        neutral = op.type == "LogicalAnd"  # x and True, x or False
        for x, c in ((ins[0], ins[1]), (ins[1], ins[0])):
            if _all_equal(_known(rw, c), neutral) and _same_spec(op.outputs[0], x):
                rw.alias(op, [x], f"{op.type.lower()}(x,{neutral}) -> x")
                return True
    return False


@rule("Select")
def _select(rw, op, ins):
    cond, x, y = ins
    value = _known(rw, cond)
    # A condition of unknown dims could broadcast x at run time: only a known shape will do.
    same = x is y and cond.shape.is_fully_defined()
    for pick, taken in ((x, same), (x, _all_equal(value, True)),
                        (y, _all_equal(value, False))):
        if taken and _same_spec(op.outputs[0], pick):
            rw.alias(op, [pick], "select with a known choice")
            return True
    return False


# -- data movement -----------------------------------------------------------------

@rule("Identity")
def _identity(rw, op, ins):
    rw.alias(op, [ins[0]], "identity removed")
    return True


@rule("Cast")
def _cast(rw, op, ins):
    if op.attrs["dtype"] == ins[0].dtype:
        rw.alias(op, [ins[0]], "identity cast removed")
        return True
    return False


@rule("BroadcastTo")
def _broadcast(rw, op, ins):
    if _same_spec(op.outputs[0], ins[0]):
        rw.alias(op, [ins[0]], "identity broadcast removed")
        return True
    return False


@rule("Transpose")
def _transpose(rw, op, ins):
    perm = tuple(op.attrs["perm"])
    inner = rw.producer(ins[0], "Transpose")
    source = ins[0]
    if inner is not None:  # out[i] = in[perm[i]] = source[inner_perm[perm[i]]]
        perm = tuple(inner.attrs["perm"][p] for p in perm)
        source = inner.inputs[0]
    if perm == tuple(range(len(perm))):
        rw.alias(op, [source], "identity transpose removed")
        return True
    if inner is not None:
        rw.rewrite(op, "Transpose", [source], {"perm": perm}, "transpose of transpose")
        return True
    return False


@rule("Transpose")
def _transpose_of_elementwise(rw, op, ins):
    """T2(f(T1(x), c)) -> f(x, T2(c)) where T2 undoes T1, f elementwise, c a constant or a
    scalar: an NCHW model imported as NHWC kernels (Transpose, Relu, Transpose around
    every convolution) then runs its activations where they are, with no copies."""
    sunk = _sink(rw, op.inputs[0], tuple(op.attrs["perm"]), depth=4)
    if sunk is None or sunk[0] != "elem":
        return False
    _, elem, inputs = sunk
    new_inputs = [_build_sunk(rw, op, t) for t in inputs]
    if not _fits(op, elem.type, [_spec(t) for t in new_inputs], elem.attrs):
        return False
    rw.rewrite(op, elem.type, new_inputs, elem.attrs, "transpose moved through elementwise op")
    return True


@rule("Transpose")
def _transpose_as_reshape(rw, op, ins):
    """A Transpose that moves only size-1 axes keeps every element where it was: a
    Reshape, which lowers to a view (a one-channel NCHW image to NHWC is no copy)."""
    shape = tuple(ins[0].shape)
    moved = [p for p in op.attrs["perm"] if shape[p] != 1]  # unknown dims count as moved
    out = op.outputs[0]
    if moved != sorted(moved) or sum(d is None for d in out.shape) > 1:
        return False
    target = tuple(-1 if d is None else d for d in out.shape)
    if -1 in target and 0 in target:
        return False
    if not _fits(op, "Reshape", [_spec(ins[0])], {"shape": target}):
        return False
    rw.rewrite(op, "Reshape", [ins[0]], {"shape": target}, "transpose of size-1 axes as reshape")
    return True


def _sink(rw, old: Tensor, perm: tuple, depth: int):
    """How transpose(old, perm) can be computed without a Transpose: ("source", t) where
    a Transpose of t is undone by perm, ("const", value) for a constant, ("keep", t) for
    a scalar, ("elem", op, [plans]) for an elementwise op of such operands; else None.
    An elementwise op is moved only when the Transpose is its one consumer (no work is
    duplicated) and at least one operand is an undone Transpose."""
    new = rw.get(old)
    if new.shape.rank == 0:
        return ("keep", new)
    value = rw.const_value(new)
    if value is not None:
        full = value.reshape((1,) * (len(perm) - value.ndim) + value.shape)
        return ("const", np.ascontiguousarray(np.transpose(full, perm)))
    inner = rw.producer(new, "Transpose")
    if inner is not None and tuple(inner.attrs["perm"][p] for p in perm) == tuple(
            range(len(perm))):
        return ("source", inner.inputs[0])
    producer = old.op
    if (depth == 0 or rw.frozen(producer) or producer in rw.pinned or len(producer.outputs) != 1
            or get_op_def(producer.type).fusion is not Fusion.ELEMENTWISE
            or rw.opaque(new) or len(old.consumers()) != 1
            or any(t.shape.rank not in (0, len(perm)) and rw.const_value(rw.get(t)) is None
                   for t in producer.inputs)):
        return None
    plans = [_sink(rw, t, perm, depth - 1) for t in producer.inputs]
    if any(p is None for p in plans) or all(p[0] in ("keep", "const") for p in plans):
        return None
    return ("elem", producer, plans)


def _build_sunk(rw, like: Operation, plan) -> Tensor:
    """The new-graph tensor of a plan from _sink (helper ops named after `like`)."""
    kind = plan[0]
    if kind in ("keep", "source"):
        return plan[1]
    if kind == "const":
        value = plan[1]
        value.flags.writeable = False
        return rw.helper(like, "Const", [], {"value": value}, "transposed")
    _, elem, inputs = plan
    return rw.helper(like, elem.type, [_build_sunk(rw, like, p) for p in inputs], elem.attrs,
                     elem.type.lower())


@rule(*_RESHAPES)
def _reshape(rw, op, ins):
    out = op.outputs[0]
    unknown = sum(d is None for d in out.shape)
    # With at most one unknown dim, equal static shapes mean equal run-time shapes.
    if unknown <= 1 and _same_spec(out, ins[0]):
        rw.alias(op, [ins[0]], f"identity {op.type.lower()} removed")
        return True
    inner = rw.producer(ins[0], *_RESHAPES)
    if inner is None or unknown > 1:
        return False
    source = inner.inputs[0]
    if _same_spec(out, source):
        rw.alias(op, [source], "reshape of reshape removed")
        return True
    target = tuple(-1 if d is None else d for d in out.shape)
    if unknown and 0 in target:
        return False  # -1 beside a 0 dim is ambiguous: Reshape could not infer it
    if _fits(op, "Reshape", [_spec(source)], {"shape": target}):
        rw.rewrite(op, "Reshape", [source], {"shape": target}, "reshape of reshape")
        return True
    return False


def _shrink_broadcast_operands(rw, op, ins):
    """Elementwise ops broadcast themselves: a pre-broadcast operand is wasted work."""
    new, specs, changed = list(ins), [_spec(t) for t in ins], []
    for i, t in enumerate(ins):
        bcast = rw.producer(t, "BroadcastTo")
        value = _known(rw, t)
        if bcast is not None:
            candidate = bcast.inputs[0]
            trial = _spec(candidate)
        elif value is not None and t.shape.num_elements() > 1 and _uniform(value):
            candidate = None  # a scalar constant, created only if it fits
            trial = ((), t.dtype)
        else:
            continue
        if _fits(op, op.type, specs[:i] + [trial] + specs[i + 1:], op.attrs):
            specs[i] = trial
            changed.append((i, candidate, value))
    if not changed:
        return False
    for i, candidate, value in changed:
        if candidate is None:
            scalar = np.array(value.reshape(-1)[0])
            scalar.flags.writeable = False
            candidate = rw.helper(op, "Const", [], {"value": scalar}, "scalar")
        new[i] = candidate
    rw.rewrite(op, op.type, new, op.attrs, "broadcast operand folded into consumer")
    return True


def _uniform(value: np.ndarray) -> bool:
    if value.dtype.hasobject:  # strings: no consumer broadcasts them
        return False
    flat = value.reshape(-1)
    first = flat[:1]
    return bool(np.all(flat.view(np.uint8).reshape(flat.size, -1)
                       == first.view(np.uint8).reshape(1, -1)))



# -- pooling -------------------------------------------------------------------

@rule("MaxPool")
def _max_pool_before_activation(rw, op, ins):
    """MaxPool(relu(x + b)) -> relu(MaxPool(x) + b), b constant within every window (a
    conv's per-channel bias): non-decreasing maps commute with max, NaN staying NaN (the
    pool propagates it, as relu and + do), so a 2x2 pool's activation runs on a quarter
    of the elements. Float adds only: an integer add may wrap, which is not monotone."""
    chain, old = [], op.inputs[0]
    while True:
        step = _monotone_step(rw, old, op.attrs)
        if step is None:
            break
        chain.append(step)
        old = step[1]
    if not chain:
        return False
    pooled = rw.helper(op, "MaxPool", [rw.get(old)], op.attrs, "pool")
    for elem, _, const in reversed(chain[1:]):
        pooled = rw.helper(op, elem.type, [pooled] + ([const] if const is not None else []),
                           elem.attrs, elem.type.lower())
    elem, _, const = chain[0]
    inputs = [pooled] + ([const] if const is not None else [])
    if not _fits(op, elem.type, [_spec(t) for t in inputs], elem.attrs):
        return False  # nothing is lost: the helpers are unused, and dce drops them
    rw.rewrite(op, elem.type, inputs, elem.attrs, "max pool moved before activation")
    return True


def _monotone_step(rw, old: Tensor, pool_attrs: dict):
    """(op, its pooled operand, its constant or None) when `old` is computed by Relu or by
    a float Add of a constant uniform over the pooled axes, copied unchanged into the new
    graph and read by nothing else; else None."""
    new, elem = rw.get(old), old.op
    if (elem.type not in ("Relu", "Add") or len(old.consumers()) != 1 or rw.frozen(elem)
            or elem in rw.pinned or rw.producer(new, elem.type) is None):
        return None
    if elem.type == "Relu":
        return (elem, elem.inputs[0], None) if rw.get(elem.inputs[0]) is new.op.inputs[0] \
            else None
    if not old.dtype.is_floating:
        return None
    for i in (0, 1):
        x, c = elem.inputs[i], new.op.inputs[1 - i]
        value = rw.const_value(c)
        if rw.get(x) is not new.op.inputs[i] or value is None or not _same_spec(new, rw.get(x)):
            continue
        window = [a for a in range(4) if pool_attrs["ksize"][a] != 1
                  or pool_attrs["strides"][a] != 1]
        dims = (1,) * (4 - value.ndim) + value.shape
        if value.ndim <= 4 and all(dims[a] == 1 for a in window):
            return (elem, x, c)
    return None


# -- layout before a dense layer -----------------------------------------------

@rule("MatMul")
def _flatten_transpose_into_weights(rw, op, ins):
    """MatMul(Reshape(Transpose(x), (-1, K)), W) -> MatMul(Reshape(x, (-1, K)), W') with
    W's rows permuted once, here: an NCHW model's Flatten before its dense layer, run on
    NHWC kernels, then needs no transposed copy. The batch axis must stay first; the
    sum over K runs in another order (rounding may differ by an ulp or so)."""
    a, w = ins
    flat, weights = rw.producer(a, "Reshape"), rw.const_value(w)
    if flat is None or weights is None or weights.ndim != 2 or op.attrs.get("transpose_a") \
            or a.shape.rank != 2 or len(op.inputs[0].consumers()) != 1 \
            or len(op.inputs[1].consumers()) != 1:  # W copied only if nothing shares it
        return False
    old_t = op.inputs[0].op.inputs[0] if op.inputs[0].op.type == "Reshape" else None
    transpose = rw.producer(flat.inputs[0], "Transpose")
    if transpose is None or old_t is None or rw.get(old_t) is not flat.inputs[0] \
            or len(old_t.consumers()) != 1 or transpose in rw.pinned:
        return False
    x, perm = transpose.inputs[0], tuple(transpose.attrs["perm"])
    inner = tuple(x.shape)[1:]
    if perm[0] != 0 or None in inner or a.shape[1] != int(np.prod(inner)):
        return False
    # source[j]: the flat index in x's rows of the j-th element of a transposed row
    source = np.arange(a.shape[1]).reshape(inner).transpose(
        [p - 1 for p in perm[1:]]).reshape(-1)
    permuted = np.empty_like(weights)
    if op.attrs.get("transpose_b"):
        permuted[:, source] = weights
    else:
        permuted[source] = weights
    permuted.flags.writeable = False
    rows = rw.helper(op, "Reshape", [x], {"shape": (-1, a.shape[1])}, "flatten")
    new_w = rw.helper(op, "Const", [], {"value": permuted}, "weights")
    if not _fits(op, "MatMul", [_spec(rows), _spec(new_w)], op.attrs):
        return False
    rw.rewrite(op, "MatMul", [rows, new_w], op.attrs, "flatten's transpose folded into weights")
    return True
