"""graphjit: TensorFlow-1-style computation graphs, compiled to native code.

Define a graph (`Graph`, `placeholder`, `constant`, ops), then run it
(`Session.run`, or `compile(graph)`). `import graphjit as tf` runs most TF1
graph code unchanged.
"""

import importlib as _importlib

from codegen.long_lived import long_lived as _long_lived

# The op modules and their lowering rules, nearly all of the import: its objects go
# straight to the collector's oldest generation (codegen.long_lived) instead of being
# swept by the young collections the import would trigger (~4 ms of a warm start's CPU).
with _long_lived():
    from graphjit import (
        dtypes,
        graph_util,
        initializers,
        linalg,
        losses,
        math,
        nn,
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
from graphjit.threads import get_num_threads, set_num_threads, thread_budget
from graphjit.variable_scope import *  # noqa: F403
from graphjit.variables import *  # noqa: F403

bool = bool_  # noqa: A001 - TF spells it tf.bool

__version__ = "0.1.0"

from graphjit import tf_logging as logging  # noqa: E402

# Names a graph's first compiled call never needs (saving and loading, training,
# summaries, pictures, TF1's app scaffolding, the layers API): imported when first asked
# for, which keeps `import graphjit` and a warm start's first result short
# (benchmarks/startup.py).
_LAZY = {"io": "graphjit.io", "train": "graphjit.train", "summary": "graphjit.summary",
         "viz": "graphjit.viz", "app": "graphjit.app", "flags": "graphjit.flags",
         "gfile": "graphjit.gfile", "load": "graphjit.io:load", "save": "graphjit.io:save",
         "LoadedGraph": "graphjit.io:LoadedGraph", "layers": "graphjit.layers"}

# isort: split
from graphjit import compat  # noqa: E402 - last: tf.compat.v1 copies the names above
from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

_unsupported = _module_getattr(__name__, "tf")


def __getattr__(name: str):
    found = _LAZY.get(name)
    if found is None:
        return _unsupported(name)
    module, _, attribute = found.partition(":")
    value = _importlib.import_module(module)
    value = getattr(value, attribute) if attribute else value
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
