"""Shared by the save/load tests: exact comparisons and editing a saved file's JSON."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np

import graphjit as tf
from graphjit.function import Function

X = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)  # inputs of small_graph


def assert_same_bits(actual, expected, what="") -> None:
    """Same dtype, shape and bytes: bit-for-bit, NaN payloads included."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.tobytes() == expected.tobytes(), f"{what}: values differ"


def same_value(a, b) -> bool:
    """Equal with the same Python types all the way down (a tuple is no list, 1 is no 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, Function):  # a sub-graph: same name, inputs, outputs and ops
        return (a.name, [t.name for t in a.inputs], [t.name for t in a.outputs],
                a.graph.as_text()) == (b.name, [t.name for t in b.inputs],
                                       [t.name for t in b.outputs], b.graph.as_text()) \
            and all(same_value(x.attrs, y.attrs) for x, y in
                    zip(a.graph.get_operations(), b.graph.get_operations()))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a)
                                                     == math.copysign(1, b))
    return a == b


def small_graph():
    """x -> dense (a variable) -> softmax, plus a sum with attrs; and its init op."""
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(7)
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        with tf.name_scope("dense"):
            w = tf.Variable(tf.glorot_uniform_initializer()([3, 2]), name="kernel")
        probs = tf.nn.softmax(tf.matmul(x, w), name="probs")
        total = tf.reduce_sum(probs, axis=1, name="total")
        init = tf.global_variables_initializer()
    return graph, x, probs, total, init


def trained(steps=3, engine="reference"):
    """small_graph with a training op, run `steps` times: (graph, sess, tensors)."""
    graph, x, probs, total, _ = small_graph()
    with graph.as_default():
        step = tf.train.create_global_step()
        loss = tf.reduce_mean(tf.square(probs - 0.25))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss, global_step=step)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, engine=engine)
    sess.run(init)
    for _ in range(steps):
        sess.run(train, {x: X})
    return graph, sess, {"x": x, "probs": probs, "train": train, "init": init, "step": step}


def read_doc(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("graph.json"))


def rewrite(path, doc: dict | None = None, graph_json: bytes | None = None,
            arrays: bytes | None = None) -> None:
    """Replace graph.json (a dict, or raw bytes) and/or arrays.npz in a saved zip."""
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    if doc is not None:
        graph_json = json.dumps(doc).encode()
    if graph_json is not None:
        entries["graph.json"] = graph_json
    if arrays is not None:
        entries["arrays.npz"] = arrays
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def op_entry(doc: dict, name: str) -> dict:
    return next(op for op in doc["ops"] if op["name"] == name)
