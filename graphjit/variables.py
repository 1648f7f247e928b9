"""TF1 variables: `Variable`, initializers and graph collections (get_variable and
variable scopes are in graphjit.variable_scope).

A `Variable` is the output tensor of its VariableV2 op (a Tensor subclass), so
it goes wherever a tensor goes: ops, fetches, feeds, `gradients`. Its value
lives in the running Session's `state` (see graphjit.ops.state_ops for the
semantics), so two sessions over one graph keep separate values. `w.initializer`
is an Assign of the initial value; `global_variables_initializer()` groups all of
them.
"""

from __future__ import annotations

import math

import numpy as np

from graphjit import dtypes
from graphjit.errors import GraphError, ShapeError, UnsupportedError
from graphjit.graph import Graph, Operation, Tensor, TensorShape, get_default_graph
from graphjit.ops._util import convert_to_tensor
from graphjit.ops.state_ops import (
    assign,
    assign_add,
    assign_sub,
    group,
    random_normal,
    random_uniform,
    truncated_normal,
)


class GraphKeys:
    """Names of the standard graph collections (TF1's tf.GraphKeys)."""

    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    TRAIN_OP = "train_op"
    GLOBAL_STEP = "global_step"
    REGULARIZATION_LOSSES = "regularization_losses"
    SUMMARIES = "summaries"
    LOSSES = "losses"  # what tf.losses functions add (graphjit.losses)
    UPDATE_OPS = "update_ops"  # e.g. batch_normalization's moving averages, to run with training
    # Variables outside GLOBAL_VARIABLES (a Saver and global_variables_initializer skip
    # them): counters and metric accumulators, initialized by local_variables_initializer.
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    # Collections TF1 scripts name but graphjit never fills (no tables, no queues).
    TABLE_INITIALIZERS = "table_initializer"
    QUEUE_RUNNERS = "queue_runners"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    READY_OP = "ready_op"
    SAVERS = "savers"
    WEIGHTS = "weights"  # what tf.contrib.layers.apply_regularization regularizes by default
    BIASES = "biases"


class Variable(Tensor):
    """A tensor whose value persists across `Session.run` calls (TF1's tf.Variable).

    `Variable(initial_value, trainable=True, name=None, dtype=None)`: the initial
    value is a Python/NumPy value, a tensor (e.g. `random_normal([784, 10])`) or a
    callable returning one; its shape must be fully known. `v.name` is "v:0",
    `v.op` the VariableV2 op, `v.initializer` the op that sets the initial value.
    """

    def __init__(self, initial_value=None, trainable: bool = True, collections=None,
                 validate_shape: bool = True, caching_device=None, name: str | None = None,
                 variable_def=None, dtype=None, expected_shape=None, import_scope=None,
                 constraint=None, **unused):
        if initial_value is None:
            raise GraphError("Variable needs an initial_value")
        if not validate_shape:
            raise UnsupportedError("Variable(validate_shape=False): graphjit needs a fixed shape")
        if constraint is not None:
            raise UnsupportedError("Variable(constraint=...) is not supported")
        graph = initial_value.graph if isinstance(initial_value, Tensor) else get_default_graph()
        with graph.as_default(), graph.name_scope(name or "Variable") as scope:
            if callable(initial_value):
                with graph.name_scope("Initializer"):
                    initial_value = initial_value()
            init = convert_to_tensor(initial_value, dtype=dtype, name="initial_value",
                                     graph=graph)
            if not init.shape.is_fully_defined():
                raise ShapeError(f"variable '{scope[:-1]}': the initial value's shape {init.shape}"
                                 " must be fully known (graphjit variables have fixed shapes)")
            op = graph.create_op("VariableV2", (), {"shape": init.shape, "dtype": init.dtype},
                                 name=scope)
            Tensor.__init__(self, op, 0, op.outputs[0].shape, op.outputs[0].dtype)
            op.outputs = (self,)  # the variable *is* its op's output tensor
            self.initial_value = init
            self.trainable = bool(trainable)
            self.initializer: Operation = assign(self, init, name="Assign").op
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections = list(collections) + [GraphKeys.TRAINABLE_VARIABLES]
        for key in dict.fromkeys(collections):
            graph.add_to_collection(key, self)

    # -- reading --------------------------------------------------------------------
    def value(self) -> Tensor:
        """The variable's value in a run (itself: reads see the value from before the run)."""
        return self

    def read_value(self) -> Tensor:
        """A new tensor reading the variable (an Identity of it)."""
        from graphjit.ops.core import identity
        with self.graph.as_default():
            return identity(self, name=self.op.name + "/read")

    def initialized_value(self) -> Tensor:
        """The initial value (what the variable holds right after its initializer)."""
        return self.initial_value

    def get_shape(self) -> TensorShape:
        return self.shape

    def load(self, value, session=None) -> None:
        """Set the value directly in `session` (default session), without running an op."""
        from graphjit.errors import NoDefaultSessionError, user_source_line
        from graphjit.feeds import convert_feed
        from graphjit.session import get_default_session
        session = session or get_default_session()
        if session is None:
            raise NoDefaultSessionError(
                f"cannot load a value into variable '{self.op.name}' at {user_source_line()}"
                ": either pass session= or establish a default session (`with "
                "sess.as_default():`)")
        array = convert_feed(self, value)
        if tuple(array.shape) != tuple(self.shape):
            raise ShapeError(f"cannot load a value of shape {list(array.shape)} into variable "
                             f"'{self.op.name}' of shape {list(self.shape)}")
        session.state[self.op.name] = array

    # -- assigning --------------------------------------------------------------------
    def assign(self, value, use_locking=None, name=None, read_value=True):
        t = assign(self, value, name=name)
        return t if read_value else t.op

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        t = assign_add(self, delta, name=name)
        return t if read_value else t.op

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        t = assign_sub(self, delta, name=name)
        return t if read_value else t.op

    def __repr__(self) -> str:
        return (f"<graphjit.Variable '{self.name}' shape={self.shape} dtype={self.dtype}"
                f"{'' if self.trainable else ' trainable=False'}>")


# -- collections and initializers ------------------------------------------------------

def global_variables(scope: str | None = None, graph: Graph | None = None) -> list[Variable]:
    """Every variable of the (default) graph, in creation order."""
    return _collection(GraphKeys.GLOBAL_VARIABLES, scope, graph)


all_variables = global_variables


def trainable_variables(scope: str | None = None, graph: Graph | None = None) -> list[Variable]:
    """The variables created with trainable=True: what optimizers update by default."""
    return _collection(GraphKeys.TRAINABLE_VARIABLES, scope, graph)


def local_variables(scope: str | None = None, graph: Graph | None = None) -> list[Variable]:
    """The variables made with collections=[GraphKeys.LOCAL_VARIABLES]."""
    return _collection(GraphKeys.LOCAL_VARIABLES, scope, graph)


def model_variables(scope: str | None = None, graph: Graph | None = None) -> list[Variable]:
    return _collection(GraphKeys.MODEL_VARIABLES, scope, graph)


def _collection(key: str, scope, graph) -> list:
    items = (graph or get_default_graph()).get_collection(key)
    if scope:
        items = [v for v in items if v.op.name.startswith(scope)]
    return items


def get_collection(key: str, scope: str | None = None) -> list:
    return _collection(key, scope, None)


def add_to_collection(key: str, value) -> None:
    get_default_graph().add_to_collection(key, value)


def variables_initializer(var_list, name: str = "init") -> Operation:
    """One op running the initializers of `var_list`."""
    var_list = list(var_list)
    if not var_list:
        from graphjit.ops.state_ops import no_op
        return no_op(name=name)
    with var_list[0].graph.as_default():
        return group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    """One op initializing every variable of the default graph (run it first)."""
    return variables_initializer(global_variables())


initialize_all_variables = global_variables_initializer


def local_variables_initializer() -> Operation:
    """One op initializing the local variables of the default graph (a no-op if none)."""
    return variables_initializer(local_variables(), name="init")


initialize_local_variables = local_variables_initializer


def tables_initializer(name: str = "init_all_tables") -> Operation:
    """A no-op: graphjit has no lookup tables to initialize (TF1 scripts run it anyway)."""
    from graphjit.ops.state_ops import no_op
    return no_op(name=name)


initialize_all_tables = tables_initializer


# -- initializers (TF1's tf.*_initializer: callables taking a shape) ---------------------

class Initializer:
    """Called with (shape, dtype=None, partition_info=None), returns the initial tensor."""

    dtype = dtypes.float32

    def __call__(self, shape, dtype=None, partition_info=None):
        raise NotImplementedError


class zeros_initializer(Initializer):  # noqa: N801 - TF's names
    def __init__(self, dtype=dtypes.float32):
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return _constant(0, shape, dtype or self.dtype)


class ones_initializer(zeros_initializer):  # noqa: N801
    def __call__(self, shape, dtype=None, partition_info=None):
        return _constant(1, shape, dtype or self.dtype)


class constant_initializer(Initializer):  # noqa: N801
    def __init__(self, value=0, dtype=dtypes.float32):
        self.value = value
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return _constant(self.value, shape, dtype or self.dtype)


def _constant(value, shape, dtype):
    from graphjit.ops.core import constant
    return constant(value, dtype=dtype, shape=tuple(shape))


class random_normal_initializer(Initializer):  # noqa: N801
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=dtypes.float32):
        self.mean, self.stddev, self.seed = mean, stddev, seed
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_normal(shape, self.mean, self.stddev, dtype or self.dtype, self.seed)


class truncated_normal_initializer(random_normal_initializer):  # noqa: N801
    def __call__(self, shape, dtype=None, partition_info=None):
        return truncated_normal(shape, self.mean, self.stddev, dtype or self.dtype, self.seed)


class random_uniform_initializer(Initializer):  # noqa: N801
    def __init__(self, minval=0.0, maxval=None, seed=None, dtype=dtypes.float32):
        self.minval, self.maxval, self.seed = minval, maxval, seed
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_uniform(shape, self.minval, self.maxval, dtype or self.dtype, self.seed)


def _fans(shape) -> tuple[int, int]:
    """TF's fan_in/fan_out: dense [in, out]; conv [h, w, in, out] scaled by h*w."""
    shape = [int(d) for d in shape]
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class glorot_uniform_initializer(Initializer):  # noqa: N801
    """Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)) (Xavier/Glorot)."""

    def __init__(self, seed=None, dtype=dtypes.float32):
        self.seed = seed
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        fan_in, fan_out = _fans(shape)
        limit = math.sqrt(6.0 / max(1.0, fan_in + fan_out))
        return random_uniform(shape, -limit, limit, dtype or self.dtype, self.seed)


class glorot_normal_initializer(glorot_uniform_initializer):  # noqa: N801
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out)) / .8796 (TF's choice)."""

    def __call__(self, shape, dtype=None, partition_info=None):
        fan_in, fan_out = _fans(shape)
        stddev = math.sqrt(2.0 / max(1.0, fan_in + fan_out)) / 0.87962566103423978
        return truncated_normal(shape, 0.0, stddev, dtype or self.dtype, self.seed)


glorot_uniform = glorot_uniform_initializer
glorot_normal = glorot_normal_initializer


__all__ = ["Variable", "GraphKeys", "global_variables", "all_variables", "trainable_variables",
           "get_collection", "add_to_collection", "variables_initializer",
           "global_variables_initializer", "initialize_all_variables", "local_variables",
           "model_variables", "local_variables_initializer", "initialize_local_variables",
           "tables_initializer", "initialize_all_tables", "zeros_initializer",
           "ones_initializer", "constant_initializer", "random_normal_initializer",
           "truncated_normal_initializer", "random_uniform_initializer",
           "glorot_uniform_initializer", "glorot_normal_initializer", "glorot_uniform",
           "glorot_normal"]
