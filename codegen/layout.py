"""A Numba intrinsic retyping an array as C-contiguous, for generated code that checked
its strides itself.

A plan's driver (runtime.plan_driver) takes its inputs as arrays of any layout and
checks their shapes and strides natively (cheaper than NumPy's `.shape` and `.flags`
read from Python on every call); once checked, the kernels must get the C-contiguous
type they were compiled for. All layouts share one data model, so this is no copy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba import types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic


@intrinsic
def as_c_contiguous(typingctx, array):
    """`array`, which the caller checked C-contiguous, typed as a C-layout array."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        return impl_ret_borrowed(context, builder, signature.return_type, args[0])

    return array.copy(layout="C")(array), codegen


def source_hash() -> str:
    """Hash of this module's source: generated code naming it is cached per version."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
