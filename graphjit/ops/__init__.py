"""graphjit's op library: importing this package registers every primitive op."""

from graphjit.ops import (  # noqa: F401  (registration)
    control_flow,
    conv,
    core,
    elementwise,
    indexing,
    linalg,
    nn,
    overloads,
    reductions,
    scan,
    shape_ops,
    state_ops,
)
