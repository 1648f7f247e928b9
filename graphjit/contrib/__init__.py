"""`tf.contrib`: `tf.contrib.layers`, `tf.contrib.rnn` (the cells and static_rnn
that TF1 tutorials import from it: `from tensorflow.contrib import rnn`) and
`tf.contrib.seq2seq.sequence_loss`; any other name raises
UnsupportedNameError."""

from graphjit.unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(__name__, "tf.contrib")
