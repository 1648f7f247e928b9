"""`tf.contrib.layers`: TF 1.15's contrib layers (fully_connected, conv2d, pooling,
flatten, batch_norm, dropout), initializers (xavier_initializer, variance_scaling_
initializer) and regularizers; any other name raises UnsupportedNameError."""

from graphjit.contrib.layers.initializers import *  # noqa: F403
from graphjit.contrib.layers.layers import *  # noqa: F403
from graphjit.contrib.layers.regularizers import *  # noqa: F403
from graphjit.unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(__name__, "tf.contrib.layers")
