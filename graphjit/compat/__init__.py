"""`graphjit.compat`: TF's tf.compat, for `import graphjit.compat.v1 as tf`."""

from graphjit.compat import v1  # noqa: F401
from graphjit.unsupported import module_getattr

__getattr__ = module_getattr(__name__, "tf.compat")
