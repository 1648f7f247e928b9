"""graphjit: TensorFlow-1-style computation graphs, compiled to native code.

Define a graph (`Graph`, `placeholder`, `constant`, ops), then run it
(`Session.run`, or `compile(graph)`). `import graphjit as tf` runs most TF1
graph code unchanged.
"""

from graphjit import (
    dtypes,
    graph_util,
    initializers,
    layers,
    linalg,
    losses,
    math,
    nn,
    summary,
    train,
    viz,
)
from graphjit.api import CompiledFunction, compile, jit
from graphjit.autodiff import gradients
from graphjit.compile_log import set_log
from graphjit.config import *  # noqa: F403
from graphjit.dtypes import (
    DType,
    as_dtype,
    bool_,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    string,
    uint8,
    uint16,
    uint32,
    uint64,
)
from graphjit.errors import (
    CompileError,
    DTypeError,
    Error,
    FailedPreconditionError,
    FeedError,
    GraphError,
    GraphMismatchError,
    InvalidArgumentError,
    LoadError,
    MissingDependencyError,
    NoDefaultSessionError,
    NotDifferentiableError,
    NotFoundError,
    ResourceExhaustedError,
    SessionClosedError,
    ShapeError,
    UnknownRankError,
    UnsupportedError,
    UnsupportedNameError,
    VariableError,
)
from graphjit.graph import (
    Graph,
    Operation,
    Tensor,
    TensorShape,
    control_dependencies,
    get_default_graph,
    name_scope,
    reset_default_graph,
)
from graphjit.graph_util import freeze
from graphjit.initializers import variance_scaling_initializer
from graphjit.io import LoadedGraph, load, save
from graphjit.ops.array_ops import *  # noqa: F403
from graphjit.ops.bitcast import bitcast
from graphjit.ops.clip_ops import *  # noqa: F403
from graphjit.ops.control_flow import case, cond, while_loop
from graphjit.ops.core import (
    constant,
    ensure_shape,
    identity,
    placeholder,
    placeholder_with_default,
    stop_gradient,
)
from graphjit.ops.debug_ops import *  # noqa: F403
from graphjit.ops.division import *  # noqa: F403
from graphjit.ops.einsum import *  # noqa: F403
from graphjit.ops.elementwise import (
    abs,
    acos,
    add,
    asin,
    atan,
    cast,
    ceil,
    cos,
    divide,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floordiv,
    floormod,
    greater,
    greater_equal,
    is_finite,
    is_inf,
    is_nan,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    not_equal,
    pow,
    realdiv,
    reciprocal,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    subtract,
    tanh,
    to_float,
    truediv,
    where,
)
from graphjit.ops.functional_ops import foldl, foldr, map_fn, scan
from graphjit.ops.linalg import *  # noqa: F403
from graphjit.ops.linalg_host import *  # noqa: F403
from graphjit.ops.masking import *  # noqa: F403
from graphjit.ops.math_ops import *  # noqa: F403
from graphjit.ops.matrix_ops import *  # noqa: F403
from graphjit.ops.nd_indexing import *  # noqa: F403
from graphjit.ops.norms import norm  # (the reductions are tf.math names only)
from graphjit.ops.reductions import *  # noqa: F403
from graphjit.ops.scan import *  # noqa: F403
from graphjit.ops.shape_ops import *  # noqa: F403
from graphjit.ops.sorting import argsort, sort
from graphjit.ops.state_ops import (
    assign,
    assign_add,
    assign_sub,
    get_seed,
    group,
    no_op,
    random_normal,
    random_uniform,
    set_random_seed,
    truncated_normal,
)
from graphjit.ops.unique import unique, unique_with_counts
from graphjit.passes import optimize
from graphjit.placement import DeviceSpec, colocate_with, container, device
from graphjit.session import InteractiveSession, Session, get_default_session
from graphjit.variable_scope import *  # noqa: F403
from graphjit.variables import *  # noqa: F403

bool = bool_  # noqa: A001 - TF spells it tf.bool

__version__ = "0.1.0"

# TF1's scaffolding namespaces: after the ops, as gfile lives in graphjit.io.
from graphjit import app, flags, gfile  # noqa: E402
from graphjit import tf_logging as logging  # noqa: E402

# isort: split
from graphjit import compat  # noqa: E402 - last: tf.compat.v1 copies the names above
from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf")
