"""`tf.nn.rnn_cell`: TF 1.x's recurrent cells, their state tuple and wrappers."""

from graphjit.rnn.cell_base import LSTMStateTuple, RNNCell  # noqa: F401
from graphjit.rnn.cells import *  # noqa: F403
from graphjit.rnn.wrappers import *  # noqa: F403
from graphjit.unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(__name__, "tf.nn.rnn_cell")
