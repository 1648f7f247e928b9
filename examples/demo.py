"""graphjit in five minutes: define a graph, run it, compile it, look inside.

Run: python examples/demo.py
"""

import os
import tempfile

import numpy as np

import graphjit as tf

# 1. The article's example: define phase, then execute phase.
graph = tf.Graph()
with graph.as_default():
    a = tf.constant(5.0, name="a")
    b = tf.constant(3.0, name="b")
    c = tf.add(a, b, name="c")
with tf.Session(graph=graph) as sess:
    print("a + b =", sess.run(c))

# 2. A small classifier layer: logits = x @ W + b, softmax, mean cross-entropy.
rng = np.random.default_rng(0)
graph = tf.Graph()
with graph.as_default():
    x = tf.placeholder(tf.float32, [None, 64], name="x")
    labels = tf.placeholder(tf.int32, [None], name="labels")
    with tf.name_scope("layer1"):
        w = tf.constant(rng.normal(0, 0.1, (64, 10)).astype(np.float32), name="W")
        bias = tf.constant(np.zeros(10, np.float32), name="b")
        logits = tf.nn.bias_add(tf.matmul(x, w), bias, name="logits")
    probs = tf.nn.softmax(logits, name="probs")
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
        name="loss")

print("\nThe graph, one line per op:")
print(graph.as_text([probs, loss]))

batch = rng.normal(size=(32, 64)).astype(np.float32)
targets = rng.integers(0, 10, size=32).astype(np.int32)
with tf.Session(graph=graph) as sess:  # runs compiled native kernels
    p, l = sess.run([probs, loss], {x: batch, labels: targets})
print("\nprobabilities of the first row:", np.round(p[0], 3), " loss:", l)

# 3. compile() gives a callable; look at what it fused and generated.
fn = tf.compile([probs, loss], feeds=[x, labels])
p2, l2 = fn(batch, targets)
assert np.allclose(p, p2) and np.isclose(l, l2)
print("\nkernels:")
for step in fn.kernels:
    print(f"  {step.kind:<7} {step.name}: fuses {', '.join(step.ops)}")
print("\nloop IR of the softmax kernel:")
print(next(s for s in fn.ir("loops").split("\n\n") if "exp" in s))
print("\nprofile of 200 calls, each kernel against this machine's measured roofline:")
profile = fn.profile(batch, targets, repeat=200)
print(profile)

print("\nwhy the kernels were not fused further:")
print(fn.explain())

# 4. Everything above on one page, the profiled runs as a Chrome/Perfetto trace, and a
# picture of the plan (a cluster per kernel): DOT text, SVG when Graphviz is installed.
folder = tempfile.mkdtemp(prefix="graphjit-demo-")
fn.report(os.path.join(folder, "report.html"), batch, targets)
profile.save_trace(os.path.join(folder, "trace.json"))
picture = os.path.join(folder, "plan.dot")
with open(picture, "w") as f:
    f.write(fn.to_dot())
try:
    picture = os.path.join(folder, "plan.svg")
    with open(picture, "w") as f:
        f.write(fn.svg())
except tf.MissingDependencyError:
    pass  # no Graphviz: the DOT text stays
print(f"\nreport (open in a browser): {os.path.join(folder, 'report.html')}")
print(f"trace (chrome://tracing or ui.perfetto.dev): {os.path.join(folder, 'trace.json')}")
print(f"picture of the plan: {picture}")
