"""tf.layers' classes (Dense, Conv2D, pooling, Flatten, Dropout, BatchNormalization):
named as the functional layers, their variables made on the first call and shared by
every later call, as TF 1.15's layer objects."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf

ENGINES = ["reference", "compiled"]


@pytest.mark.parametrize("engine", ENGINES)
def test_one_dense_object_shares_its_weights_between_calls(engine):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        a = tf.placeholder(tf.float32, [None, 4])
        b = tf.placeholder(tf.float32, [None, 4])
        disc = tf.layers.Dense(2, activation=tf.nn.relu)
        on_real = disc(a)
        with tf.variable_scope("fake"):
            on_fake = disc(b)  # another scope: still the same variables
        head = tf.layers.Dense(1, name="head", use_bias=False)
        out = head(on_real)
        assert [v.op.name for v in tf.global_variables()] == \
            ["dense/kernel", "dense/bias", "head/kernel"]
        assert disc.kernel.op.name == "dense/kernel" and head.bias is None
        assert [v.op.name for v in disc.trainable_variables] == ["dense/kernel", "dense/bias"]
        with tf.Session(engine=engine) as sess:
            sess.run(tf.global_variables_initializer())
            got_real, got_fake, got_out, kernel, bias, w = sess.run(
                [on_real, on_fake, out, disc.kernel, disc.bias, head.kernel],
                {a: real, b: fake})
    np.testing.assert_allclose(got_real, np.maximum(real @ kernel + bias, 0), rtol=1e-5)
    np.testing.assert_allclose(got_fake, np.maximum(fake @ kernel + bias, 0), rtol=1e-5)
    np.testing.assert_allclose(got_out, got_real @ w, rtol=1e-5)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_small_cnn_of_layer_objects_equals_the_functional_one(engine):
    rng = np.random.default_rng(1)
    images = rng.normal(size=(2, 6, 6, 1)).astype(np.float32)
    results = []
    for objects in (True, False):
        with tf.Graph().as_default():
            tf.set_random_seed(2)
            x = tf.placeholder(tf.float32, [None, 6, 6, 1])
            training = tf.placeholder(tf.bool)
            if objects:
                h = tf.layers.Conv2D(3, 3, padding="same", activation=tf.nn.relu)(x)
                h = tf.layers.MaxPooling2D(2, 2)(h)
                h = tf.layers.BatchNormalization()(h, training=training)
                h = tf.layers.Flatten()(h)
                h = tf.layers.Dropout(0.5)(h, training=training)
                logits = tf.layers.Dense(2)(h)
            else:
                h = tf.layers.conv2d(x, 3, 3, padding="same", activation=tf.nn.relu)
                h = tf.layers.max_pooling2d(h, 2, 2)
                h = tf.layers.batch_normalization(h, training=training)
                h = tf.layers.flatten(h)
                h = tf.layers.dropout(h, 0.5, training=training)
                logits = tf.layers.dense(h, 2)
            names = [v.op.name for v in tf.global_variables()]
            updates = len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
            with tf.Session(engine=engine) as sess:
                sess.run(tf.global_variables_initializer())
                results.append((names, updates,
                                sess.run(logits, {x: images, training: False})))
    (names, updates, value), (f_names, f_updates, f_value) = results
    assert names == f_names and updates == f_updates == 2
    np.testing.assert_allclose(value, f_value, rtol=1e-5)


def test_layer_object_errors():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4])
        with pytest.raises(tf.InvalidArgumentError, match="unexpected call argument"):
            tf.layers.Dense(2)(x, training=True)
        with pytest.raises(tf.InvalidArgumentError, match="name must be a string"):
            tf.layers.Dense(2, name=3)
        layer = tf.layers.Dense(2)
        assert layer.variables == [] and layer.kernel is None  # not built yet
