"""Train an MLP and a small CNN on scikit-learn's digits with graphjit's TF1 API.

The 8x8 digit images ship with scikit-learn (no download). Each model is one
graph: Variables, a softmax cross-entropy loss, `AdamOptimizer.minimize` (the
backward graph is built by graphjit.gradients and compiled like the forward
one). It is trained twice from the same initial values: with compiled native
kernels (`Session()`) and with the NumPy reference interpreter
(`Session(engine="reference")`), printing test accuracy and time per epoch.
Finally the trained MLP is frozen into an inference graph (variables become
constants, training ops are dropped) and compiled on its own.

Run: pip install -e '.[examples]' && python examples/train_digits.py
     (--epochs N, --model mlp|cnn|both, --no-reference)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphjit as tf

try:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
except ImportError:  # pragma: no cover - the example's own extra
    raise SystemExit("this example needs scikit-learn: pip install -e '.[examples]'") from None


def load_data(seed: int = 0):
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # pixels are 0..16
    return train_test_split(images, digits.target.astype(np.int32), test_size=0.2,
                            random_state=seed, stratify=digits.target)


def dense(x, units: int, name: str, activation=None):
    with tf.name_scope(name):
        w = tf.Variable(tf.glorot_uniform_initializer()([int(x.shape[-1]), units]), name="w")
        b = tf.Variable(tf.zeros([units]), name="b")
        y = tf.matmul(x, w) + b
        return activation(y) if activation else y


def mlp(images):
    x = tf.reshape(images, [-1, 64])
    h = dense(x, 128, "hidden", tf.nn.relu)
    return dense(h, 10, "logits")


def cnn(images):
    x = tf.reshape(images, [-1, 8, 8, 1])
    with tf.name_scope("conv"):
        f = tf.Variable(tf.glorot_uniform_initializer()([3, 3, 1, 16]), name="filters")
        b = tf.Variable(tf.zeros([16]), name="b")
        h = tf.nn.relu(tf.nn.conv2d(x, f, strides=[1, 1, 1, 1], padding="SAME") + b)
    h = tf.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
    h = tf.reshape(h, [-1, 4 * 4 * 16])
    return dense(h, 10, "logits")


def build(model, learning_rate: float = 0.01):
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # both engines start from the same weights
        images = tf.placeholder(tf.float32, [None, 8, 8], name="images")
        labels = tf.placeholder(tf.int32, [None], name="labels")
        logits = model(images)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
            name="loss")
        predictions = tf.argmax(logits, axis=1, name="predictions")
        train = tf.train.AdamOptimizer(learning_rate).minimize(loss)
        init = tf.global_variables_initializer()
    return graph, images, labels, loss, predictions, train, init


def train(parts, data, engine: str, epochs: int, batch_size: int = 64):
    graph, images, labels, loss, predictions, train_op, init = parts
    x_train, x_test, y_train, y_test = data
    sess = tf.Session(graph=graph, engine=engine)
    sess.run(init)
    order = np.random.default_rng(0)
    times, losses = [], []
    for _ in range(epochs):
        perm = order.permutation(len(x_train))
        start = time.perf_counter()
        total = 0.0
        for i in range(0, len(perm), batch_size):
            batch = perm[i:i + batch_size]
            value, _ = sess.run([loss, train_op],
                                {images: x_train[batch], labels: y_train[batch]})
            total += float(value) * len(batch)
        times.append(time.perf_counter() - start)
        losses.append(total / len(perm))
    accuracy = float(np.mean(sess.run(predictions, {images: x_test}) == y_test))
    return sess, accuracy, times, losses


def report(engine: str, accuracy: float, times: list, losses: list) -> None:
    steady = times[1:] or times
    first = "epoch 1 (+compiling)" if engine == "compiled" else "epoch 1             "
    print(f"  {engine:<9} test accuracy {accuracy:6.2%}   loss {losses[0]:.3f} -> "
          f"{losses[-1]:.3f}   {first} {times[0] * 1e3:7.1f} ms, then "
          f"{np.mean(steady) * 1e3:7.1f} ms/epoch")


def conv_gradients_available() -> bool:
    from graphjit.registry import get_op_def
    return all(get_op_def(t).grad is not None for t in ("Conv2D", "MaxPool"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--model", choices=["mlp", "cnn", "both"], default="both")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the training with the reference interpreter")
    args = parser.parse_args()
    data = load_data()
    print(f"digits: {len(data[0])} training and {len(data[1])} test images of 8x8 pixels, "
          f"{args.epochs} epochs, batch 64, Adam")
    models = {"mlp": ("MLP 64-128-10", mlp), "cnn": ("CNN conv3x3x16-maxpool-10", cnn)}
    chosen = ["mlp", "cnn"] if args.model == "both" else [args.model]
    engines = ["compiled"] + ([] if args.no_reference else ["reference"])
    speed = {}
    for key in chosen:
        title, model = models[key]
        print(f"\n{title}")
        if key == "cnn" and not conv_gradients_available():
            print("  skipped: conv2d/max_pool have no gradient rules in this graphjit yet")
            continue
        parts = build(model)
        for engine in engines:
            sess, accuracy, times, losses = train(parts, data, engine, args.epochs)
            report(engine, accuracy, times, losses)
            speed[key, engine] = np.mean(times[1:] or times)
            if key == "mlp" and engine == "compiled":
                assert accuracy >= 0.95, f"the MLP should reach 95% test accuracy: {accuracy:.2%}"
                frozen_check(sess, parts, data)
            sess.close()
        if (key, "reference") in speed:
            print(f"  compiled epochs are {speed[key, 'reference'] / speed[key, 'compiled']:.1f}x "
                  "as fast as the reference interpreter's")


def frozen_check(sess, parts, data) -> None:
    """Training graph -> inference graph: freeze the trained MLP and run it compiled."""
    _, images, _, _, predictions, _, _ = parts
    x_test, y_test = data[1], data[3]
    frozen, fetch = tf.freeze(sess, predictions)
    predict = tf.compile(fetch)
    accuracy = float(np.mean(predict(x_test) == y_test))
    kinds = sorted({op.type for op in frozen.get_operations()})
    print(f"  frozen inference graph: {len(frozen.get_operations())} ops ({', '.join(kinds)}), "
          f"test accuracy {accuracy:6.2%}")


if __name__ == "__main__":
    main()
