"""graphjit's op library: importing this package registers every primitive op."""

from graphjit.ops import (  # noqa: F401  (registration)
    control_flow,
    conv,
    core,
    debug_ops,
    deferred_grad,
    dropout,
    elementwise,
    indexing,
    linalg,
    linalg_host,
    masking,
    nn,
    overloads,
    random_like,
    reductions,
    scan,
    shape_ops,
    sorting,
    state_ops,
    summary_ops,
)
