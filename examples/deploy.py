"""From a training graph to a deployed inference graph: checkpoint, freeze, save, load
elsewhere, and move to and from ONNX.

The article's deployment story in graphjit: train a small classifier (two Gaussian
blobs, generated here), checkpoint its variables with `tf.train.Saver`, freeze the
trained graph into an inference graph (variables become constants, training ops
are dropped), save it in graphjit's data-only format and load it in a fresh Python
process, which predicts the same bits. With the `onnx` extra installed it also
exports the inference graph to ONNX, runs it in ONNX Runtime, and imports it back.

Run: python examples/deploy.py    (pip install -e '.[onnx]' for the ONNX part)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

import graphjit as tf


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    points = rng.normal(size=(n, 2)) + np.where(labels[:, None] == 1, 1.5, -1.5)
    return points.astype(np.float32), labels.astype(np.int32)


def train(directory: str):
    """A 2-16-2 MLP trained with Adam; returns the session and its tensors."""
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        y = tf.placeholder(tf.int32, [None], name="y")
        with tf.name_scope("hidden"):
            w1 = tf.Variable(tf.random_normal([2, 16], stddev=0.5), name="kernel")
            b1 = tf.Variable(tf.zeros([16]), name="bias")
            h = tf.nn.relu(tf.matmul(x, w1) + b1)
        with tf.name_scope("logits"):
            w2 = tf.Variable(tf.random_normal([16, 2], stddev=0.5), name="kernel")
            b2 = tf.Variable(tf.zeros([2]), name="bias")
            logits = tf.matmul(h, w2) + b2
        probs = tf.nn.softmax(logits, name="probs")
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        step = tf.train.AdamOptimizer(0.05).minimize(loss)
        init = tf.global_variables_initializer()
        saver = tf.train.Saver()  # (like TF's, it saves the default graph's variables)
    sess = tf.Session(graph=graph)
    sess.run(init)
    points, labels = make_data(512)
    for _ in range(100):
        _, value = sess.run([step, loss], {x: points, y: labels})
    print(f"trained: loss {value:.4f}")

    path = saver.save(sess, os.path.join(directory, "ckpt", "model"), global_step=100)
    fresh = tf.Session(graph=graph)
    saver.restore(fresh, path)  # a new session gets the trained values back
    same = np.array_equal(fresh.run(probs, {x: points}), sess.run(probs, {x: points}))
    print(f"checkpoint {os.path.basename(path)}: restored session agrees: {same}")
    return sess, x, probs


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        sess, x, probs = train(directory)
        frozen, (frozen_probs,) = tf.freeze(sess, [probs])
        print(f"frozen inference graph: {len(frozen.get_operations())} ops "
              f"(training graph: {len(sess.graph.get_operations())})")

        model = os.path.join(directory, "classifier.gjz")
        tf.save(frozen, model, fetches=[frozen_probs])
        test_points, test_labels = make_data(200, seed=1)
        expected = tf.compile(frozen_probs)(test_points)
        accuracy = np.mean(expected.argmax(1) == test_labels)
        print(f"saved {os.path.basename(model)} ({os.path.getsize(model)} bytes); "
              f"test accuracy {accuracy:.3f}")

        # Deploy: a fresh process loads the file and predicts.
        points_file = os.path.join(directory, "points.npy")
        np.save(points_file, test_points)
        child = ("import sys, numpy as np, graphjit as tf\n"
                 "loaded = tf.load(sys.argv[1])\n"
                 "np.save(sys.argv[3], loaded.compile()(np.load(sys.argv[2])))\n")
        out_file = os.path.join(directory, "predicted.npy")
        subprocess.run([sys.executable, "-c", child, model, points_file, out_file], check=True)
        print("a fresh process loaded it and predicts the same bits:",
              np.array_equal(np.load(out_file), expected))

        try:
            import graphjit.onnx as gjx
        except ImportError:
            print("ONNX part skipped: pip install -e '.[onnx]'")
            return
        onnx_file = os.path.join(directory, "classifier.onnx")
        gjx.export(frozen, onnx_file, fetches=[frozen_probs])
        imported = gjx.import_model(onnx_file)
        back = imported.compile()(test_points)
        print(f"exported {os.path.basename(onnx_file)}; imported back, max difference "
              f"{np.abs(back - expected).max():.2e}")
        try:
            import onnxruntime
        except ImportError:
            return
        session = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        (ort_probs,) = session.run(None, {name: test_points})
        print(f"ONNX Runtime runs it: max difference {np.abs(ort_probs - expected).max():.2e}")


if __name__ == "__main__":
    main()
