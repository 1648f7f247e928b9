"""tf.summary (TF1): summary ops, whose values TensorBoard reads.

    tf.summary.scalar("loss", loss); tf.summary.histogram("w", w)
    merged = tf.summary.merge_all()
    s, _ = sess.run([merged, train_op], feed)

The ops need nothing beyond graphjit (graphjit.ops.summary_ops).
"""

from graphjit.ops.summary_ops import histogram, merge, merge_all, scalar

__all__ = ["scalar", "histogram", "merge", "merge_all"]
