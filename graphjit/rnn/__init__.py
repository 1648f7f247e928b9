"""Recurrent networks as TF 1.x's: the cells of tf.nn.rnn_cell (graphjit.rnn.cells,
graphjit.rnn.wrappers) and the functions that run them over time
(graphjit.rnn.loops: dynamic_rnn, static_rnn and their bidirectional forms)."""
