"""save -> load keeps a graph exactly: every registry case, every attr kind, names,
collections, seeds, fetches and feeds; the loaded graph computes the same bits."""

from __future__ import annotations

import json
import math
import os
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphjit as tf
from graphjit.io.attrs_codec import AttrError, attr_kind, check_kind, decode, encode
from graphjit.io.loader import FileSource
from tests.graphjit.cases import ALL_CASES
from tests.graphjit.io.helpers import (
    assert_same_bits,
    op_entry,
    read_doc,
    rewrite,
    same_value,
    small_graph,
)
from tests.graphjit.op_check import build_case

# Cases whose graphs hold string constants, which the format does not store (refused).
STRING_CONSTANTS = {"string_ops"}
PARAMS = [pytest.param(case, dtype, id=f"{case.name}-{dtype}")
          for case in ALL_CASES for dtype in case.dtypes]


def _flat(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("case, dtype", PARAMS)
def test_every_case_round_trips(case, dtype, tmp_path):
    arrays = case.make_inputs(np.random.default_rng(0), case.default_shapes, dtype)
    graph, placeholders, out = build_case(case, arrays)
    fetches = _flat(out)
    if case.name in STRING_CONSTANTS:
        with pytest.raises(tf.UnsupportedError, match="dtype object .*does not store"):
            tf.save(graph, tmp_path / "case.gjz", fetches=fetches, feeds=placeholders)
        return
    path = tf.save(graph, tmp_path / "case.gjz", fetches=fetches, feeds=placeholders)
    loaded = tf.load(path)

    new_ops = loaded.graph.get_operations()
    assert [op.name for op in new_ops] == [op.name for op in graph.get_operations()]
    assert loaded.graph.as_text() == graph.as_text()
    for old, new in zip(graph.get_operations(), new_ops):
        assert old.attrs.keys() == new.attrs.keys(), old.name
        for key in old.attrs:
            assert same_value(new.attrs[key], old.attrs[key]), f"{old.name}.{key}"
        assert [c.name for c in new.control_inputs] == [c.name for c in old.control_inputs]
        assert new.source == FileSource(str(path), new_ops.index(new), new.name)
    assert [t.name for t in loaded.fetches] == [t.name for t in fetches]
    assert [t.name for t in loaded.feeds] == [p.name for p in placeholders]

    with tf.Session(graph=graph, engine="reference") as sess:
        expected = sess.run(fetches, dict(zip(placeholders, arrays)))
    with tf.Session(graph=loaded.graph, engine="reference") as sess:
        actual = sess.run(loaded.fetches, dict(zip(loaded.feeds, arrays)))
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert_same_bits(a, e, f"{case.name} output {i}")


def _case_attrs():
    for case in ALL_CASES:
        for dtype in case.dtypes:
            arrays = case.make_inputs(np.random.default_rng(0), case.default_shapes, dtype)
            for op in build_case(case, arrays)[0].get_operations():
                yield from ((op.type, key, value) for key, value in op.attrs.items())


def test_every_attr_of_the_case_table_has_a_kind_that_fits():
    """Every attr an op is built with is in its registry entry (OpDef.attrs), with a kind
    its value fits, so loading checks it."""
    for op_type, key, value in _case_attrs():
        assert attr_kind(op_type, key) is not None, f"{op_type}.{key} has no kind"
        assert check_kind(op_type, key, value) is None, f"{op_type}.{key} = {value!r}"


_leaves = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
           | st.text(max_size=5) | st.sampled_from(tf.dtypes.ALL)
           | st.lists(st.none() | st.integers(0, 9), max_size=4).map(tf.TensorShape)
           | st.sampled_from([np.float32(1.5), np.int64(-3), np.bool_(True)])
           | st.integers(0, 3).map(lambda n: np.arange(n * 2, dtype=np.float64).reshape(n, 2)))
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=3)
                       | st.lists(inner, max_size=3).map(tuple), max_leaves=12)


@given(_values)
def test_attr_codec_keeps_values_and_types_exactly(value):
    arrays = {}

    def put(array):
        arrays[f"a{len(arrays)}"] = array
        return f"a{len(arrays) - 1}"
    text = json.dumps(encode(value, put), allow_nan=False)  # strict JSON: nan/inf tagged
    assert same_value(decode(json.loads(text), arrays.__getitem__), value)


def test_floats_keep_their_bits_and_specials():
    for value in (0.1, -0.0, 1e-310, 1.7976931348623157e308, math.inf, -math.inf):
        assert same_value(decode(json.loads(json.dumps(encode(value, None))), None), value)
    assert math.isnan(decode(encode(math.nan, None), None))


def test_control_flow_round_trips_with_its_sub_graphs(tmp_path):
    """Nested sub-graphs (a cond in a loop body, a cond's gradient) are saved with their
    ops; the loaded graph computes the same bits in both engines and differentiates."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        p = tf.placeholder(tf.bool, [], name="p")

        def body(i, v):
            return i + 1, tf.cond(tf.reduce_sum(v) > 0, lambda: v * 0.5, lambda: v - x)
        _, looped = tf.while_loop(lambda i, v: i < 4, body, [0, x], name="loop")
        chosen = tf.cond(p, lambda: tf.sin(x) * looped, lambda: x * x, name="choose")
        (grad,) = tf.gradients(tf.reduce_sum(chosen), [x])
    fetches = [looped, chosen, grad]
    loaded = tf.load(tf.save(graph, tmp_path / "cf.gjz", fetches=fetches, feeds=[x, p]))
    assert loaded.graph.as_text() == graph.as_text()
    old_op, new_op = graph.get_operation_by_name("loop"), loaded.graph.get_operation_by_name(
        "loop")
    for key in ("cond", "body"):
        assert same_value(new_op.attrs[key], old_op.attrs[key]), key
    a = np.array([1.5, -2.0, 3.0])
    for flag in (True, False):
        for engine in ("reference", "compiled"):
            with tf.Session(graph=graph, engine=engine) as sess:
                expected = sess.run(fetches, {x: a, p: flag})
            with tf.Session(graph=loaded.graph, engine=engine) as sess:
                actual = sess.run(loaded.fetches, dict(zip(loaded.feeds, [a, flag])))
            for i, (got, want) in enumerate(zip(actual, expected)):
                assert_same_bits(got, want, f"{engine} output {i}")
    with loaded.graph.as_default():
        (again,) = tf.gradients(tf.reduce_sum(loaded.fetches[1]), [loaded.feeds[0]])
    with tf.Session(graph=loaded.graph) as sess:
        np.testing.assert_allclose(sess.run(again, {loaded.feeds[0]: a, loaded.feeds[1]: True}),
                                   sess.run(loaded.fetches[2], dict(zip(loaded.feeds,
                                                                        [a, True]))))


def test_a_malformed_sub_graph_is_a_load_error_naming_it(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        p = tf.placeholder(tf.bool, [], name="p")
        tf.cond(p, lambda: tf.constant(1.0), lambda: tf.constant(2.0), name="choose")
    path = tf.save(graph, tmp_path / "m.gjz")
    doc = read_doc(path)
    branch = op_entry(doc, "choose")["attrs"]["then_branch"]["function"]
    branch["ops"][0]["type"] = "NoSuchOp"
    rewrite(path, doc)
    with pytest.raises(tf.LoadError, match=r"op 'choose'.*attr 'then_branch'.*in function "
                                           r"'choose/true_fn'.*unknown op type 'NoSuchOp'"):
        tf.load(path)
    del branch["outputs"]
    rewrite(path, doc)
    with pytest.raises(tf.LoadError, match="a sub-graph lacks the field 'outputs'"):
        tf.load(path)


def test_unsavable_attr_names_the_op_and_attr(tmp_path):
    graph, *_ = small_graph()
    graph.get_operation_by_name("total").attrs["axes"] = {1}  # a set: not storable
    with pytest.raises(tf.UnsupportedError, match=r"Sum 'total'.*attr 'axes'.*set"):
        tf.save(graph, tmp_path / "m.gjz")
    with pytest.raises(AttrError, match="object"):
        encode(np.array([object()]), lambda a: "k")


def test_defaults_are_compiles_fetches_and_feeds(tmp_path):
    graph, x, probs, total, init = small_graph()
    loaded = tf.load(tf.save(graph, tmp_path / "m.gjz"))
    # outputs: tensors no op consumes (placeholders and assignments excluded); total is one
    assert [t.name for t in loaded.fetches] == ["total:0"]
    assert [t.name for t in loaded.feeds] == ["x:0"]
    assert isinstance(loaded.fetches[0], tf.Tensor) and loaded.fetches[0].graph is loaded.graph


def test_op_fetches_and_tensor_feeds_by_name(tmp_path):
    graph, x, probs, total, init = small_graph()
    loaded = tf.load(tf.save(graph, tmp_path / "m.gjz", fetches=[init, "probs:0"],
                             feeds=["x", probs]))
    assert isinstance(loaded.fetches[0], tf.Operation) and loaded.fetches[0].name == "init"
    assert [t.name for t in loaded.feeds] == ["x:0", "probs:0"]


def test_directory_form(tmp_path):
    graph, x, probs, total, init = small_graph()
    path = tf.save(graph, str(tmp_path / "model") + "/")
    assert sorted(os.listdir(path)) == ["arrays.npz", "graph.json"]
    existing = tmp_path / "existing"
    existing.mkdir()
    tf.save(graph, existing)  # an existing directory is written into
    assert sorted(os.listdir(existing)) == ["arrays.npz", "graph.json"]
    for where in (path, existing):
        assert tf.load(where).graph.as_text() == graph.as_text()
    assert zipfile.is_zipfile(tf.save(graph, tmp_path / "model.gjz"))


def test_variables_and_collections_come_back(tmp_path):
    graph, *_ = small_graph()
    with graph.as_default():
        tf.train.create_global_step()
        tf.Variable(np.ones(2, np.float32), trainable=False, name="frozen_bias")
        init_all = tf.global_variables_initializer()
    loaded = tf.load(tf.save(graph, tmp_path / "m.gjz"))
    new = loaded.graph
    names = [v.op.name for v in tf.global_variables(graph=new)]
    assert names == ["dense/kernel", "global_step", "frozen_bias"]
    assert [v.op.name for v in tf.trainable_variables(graph=new)] == ["dense/kernel"]
    kernel, step, bias = tf.global_variables(graph=new)
    assert isinstance(kernel, tf.Variable) and kernel.trainable and not bias.trainable
    assert kernel.initializer.name == "dense/kernel/Assign" and kernel.initializer.graph is new
    assert kernel.initial_value.graph is new and kernel.initial_value.name == \
        graph.get_tensor_by_name("dense/kernel:0").initial_value.name
    assert tf.train.get_global_step(new) is step
    # The initializers (seeded) give the loaded graph's variables the same values.
    with tf.Session(graph=graph, engine="reference") as a, \
            tf.Session(graph=new, engine="reference") as b:
        a.run(init_all)
        b.run(new.get_operation_by_name(init_all.name))
        assert new.seed == graph.seed == 7
        for name in names:
            assert_same_bits(b.state[name], a.state[name], name)


def test_loaded_names_are_reserved(tmp_path):
    graph, *_ = small_graph()
    new = tf.load(tf.save(graph, tmp_path / "m.gjz")).graph
    with new.as_default():
        with tf.name_scope("dense") as scope:
            assert scope == "dense_1/"  # as in the original graph: the scope is taken
        assert tf.identity(new.get_tensor_by_name("probs:0"), name="probs").name == "probs_1:0"


def test_skipped_collection_values_warn(tmp_path):
    graph, *_ = small_graph()
    graph.add_to_collection("notes", "a python string")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = tf.load(tf.save(graph, tmp_path / "m.gjz"))
    assert any("collection 'notes'" in str(w.message) for w in caught)
    assert loaded.graph.get_collection("notes") == []


def test_save_rejects_non_graphs(tmp_path):
    with pytest.raises(TypeError, match="Graph or a CompiledFunction"):
        tf.save("not a graph", tmp_path / "m.gjz")
