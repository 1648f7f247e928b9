"""`graphjit.linalg`: TF1's tf.linalg names that graphjit has (the same functions as
the top-level names: inv is tf.matrix_inverse, diag is tf.matrix_diag...); any other
tf.linalg name raises UnsupportedNameError."""

from graphjit.ops.einsum import einsum  # noqa: F401
from graphjit.ops.linalg import matmul, tensordot  # noqa: F401
from graphjit.ops.linalg_host import matrix_determinant as det  # noqa: F401
from graphjit.ops.linalg_host import matrix_inverse as inv  # noqa: F401
from graphjit.ops.matrix_ops import eye, matrix_transpose, trace  # noqa: F401
from graphjit.ops.matrix_ops import matrix_band_part as band_part  # noqa: F401
from graphjit.ops.matrix_ops import matrix_diag as diag  # noqa: F401
from graphjit.ops.matrix_ops import matrix_diag_part as diag_part  # noqa: F401
from graphjit.ops.matrix_ops import matrix_transpose as transpose  # noqa: F401
from graphjit.ops.norms import norm  # noqa: F401
from graphjit.unsupported import module_getattr

__getattr__ = module_getattr(__name__, "tf.linalg")
