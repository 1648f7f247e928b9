"""Programs in the shape of the public TF1 tutorials (TensorFlow-Examples' basic
operations, nearest neighbour, linear regression, GAN, TensorBoard with gradient
histograms), with only the import changed and tiny random data: each runs in both
engines and its numbers are checked against NumPy or between the engines."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf

ENGINES = ["reference", "compiled"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def test_basic_operations(engine):
    with tf.Graph().as_default():
        a, b = tf.constant(2), tf.constant(3)
        with tf.Session(engine=engine) as sess:
            assert (sess.run(a + b), sess.run(a * b)) == (5, 6)
        a, b = tf.placeholder(tf.int16), tf.placeholder(tf.int16)  # no shape: scalars fed
        add, mul = tf.add(a, b), tf.multiply(a, b)
        product = tf.matmul(tf.constant([[3., 3.]]), tf.constant([[2.], [2.]]))
        hello = tf.constant("Hello, TensorFlow!")
        with tf.Session(engine=engine) as sess:
            got = sess.run([add, mul], feed_dict={a: 2, b: 3})
            assert got == [5, 6] and got[0].dtype == np.int16
            np.testing.assert_array_equal(sess.run(product), [[12.0]])
            assert sess.run(hello) == b"Hello, TensorFlow!"


def test_nearest_neighbor(engine):
    rng = np.random.default_rng(2)
    train = rng.random((30, 16)).astype(np.float32)
    test = train[[3, 17, 25]] + 0.01
    with tf.Graph().as_default():
        xtr = tf.placeholder("float", [None, 16])
        xte = tf.placeholder("float", [16])
        distance = tf.reduce_sum(tf.abs(tf.add(xtr, tf.negative(xte))), reduction_indices=1)
        pred = tf.argmin(distance, 0)
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            found = [sess.run(pred, feed_dict={xtr: train, xte: t}) for t in test]
    assert found == [3, 17, 25]


def _gan(engine: str, steps: int = 4) -> list:
    """TensorFlow-Examples' gan.py: two MLPs, glorot init with a tensor stddev, Adam on
    each player's var_list."""
    noise_dim, image_dim, hidden = 4, 12, 8
    rng = np.random.default_rng(3)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(5)

        def glorot_init(shape):
            return tf.random_normal(shape=shape, stddev=1. / tf.sqrt(shape[0] / 2.))

        w = {k: tf.Variable(glorot_init(s)) for k, s in
             [("g1", [noise_dim, hidden]), ("g2", [hidden, image_dim]),
              ("d1", [image_dim, hidden]), ("d2", [hidden, 1])]}
        b = {k: tf.Variable(tf.zeros([n])) for k, n in
             [("g1", hidden), ("g2", image_dim), ("d1", hidden), ("d2", 1)]}

        def generator(x):
            h = tf.nn.relu(tf.add(tf.matmul(x, w["g1"]), b["g1"]))
            return tf.nn.sigmoid(tf.add(tf.matmul(h, w["g2"]), b["g2"]))

        def discriminator(x):
            h = tf.nn.relu(tf.add(tf.matmul(x, w["d1"]), b["d1"]))
            return tf.nn.sigmoid(tf.add(tf.matmul(h, w["d2"]), b["d2"]))

        gen_input = tf.placeholder(tf.float32, shape=[None, noise_dim])
        disc_input = tf.placeholder(tf.float32, shape=[None, image_dim])
        disc_real, disc_fake = discriminator(disc_input), discriminator(generator(gen_input))
        gen_loss = -tf.reduce_mean(tf.log(disc_fake))
        disc_loss = -tf.reduce_mean(tf.log(disc_real) + tf.log(1. - disc_fake))
        train_gen = tf.train.AdamOptimizer(0.01).minimize(
            gen_loss, var_list=[w["g1"], w["g2"], b["g1"], b["g2"]])
        train_disc = tf.train.AdamOptimizer(0.01).minimize(
            disc_loss, var_list=[w["d1"], w["d2"], b["d1"], b["d2"]])
        losses = []
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(steps):
                feed = {disc_input: rng.random((6, image_dim)),
                        gen_input: rng.uniform(-1., 1., size=[6, noise_dim])}
                _, _, gl, dl = sess.run([train_gen, train_disc, gen_loss, disc_loss], feed)
                losses.append((gl, dl))
    return losses


def test_gan_trains_the_same_in_both_engines():
    reference, compiled = _gan("reference"), _gan("compiled")
    np.testing.assert_allclose(compiled, reference, rtol=1e-4)
    assert all(np.isfinite(reference).ravel())


def test_tensorboard_with_gradient_histograms(engine, tmp_path):
    """tensorboard_advanced.py: name scopes, tf.gradients over trainable variables,
    apply_gradients, histograms named after variables ('W1:0' as TF cleans it)."""
    pytest.importorskip("tensorboard")
    from tests.graphjit.event_files import read_events
    rng = np.random.default_rng(4)
    inputs = rng.random((8, 6)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        x = tf.placeholder(tf.float32, [None, 6], name="InputData")
        y = tf.placeholder(tf.float32, [None, 3], name="LabelData")
        w1 = tf.Variable(tf.random_normal([6, 5]), name="W1")
        w2 = tf.Variable(tf.random_normal([5, 3]), name="W2")
        with tf.name_scope("Model"):
            layer = tf.nn.relu(tf.matmul(x, w1))
            tf.summary.histogram("relu1", layer)
            pred = tf.matmul(layer, w2)
        with tf.name_scope("Loss"):
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=pred,
                                                                          labels=y))
        with tf.name_scope("SGD"):
            grads = tf.gradients(loss, tf.trainable_variables())
            grads = list(zip(grads, tf.trainable_variables()))
            apply_grads = tf.train.GradientDescentOptimizer(0.1).apply_gradients(grads)
        tf.summary.scalar("loss", loss)
        for var in tf.trainable_variables():
            tf.summary.histogram(var.name, var)
        for grad, var in grads:
            tf.summary.histogram(var.name + "/gradient", grad)
        merged = tf.summary.merge_all()
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            writer = tf.summary.FileWriter(str(tmp_path), graph=tf.get_default_graph())
            costs = []
            for step in range(5):
                _, cost, summary = sess.run([apply_grads, loss, merged], {x: inputs, y: labels})
                writer.add_summary(summary, step)
                costs.append(cost)
            writer.close()
    assert costs[-1] < costs[0]
    tags = {v.tag for event in read_events(str(tmp_path)) if event.HasField("summary")
            for v in event.summary.value}
    # "loss_1": TF's names are unique regardless of case, and the scope "Loss" took "loss"
    # (the tutorial's TensorBoard shows loss_1 and accuracy_1 too)
    assert {"loss_1", "Model/relu1", "W1_0", "W1_0/gradient", "W2_0/gradient"} <= tags, tags
