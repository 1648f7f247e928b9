"""`graphjit.math`: TF1's tf.math names that graphjit has (the same functions as the
top-level and tf.nn names); any other tf.math name raises UnsupportedNameError."""

from graphjit.ops.division import truncatediv, truncatemod  # noqa: F401
from graphjit.ops.elementwise import (  # noqa: F401
    abs,
    acos,
    add,
    asin,
    atan,
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
    truediv,
)
from graphjit.ops.math_ops import count_nonzero, saturate_cast, squared_difference  # noqa: F401
from graphjit.ops.nd_indexing import (  # noqa: F401
    invert_permutation,
    unsorted_segment_max,
    unsorted_segment_mean,
    unsorted_segment_min,
    unsorted_segment_sum,
)
from graphjit.ops.nn import log_softmax, softmax, softplus  # noqa: F401
from graphjit.ops.nn_extras import in_top_k, l2_normalize, softsign  # noqa: F401
from graphjit.ops.norms import reduce_euclidean_norm, reduce_std, reduce_variance  # noqa: F401
from graphjit.ops.reductions import (  # noqa: F401
    argmax,
    argmin,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
)
from graphjit.ops.scan import cumprod, cumsum  # noqa: F401
from graphjit.ops.sorting import top_k  # noqa: F401
from graphjit.unsupported import module_getattr

__getattr__ = module_getattr(__name__, "tf.math")
