"""What graphjit.optimize does to an MLP training graph: prints the per-pass report.

Run: python examples/optimize_report.py
"""

import graphjit as tf

graph = tf.Graph()
with graph.as_default():
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    labels = tf.placeholder(tf.int32, [None], name="labels")
    sizes = [784, 256, 256, 10]
    h = x
    for i in range(3):
        w = tf.Variable(tf.random_normal([sizes[i], sizes[i + 1]], stddev=0.05, seed=i),
                        name=f"w{i}")
        b = tf.Variable(tf.zeros([sizes[i + 1]]), name=f"b{i}")
        h = tf.nn.bias_add(tf.matmul(h, w), b)
        if i < 2:
            h = tf.nn.relu(h)
    xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=h)
    loss = tf.reduce_mean(xent, name="loss")
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)

optimized, report = tf.optimize(graph, [loss, train])
print(report)
