"""The tolerance policy of the differential tests, stated once.

Exact where the ops are exact. Where every op between the feeds and a fetched value is
exact, the compiled value must be identical: integer arithmetic, comparisons, views,
slices, gathers, concats, casts, max/min, abs, floor/round, select, add/sub. Zeros
compare by value: kernels are compiled with LLVM's 'nsz' flag
(codegen.vecmath.KERNEL_FASTMATH), so the sign of a zero result is not promised. NaN
must match NaN.

Measured where they are not. Where inexact ops intervene, each element's allowed error
is measured rather than guessed: the reference is re-run SAMPLES times with every
inexact op's result (at each read of it, since fused kernels may recompute it) scaled
by 1 + r * ulps * eps, r uniform in [-1, 1], and the inputs of reductions scaled likewise
(their summation order is free). The tolerance is SAFETY times the largest change those
runs make, and at least `ulps of the value x the number of inexact ops above it` (two
perturbations can cancel by chance). So cancellation and conditioning are accounted
for per element, and a graph of exact ops keeps a tolerance of zero. An integer or bool
element that any run changes (a floor, comparison or argmax of a value within
rounding of a tie) is not compared.

The ulps per op (`ULPS`) are stated bounds: codegen.vecmath's published bound plus
NumPy's own error for transcendental functions; FMA contraction ('contract') for
multiplies; the reciprocal multiply that 'arcp' allows for divisions; any summation
order ('reassoc') for reductions. A wrong buffer read or a wrong index gives O(1)
relative errors, millions of float32 ulps, far above these.

Control flow (If, While) runs its sub-graphs' ops perturbed alike; a loop whose trip
count a perturbation changes gets the deviation that makes, often not compared at all.
"""

from __future__ import annotations

import numpy as np

from graphjit.errors import Error
from graphjit.function import Function
from graphjit.graph import Operation
from graphjit.graph_queries import ops_needed
from graphjit.interpreter import run_op
from graphjit.ops.control_flow_grad import stack_history
from graphjit.testing.program import Built

SAFETY = 4.0  # tolerance = SAFETY x the largest deviation of the perturbed runs
SAMPLES = 8  # perturbed reference runs per program (they cost a NumPy run each)

TRANSCENDENTAL = ("Exp", "Log", "Log1p", "Expm1", "Tanh", "Sigmoid", "Erf", "Sin", "Cos",
                  "Asin", "Acos", "Atan")
REDUCING = ("Sum", "Mean", "Prod", "SumToShapeOf", "MatMul", "Conv2D", "Conv2DBackpropInput",
            "Conv2DBackpropFilter", "AvgPool", "AvgPoolGrad", "MaxPoolGrad", "ScatterAddLike")
TERMS = None  # a reduction's input ulps grow with the number of terms it sums: _input_ulps
RECURRENT_STEP_OPS = 16  # a recurrence step's rounded ops besides its H-term product

#: op type -> (ulps on each float input, ulps on the float output); others are exact.
ULPS: dict[str, tuple] = {
    **{t: (0, 4) for t in TRANSCENDENTAL},  # vecmath bound <= 3 ulps + NumPy's own <= 1
    "Pow": (2, 4),  # exp(y log x): the error of log x grows with y
    "Sqrt": (0, 1), "Rsqrt": (0, 2), "Reciprocal": (0, 1),
    "RealDiv": (0, 2),  # 'arcp': x * (1 / y)
    "Mul": (0, 1), "Square": (0, 1),  # 'contract': the product feeds an FMA unrounded
    "FloorDiv": (2, 0), "FloorMod": (2, 1),  # floor of an 'arcp' quotient
    **{t: (TERMS, 2) for t in REDUCING},  # 'reassoc': any summation order, then a division
    # a whole recurrence: per step an H-term product, gate activations (vecmath) and FMAs;
    # the perturbed inputs (xw per step) carry that error through the steps that follow
    "RecurrentSequence": (TERMS, 4),
}
EXACT_INPUTS = {"MaxPoolGrad": (0,), "ScatterAddLike": (1, 2)}  # where the max is; indices


def _terms(op: Operation, inputs: list[np.ndarray], output: np.ndarray) -> int:
    """How many terms each output element of a reducing op sums."""
    if op.type == "MatMul":
        a = inputs[0]
        return a.shape[-2] if op.attrs.get("transpose_a") else a.shape[-1]
    if op.type == "Conv2D":
        return int(np.prod(inputs[1].shape[:3]))
    if op.type == "RecurrentSequence":  # rt [D, H, G*H]: H terms, then the gates' maths
        return inputs[2].shape[1] + RECURRENT_STEP_OPS
    if op.type == "Conv2DBackpropInput":
        f = inputs[1].shape
        return f[0] * f[1] * f[3]
    return max(1, max(a.size for a in inputs) // max(output.size, 1))


def _input_ulps(op: Operation, clean: dict) -> float:
    """Sequential float sums of n terms drift by up to ~n ulps of the partial sums; a
    vectorized order and NumPy's pairwise one sit well inside 2 + n/4 per term."""
    ulps = ULPS.get(op.type, (0, 0))[0]
    if ulps is TERMS:
        ulps = 2 + _terms(op, [clean[t] for t in op.inputs], clean[op.outputs[0]]) // 4
    return ulps


def _out_ulps(tensor) -> float:
    return ULPS.get(tensor.op.type, (0, 0))[1]


def _noise(value: np.ndarray, ulps: float, rng: np.random.Generator) -> np.ndarray:
    if ulps == 0 or value.dtype.kind != "f" or value.size == 0:
        return value
    eps = np.finfo(value.dtype).eps
    scale = 1 + rng.uniform(-ulps * eps, ulps * eps, size=value.shape)
    return (value * scale).astype(value.dtype)


def _perturbed(ops: list[Operation], feeds: dict, fetches: list, in_ulps: dict | None,
               rng: np.random.Generator) -> list[np.ndarray]:
    """A reference run with every inexact result perturbed; `in_ulps` None: found as it
    runs (the ops of a sub-graph, whose input shapes change from call to call)."""
    values = dict(feeds)
    for op in ops:
        inputs = [_noise(values[t], _out_ulps(t), rng) for t in op.inputs]
        if in_ulps is None:
            ulps = _input_ulps(op, {**dict(zip(op.inputs, inputs)),
                                    **dict(zip(op.outputs, run_op(op, inputs)))}) \
                if ULPS.get(op.type, (0, 0))[0] is TERMS else ULPS.get(op.type, (0, 0))[0]
        else:
            ulps = in_ulps[op]
        if ulps:
            exact = EXACT_INPUTS.get(op.type, ())
            inputs = [a if i in exact else _noise(a, ulps, rng) for i, a in enumerate(inputs)]
        run = CONTROL.get(op.type)
        values.update(zip(op.outputs, run(op, inputs, rng) if run else run_op(op, inputs)))
    return [_noise(values[f], _out_ulps(f), rng) for f in fetches]


# Control flow runs its sub-graphs perturbed too: their ops are where the rounding is.

def _call(function, arrays: list, rng) -> list[np.ndarray]:
    ops = [op for op in function.graph.get_operations() if op.type != "Placeholder"]
    return _perturbed(ops, dict(zip(function.inputs, arrays)), list(function.outputs), None,
                      rng)


def _perturbed_if(op: Operation, inputs: list, rng) -> list[np.ndarray]:
    branch = op.attrs["then_branch" if inputs[0] else "else_branch"]
    return _call(branch, inputs[1:], rng)


def _perturbed_while(op: Operation, inputs: list, rng) -> list[np.ndarray]:
    cond, body = op.attrs["cond"], op.attrs["body"]
    n = len(body.outputs)
    values, extra = list(inputs[:n]), list(inputs[n:])
    while _call(cond, values + extra, rng)[0]:
        values = _call(body, values + extra, rng)
    return values


def _perturbed_history(op: Operation, inputs: list, rng) -> list[np.ndarray]:
    cond, body = op.attrs["cond"], op.attrs["body"]
    n = len(body.outputs)
    values, extra = list(inputs[:n]), list(inputs[n:])
    seen: list[list] = [[] for _ in range(n)]
    while _call(cond, values + extra, rng)[0]:
        for j, v in enumerate(values):
            seen[j].append(v)
        values = _call(body, values + extra, rng)
    return list(stack_history(seen, inputs[:n]))


CONTROL = {"If": _perturbed_if, "While": _perturbed_while, "WhileHistory": _perturbed_history}


def _inexact(ops) -> int:
    """The inexact ops among `ops`, those of their sub-graphs included."""
    return sum((op.type in ULPS) + sum(_inexact(f.graph.get_operations())
                                       for f in op.attrs.values() if isinstance(f, Function))
               for op in ops)


def _deviation(ref: np.ndarray, run: np.ndarray) -> np.ndarray:
    """|run - ref| (inf where a NaN appears or disappears); ints and bools: 0 or inf."""
    with np.errstate(all="ignore"):
        if ref.dtype.kind != "f":
            return np.where(run == ref, 0.0, np.inf)
        diff = np.abs(run.astype(np.float64) - ref.astype(np.float64))
        same = (run == ref) | (np.isnan(run) & np.isnan(ref))
        return np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))


def tolerances(built: Built, reference: list[np.ndarray], seed) -> list[np.ndarray] | None:
    """Per-element tolerance of each fetch (inf: not compared); None when a perturbed run
    raised (the graph's validity hangs on rounding: nothing is compared)."""
    feeds = dict(zip(built.placeholders, built.values))
    fetch_ops = [f.op for f in built.fetches if f not in feeds]
    ops = ops_needed(fetch_ops, set(feeds))
    clean = dict(feeds)
    for op in ops:
        clean.update(zip(op.outputs, run_op(op, [clean[t] for t in op.inputs])))
    in_ulps = {op: _input_ulps(op, clean) for op in ops}
    tols = []
    for f, ref in zip(built.fetches, reference):
        inexact = _inexact(ops_needed([f.op], set(feeds)))
        floor = np.zeros(ref.shape)
        if ref.dtype.kind == "f" and inexact:
            floor = inexact * np.finfo(ref.dtype).eps * np.abs(ref.astype(np.float64))
        tols.append(np.array(np.nan_to_num(floor, nan=0.0, posinf=np.inf), np.float64))
    rng = np.random.default_rng(seed)
    for _ in range(SAMPLES):
        try:
            runs = _perturbed(ops, feeds, built.fetches, in_ulps, rng)
        except Error:
            return None
        for tol, ref, run in zip(tols, reference, runs):
            np.maximum(tol, SAFETY * _deviation(ref, run), out=tol)
    return tols
