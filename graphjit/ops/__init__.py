"""graphjit's op library: importing this package registers every primitive op."""

from graphjit.ops import (  # noqa: F401  (registration)
    candidate_sampling,
    control_flow,
    conv,
    core,
    debug_ops,
    deferred_grad,
    dropout,
    elementwise,
    indexing,
    linalg,
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
