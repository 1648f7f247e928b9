"""`tf.layers`: TF 1.15's functional layers (dense, conv2d, conv2d_transpose, pooling,
flatten, dropout, batch_normalization), and the same as layer objects (Dense, Conv2D...)
that share their variables between calls.

Each call makes its variables with get_variable in a variable scope named as TF's
("dense/kernel", "dense_1/kernel", "batch_normalization/moving_mean"), so the
scope's initializer, regularizer and reuse apply, and builds its ops in that scope.
"""

from graphjit.layers.classes import *  # noqa: F403
from graphjit.layers.convolutional import *  # noqa: F403
from graphjit.layers.core import *  # noqa: F403
from graphjit.layers.normalization import *  # noqa: F403
from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.layers")
