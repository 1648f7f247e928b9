"""`tf.contrib.rnn`: the cells of tf.nn.rnn_cell, static_rnn and its bidirectional form
under their contrib names (TF 1.x kept both spellings)."""

from graphjit.rnn.cell_base import LSTMStateTuple, RNNCell  # noqa: F401
from graphjit.rnn.cells import *  # noqa: F403
from graphjit.rnn.loops import static_bidirectional_rnn, static_rnn  # noqa: F401
from graphjit.rnn.wrappers import *  # noqa: F403
from graphjit.unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(__name__, "tf.contrib.rnn")
