"""tf.summary (TF1): summary ops and the FileWriter that logs them for TensorBoard.

    tf.summary.scalar("loss", loss); tf.summary.histogram("w", w)
    merged = tf.summary.merge_all()
    writer = tf.summary.FileWriter("/tmp/logs", sess.graph)
    s, _ = sess.run([merged, train_op], feed); writer.add_summary(s, step)

The ops need nothing beyond graphjit (graphjit.ops.summary_ops); FileWriter and
`Summary` need the tensorboard extra: pip install 'graphjit[tensorboard]'.
"""

from graphjit.ops.summary_ops import histogram, merge, merge_all, scalar
from graphjit.summary.writer import FileWriter
from graphjit.unsupported import module_getattr

_unsupported = module_getattr(__name__, "tf.summary")


def __getattr__(name: str):
    if name == "Summary":  # TF1's tf.summary.Summary protobuf class, for hand-made values
        from graphjit.summary.writer import require_tensorboard
        return require_tensorboard("tf.summary.Summary")[1].Summary
    return _unsupported(name)  # UnsupportedNameError, naming tf.summary.<name>


__all__ = ["scalar", "histogram", "merge", "merge_all", "FileWriter", "Summary"]
