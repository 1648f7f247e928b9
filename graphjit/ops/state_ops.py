"""Ops with state: variables (VariableV2, Assign), random number draws, and NoOp/group.

Their values live in a per-session `state` dict (`Session.state`, or a compiled
function's own): a variable's value under its op name, a random op's NumPy
Generator under ("rng", op name). Both engines use the functions below, so the
reference interpreter and compiled plans read, draw and write the same values.

Registry entries say how the compiled path treats them (`OpDef.extra`):
- "read_state": fn(state, op) -> array. The op's value comes from the state at
  the start of a run (a variable read, a random draw); a compiled plan receives
  it as an extra input, so the plan itself stays a pure function of arrays.
- "write_state": fn(state, op, value). After a run, the op's output (the new
  value an Assign computed, in an ordinary fused kernel) is stored.
- "ref_inputs": positions of inputs that name a variable to write rather than a
  value to read (Assign's first input): nothing computes or reads them.

Semantics within one run: every read of a variable sees its value from before
the run, and assignments take effect when the run ends; several assignments to
one variable in one run keep the last one in graph order. (TF1's ref variables
let a read after an assign see the new value; chain through the value that
`assign` returns instead.)

Random ops follow TF's seeding: with a graph seed (`set_random_seed`) and/or an
op `seed`, the op's generator is seeded by the pair, so every session draws the
same sequence: the n-th run of the op gives the n-th value. With neither seed,
each session draws from fresh OS entropy.
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, FailedPreconditionError, GraphError, ShapeError
from graphjit.graph import Graph, Operation, Tensor, TensorShape, get_default_graph
from graphjit.lower import rules
from graphjit.ops._util import FLOAT, check_sizes
from graphjit.registry import (
    Attr,
    AttrKind,
    ElementRule,
    Fusion,
    Host,
    NoOnnx,
    Onnx,
    OpDef,
    register,
)

DEFAULT_GRAPH_SEED = 87654321  # TF's, used when only an op seed is given


# -- variables ---------------------------------------------------------------------

def read_variable(state: dict, op: Operation) -> np.ndarray:
    """The value of variable op `op` in `state`; a clear error when it was never set."""
    value = state.get(op.name)
    if value is None:
        raise FailedPreconditionError(
            f"attempting to use uninitialized variable '{op.name}' "
            f"({op.outputs[0].dtype}{list(op.outputs[0].shape)}, created at {op.source}): "
            "run its initializer first (sess.run(graphjit.global_variables_initializer()) "
            f"or sess.run({op.name}.initializer))")
    return value


def write_variable(state: dict, op: Operation, value: np.ndarray) -> None:
    """Store the value an Assign op computed as its variable's new value."""
    state[op.inputs[0].op.name] = value


def _variable_infer(specs, attrs):
    check_sizes(attrs["shape"])
    if attrs["dtype"].is_string:  # (a compiled plan updates variables in kernels)
        raise DTypeError("variables hold numbers or bools; graphjit has no string variables")
    return attrs["shape"], attrs["dtype"]


def _variable_reference(*, shape, dtype, _state, _op):
    return read_variable(_state, _op).copy()  # the interpreter's values never alias the state


def _assign_infer(specs, attrs):
    (ref_shape, ref_dtype), (shape, dtype) = specs
    if dtype != ref_dtype:
        raise DTypeError(f"cannot assign a {dtype} value to a {ref_dtype} variable")
    if not TensorShape(ref_shape).is_compatible_with(shape):
        raise ShapeError(f"cannot assign a value of shape {list(shape)} to a variable of shape "
                         f"{list(ref_shape)} (assign does not broadcast)")
    return ref_shape, ref_dtype


def _assign_reference(ref, value, *, _state, _op):
    write_variable(_state, _op, np.array(value, copy=True))  # the state owns its arrays
    return value


register(OpDef("VariableV2", _variable_infer, _variable_reference, Fusion.SOURCE,
               Host("a variable's value is a plan input (read_state)"), differentiable=False,
               stateful=True, extra={"read_state": read_variable},
               attrs={"dtype": Attr(AttrKind.DTYPE), "shape": Attr(AttrKind.SHAPE)},
               onnx=NoOnnx("variables are state; freeze the graph first (graphjit.freeze) "
                           "or pass session= to export")))
register(OpDef("Assign", _assign_infer, _assign_reference, Fusion.VIEW,
               ElementRule(rules.assigned_value), differentiable=False,
               onnx=NoOnnx("assignments are training updates; freeze the graph first "
                           "(graphjit.freeze)"),
               stateful=True, extra={"write_state": write_variable, "ref_inputs": (0,)}))
register(OpDef("NoOp", lambda specs, attrs: [], lambda: (), Fusion.HOST,
               Host("computes nothing: it only orders other ops"), differentiable=False,
               onnx=NoOnnx("it has no outputs, only control dependencies, which export "
                           "drops")))


def is_variable_tensor(t) -> bool:
    return isinstance(t, Tensor) and t.op.type == "VariableV2"


def assign(ref, value, validate_shape=None, use_locking=None, name: str | None = None) -> Tensor:
    """Store `value` into variable `ref` when run; returns the new value (TF1 tf.assign)."""
    from graphjit.ops._util import convert_to_tensor
    if not is_variable_tensor(ref):
        raise GraphError(f"assign needs a graphjit.Variable as its target, got {ref!r}")
    if validate_shape is False:
        from graphjit.errors import UnsupportedError
        raise UnsupportedError("assign(validate_shape=False): variables keep their shape")
    value = convert_to_tensor(value, dtype=ref.dtype, graph=ref.graph)
    return ref.graph.create_op("Assign", (ref, value), name=name,
                               default_name="Assign").outputs[0]


def _assign_update(ref, value, combine, default_name: str, name) -> Tensor:
    if not is_variable_tensor(ref):
        raise GraphError(f"{default_name} needs a graphjit.Variable as its target, got {ref!r}")
    with ref.graph.name_scope(name or default_name) as scope:
        new = combine(ref, value)
        return assign(ref, new, name=scope)


def assign_add(ref, value, use_locking=None, name: str | None = None) -> Tensor:
    """`ref += value` when run; returns the new value (an Assign of ref + value)."""
    return _assign_update(ref, value, lambda a, b: a + b, "AssignAdd", name)


def assign_sub(ref, value, use_locking=None, name: str | None = None) -> Tensor:
    """`ref -= value` when run; returns the new value (an Assign of ref - value)."""
    return _assign_update(ref, value, lambda a, b: a - b, "AssignSub", name)


# -- control -------------------------------------------------------------------------

def no_op(name: str | None = None) -> Operation:
    """An op that does nothing: with control inputs, it runs them (see `group`)."""
    return get_default_graph().create_op("NoOp", (), name=name, default_name="NoOp")


def group(*inputs, name: str | None = None) -> Operation:
    """One op that runs all of `inputs` (ops or tensors, nested lists allowed): TF1's group."""
    flat: list = []

    def walk(item):
        if isinstance(item, (list, tuple)):
            for x in item:
                walk(x)
        elif isinstance(item, (Tensor, Operation)):
            op = item.op if isinstance(item, Tensor) else item
            if op not in flat:
                flat.append(op)
        elif item is not None:
            raise GraphError(f"group() takes ops and tensors, got {type(item).__name__}")

    walk(inputs)
    graph = flat[0].graph if flat else get_default_graph()
    with graph.control_dependencies(flat):
        return graph.create_op("NoOp", (), name=name, default_name="group_deps")


# -- random numbers --------------------------------------------------------------------

def _generator(state: dict, op: Operation) -> np.random.Generator:
    key = ("rng", op.name)
    rng = state.get(key)
    if rng is None:
        seed, seed2 = op.attrs["seed"], op.attrs["seed2"]
        rng = state[key] = np.random.default_rng(None if seed is None else [seed, seed2])
    return rng


def _float_dtype(dtype: dtypes.DType) -> np.dtype:
    # NumPy draws float32 and float64 natively; other floats are drawn as float32.
    return dtype.np if dtype.np in (np.float32, np.float64) else np.dtype(np.float32)


def _truncated(rng: np.random.Generator, shape, dtype: np.dtype) -> np.ndarray:
    """Standard normal values, those beyond two standard deviations drawn again (TF's rule)."""
    out = rng.standard_normal(shape, dtype=dtype)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()), dtype=dtype)
        bad = np.abs(out) > 2
    return out


_DRAWS = {
    "RandomStandardNormal": lambda rng, shape, dt: rng.standard_normal(shape, dtype=dt),
    "RandomUniform": lambda rng, shape, dt: rng.random(shape, dtype=dt),
    "TruncatedNormal": _truncated,
}


def draw(state: dict, op: Operation) -> np.ndarray:
    """The next value of random op `op` from its generator in `state`."""
    dtype = op.attrs["dtype"]
    value = _DRAWS[op.type](_generator(state, op), tuple(op.attrs["shape"]), _float_dtype(dtype))
    return value.astype(dtype.np, copy=False)


def _random_infer(specs, attrs):
    check_sizes(attrs["shape"])
    return attrs["shape"], attrs["dtype"]


def _random_reference(*, shape, dtype, seed, seed2, _state, _op):
    return draw(_state, _op)


_RANDOM_ATTRS = {"dtype": Attr(AttrKind.DTYPE), "shape": Attr(AttrKind.SHAPE),
                 "seed": Attr(AttrKind.INT_OR_NONE), "seed2": Attr(AttrKind.INT_OR_NONE)}

_RANDOM_ONNX = {
    "RandomUniform": Onnx("RandomUniform", imported=False),
    "RandomStandardNormal": Onnx("RandomNormal", imported=False),
    "TruncatedNormal": NoOnnx("ONNX has no truncated normal draw (its redraw loop has no "
                              "ONNX op); draw it outside the model and feed it"),
}

for _type in _DRAWS:
    register(OpDef(_type, _random_infer, _random_reference, Fusion.HOST,
                   Host("drawn on the host by the graph's generator, as the reference does"),
                   differentiable=False, attrs=_RANDOM_ATTRS, onnx=_RANDOM_ONNX[_type],
                   stateful=True, extra={"read_state": draw}))


def set_random_seed(seed: int | None) -> None:
    """The graph-level seed of the default graph (TF1's tf.set_random_seed)."""
    get_default_graph().seed = None if seed is None else int(seed)


def get_seed(op_seed: int | None, graph: Graph | None = None) -> tuple[int | None, int | None]:
    """TF's rule: (graph seed, op seed); an op without a seed under a graph seed gets the
    number of ops created so far, so a rebuilt graph draws the same values."""
    graph = graph or get_default_graph()
    if graph.seed is not None:
        return graph.seed, int(op_seed) if op_seed is not None else len(graph.get_operations())
    if op_seed is not None:
        return DEFAULT_GRAPH_SEED, int(op_seed)
    return None, None


def _random(op_type: str, shape, dtype, seed, name) -> Tensor:
    """A draw of `shape`: static (an op_type op), or measured from tensors at run time
    (a RandomLike op drawing from a key, graphjit.ops.random_like)."""
    from graphjit.ops._util import op_errors
    from graphjit.ops.indexing import static_ints
    from graphjit.ops.random_like import random_like, run_time_dims
    with op_errors(op_type, name, op_type, ()):
        dtype = dtypes.as_dtype(dtype)
        if dtype not in FLOAT:
            raise DTypeError(f"random values are drawn as floats, not {dtype}")
        dims = run_time_dims(shape)
        if dims is not None and any(isinstance(d, tuple) for d in dims):
            key = _random("RandomUniform", [2], dtypes.float64, seed, "key")
            return random_like(op_type, dims, dtype, key, name)
        shape = static_ints(shape if dims is None else dims, "shape")
        check_sizes(shape)  # before TensorShape reads a -1 as an unknown size
    shape = TensorShape(shape)
    seed, seed2 = get_seed(seed)
    return get_default_graph().create_op(
        op_type, (), {"shape": shape, "dtype": dtype, "seed": seed, "seed2": seed2},
        name=name, default_name=op_type).outputs[0]


def _scaled(op_type: str, default_name: str, shape, scale, shift, dtype, seed, name) -> Tensor:
    with get_default_graph().name_scope(name or default_name) as scope:
        x = _random(op_type, shape, dtype, seed, None)
        if not (isinstance(scale, (int, float)) and scale == 1):
            x = x * scale
        from graphjit.ops.elementwise import add
        return add(x, shift, name=scope)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None,
                  name: str | None = None) -> Tensor:
    """Normal values with `mean` and `stddev`, drawn anew on every run."""
    return _scaled("RandomStandardNormal", "random_normal", shape, stddev, mean, dtype, seed,
                   name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None,
                     name: str | None = None) -> Tensor:
    """Normal values, redrawn beyond two standard deviations (TF's truncated_normal)."""
    return _scaled("TruncatedNormal", "truncated_normal", shape, stddev, mean, dtype, seed, name)


def random_uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None,
                   name: str | None = None) -> Tensor:
    """Uniform values in [minval, maxval) (maxval defaults to 1), drawn anew on every run."""
    if maxval is None:
        maxval = 1
    if isinstance(minval, Tensor) or isinstance(maxval, Tensor):
        return _scaled("RandomUniform", "random_uniform", shape, maxval - minval, minval,
                       dtype, seed, name)
    return _scaled("RandomUniform", "random_uniform", shape, float(maxval) - float(minval),
                   float(minval), dtype, seed, name)


__all__ = ["assign", "assign_add", "assign_sub", "no_op", "group", "random_normal",
           "truncated_normal", "random_uniform", "set_random_seed", "get_seed"]
