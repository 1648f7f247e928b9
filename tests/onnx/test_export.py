"""graphjit.onnx export: every registry case and a few models, exported and run by
onnxruntime, against graphjit's reference interpreter; the errors that name what
cannot be exported; and the round trip through graphjit.onnx.import_model."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import graphjit as tf  # noqa: E402
from graphjit.onnx import export_ops  # noqa: E402
from graphjit.onnx.exporter import export  # noqa: E402
from graphjit.registry import NoOnnx, all_op_defs  # noqa: E402
from tests.graphjit.cases import ALL_CASES, MISSING_EXTRAS  # noqa: E402
from tests.graphjit.op_check import assert_close, build_case  # noqa: E402

# Registered op types export leaves out on purpose (the registry says why).
NOT_EXPORTABLE = {t for t, d in all_op_defs().items() if isinstance(d.onnx, NoOnnx)}
# Those a case's graph may hold on its data path: exporting it must fail, naming the type.
_BLOCKING = set(NOT_EXPORTABLE) - {"NoOp"}
# Gradient ops exported only with static shapes (the error says so) ...
STATIC_SHAPES_ONLY = {"Conv2DBackpropInput", "Conv2DBackpropFilter", "AvgPoolGrad",
                      "SumToShapeOf"}
# ... and those needing opset 16 (scatter with reduction="add").
OPSET_16 = {"ScatterAddLike", "MaxPoolGrad"}
# ... and those needing opset 17 (DFT).
OPSET_17 = {"Fft"}
# ... and those needing opset 20 (the string ops), newer than the opsets exported here.
OPSET_20 = {"RegexFullMatch", "StringConcat", "StringSplit", "ImageDecoder"}
# ... and those needing opset 26 (BitCast), newer than the opsets exported here.
OPSET_26 = {"Bitcast", "Cumprod"}
# ONNX op types onnxruntime's CPU provider has no float64 kernel for: a float64 model
# using them is run by onnx's own reference evaluator instead.
ORT_NO_FLOAT64 = {"Conv", "ConvTranspose", "AveragePool", "Erf", "Det", "Asin", "Acos", "Atan"}
# ... and no int32 kernel (its Unique: float, double, int8, int64 and string).
ORT_NO_INT32 = {"Unique"}


def run_onnx(model, feeds: dict) -> list:
    types = {n.op_type for n in model.graph.node}
    if (types & ORT_NO_FLOAT64 and any(a.dtype == np.float64 for a in feeds.values())
            or types & ORT_NO_INT32 and any(a.dtype == np.int32 for a in feeds.values())):
        from onnx.reference import ReferenceEvaluator
        return ReferenceEvaluator(model).run(None, feeds)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def reference(graph, fetches, feed_dict):
    with tf.Session(graph=graph, engine="reference") as sess:
        return sess.run(fetches, feed_dict)


# -- the registry case table -----------------------------------------------------------
# Every dtype of every case with static shapes at the default opset; the first dtype
# again with unknown dims at opset 18 (Reduce* axes as inputs), and at opset 13.

PARAMS = [pytest.param(case, dtype, 17, False, id=f"{case.name}-{dtype}")
          for case in ALL_CASES for dtype in case.dtypes]
PARAMS += [pytest.param(case, case.dtypes[0], opset, unknown, id=f"{case.name}-{label}")
           for case in ALL_CASES
           for opset, unknown, label in ((18, True, "unknown_dims-opset18"),
                                         (13, False, "opset13"))]


def _case_graph(case, dtype, unknown_dims=False):
    arrays = case.make_inputs(np.random.default_rng(0), case.default_shapes, dtype)
    graph, placeholders, out = build_case(case, arrays, unknown_dims)
    return graph, placeholders, out, arrays


@pytest.mark.parametrize("case, dtype, opset, unknown_dims", PARAMS)
def test_case_exports_and_matches_reference(case, dtype, opset, unknown_dims):
    graph, placeholders, out, arrays = _case_graph(case, dtype, unknown_dims)
    fetches = list(out) if isinstance(out, (list, tuple)) else [out]
    types = {op.type for op in graph.get_operations()}
    if any(t.shape.unknown_rank for op in graph.get_operations() for t in op.outputs):
        with pytest.raises(tf.UnsupportedError, match="rank is unknown"):
            export(graph, fetches=fetches, feeds=placeholders, opset=opset, optimize=False)
        return  # (graphjit.specialize makes ranks known only when a value is fed)
    failing = [(_BLOCKING, "")]
    if unknown_dims:
        failing.append((STATIC_SHAPES_ONLY, "static"))
    if opset < 16:
        failing.append((OPSET_16, "opset >= 16"))
    if opset < 17:
        failing.append((OPSET_17, "from opset 17"))
    failing.append((OPSET_20, "from opset 20"))
    failing.append((OPSET_26, "from opset 26"))
    for blocked, message in failing:
        if types & blocked:
            with pytest.raises(tf.UnsupportedError, match="|".join(types & blocked)) as info:
                export(graph, fetches=fetches, feeds=placeholders, opset=opset, optimize=False)
            assert message in str(info.value)
            return
    # optimize=False: every op of the case goes through its own translation.
    model = export(graph, fetches=fetches, feeds=placeholders, opset=opset, optimize=False)
    assert [i.name for i in model.graph.input] == [p.op.name for p in placeholders]
    actual = run_onnx(model, {p.op.name: a for p, a in zip(placeholders, arrays)})
    expected = reference(graph, fetches, dict(zip(placeholders, arrays)))
    for a, e in zip(actual, expected, strict=True):
        assert np.asarray(a).dtype == np.asarray(e).dtype, case.name
        assert_close(a, e, case)


def test_every_exportable_op_type_has_an_exported_case():
    covered = set()
    for case in ALL_CASES:
        graph, _, _, _ = _case_graph(case, case.dtypes[0])
        types = {op.type for op in graph.get_operations()}
        if not types & _BLOCKING:
            covered |= types
    registered = set(all_op_defs())
    # (If and While: ONNX If/Loop with sub-graphs are not translated yet)
    assert NOT_EXPORTABLE == {"VariableV2", "Assign", "NoOp", "TruncatedNormal",
                              "RandomUniformLike", "RandomLike", "ScalarSummary",
                              "HistogramSummary", "MergeSummary", "If", "While",
                              "WhileHistory", "WhileStack", "ScanStack", "DeferredGrad",
                              "CandidateSampler", "MatrixInverse"}
    missing = registered - covered - set(NOT_EXPORTABLE) - MISSING_EXTRAS
    assert not missing, f"exportable op types without an exported case: {sorted(missing)}"
    untranslated = registered - set(export_ops.TRANSLATIONS) - set(NOT_EXPORTABLE)
    assert untranslated == {"Placeholder", "Const"}  # the model's inputs and initializers


# -- models --------------------------------------------------------------------------

def _mlp(rng):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 6], name="x")
        w1 = tf.constant(rng.standard_normal((6, 8)).astype(np.float32), name="w1")
        w2 = tf.constant(rng.standard_normal((8, 3)).astype(np.float32), name="w2")
        hidden = tf.nn.relu(tf.matmul(x, w1) + 0.1, name="hidden")
        probs = tf.nn.softmax(tf.matmul(hidden, w2), name="probs")
    return graph, x, probs


def _cnn(rng, shape=(None, 8, 8, 3)):
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, shape, name="images")
        f1 = tf.constant(rng.standard_normal((3, 3, 3, 4)).astype(np.float32) * 0.3)
        f2 = tf.constant(rng.standard_normal((2, 2, 4, 5)).astype(np.float32) * 0.3)
        h = tf.nn.relu(tf.nn.conv2d(images, f1, 1, "SAME"))
        h = tf.nn.max_pool(h, 3, 2, "SAME")
        h = tf.nn.relu(tf.nn.conv2d(h, f2, [2, 1], "VALID", dilations=[1, 2]))
        h = tf.nn.avg_pool(h, 2, 2, "SAME")
        logits = tf.reduce_mean(h, axis=[1, 2])
        scores = tf.nn.softmax(logits, name="scores")
    return graph, images, scores


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
def test_mlp_softmax_classifier(opset):
    rng = np.random.default_rng(0)
    graph, x, probs = _mlp(rng)
    model = export(graph, opset=opset, model_name="mlp")
    assert model.producer_name == "graphjit" and model.producer_version == tf.__version__
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    assert model.graph.name == "mlp"
    assert [i.name for i in model.graph.input] == ["x"]
    assert [o.name for o in model.graph.output] == ["probs"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert (dims[0].dim_param, dims[1].dim_value) == ("x_dim0", 6)
    assert {i.name for i in model.graph.initializer} >= {"w1", "w2"}
    data = rng.standard_normal((5, 6)).astype(np.float32)
    (out,) = run_onnx(model, {"x": data})
    np.testing.assert_allclose(out, reference(graph, probs, {x: data}), rtol=1e-5, atol=1e-6)


def test_dynamic_batch_runs_at_two_sizes(tmp_path):
    rng = np.random.default_rng(1)
    graph, x, probs = _mlp(rng)
    path = tmp_path / "mlp.onnx"
    export(tf.compile(probs), path)  # a CompiledFunction: its fetches and feeds
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 7):
        data = rng.standard_normal((batch, 6)).astype(np.float32)
        (out,) = session.run(None, {"x": data})
        assert out.shape == (batch, 3)
        np.testing.assert_allclose(out, reference(graph, probs, {x: data}), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("shape", [(None, 8, 8, 3), (None, None, None, 3)],
                         ids=["static_image", "dynamic_image"])
def test_small_cnn(shape):
    rng = np.random.default_rng(2)
    graph, images, scores = _cnn(rng, shape)
    model = export(graph)
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "MaxPool", "AveragePool", "Relu"} <= ops
    sizes = [(2, 8, 8, 3)] if shape[1] else [(2, 8, 8, 3), (1, 9, 7, 3)]
    for size in sizes:
        data = rng.uniform(-1, 1, size).astype(np.float32)
        (out,) = run_onnx(model, {"images": data})
        np.testing.assert_allclose(out, reference(graph, scores, {images: data}), rtol=1e-5,
                                   atol=1e-6)


def test_layer_norm():
    rng = np.random.default_rng(3)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [None, 4, 5], name="x")
        gamma = tf.constant(rng.uniform(0.5, 2, 5))
        beta = tf.constant(rng.uniform(-1, 1, 5))
        y = tf.nn.layer_normalization(x, gamma, beta, name="ln")
    model = export(graph)
    assert [o.name for o in model.graph.output] == ["ln"]
    data = rng.standard_normal((3, 4, 5)) * 4 + 1
    (out,) = run_onnx(model, {"x": data})
    np.testing.assert_allclose(out, reference(graph, y, {x: data}), rtol=1e-12, atol=1e-12)


def _trained(steps=3):
    rng = np.random.default_rng(4)
    data = rng.standard_normal((16, 3)).astype(np.float32)
    labels = (data[:, 0] > data[:, 1]).astype(np.int32)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.placeholder(tf.int32, [None], name="y")
        w = tf.Variable(rng.standard_normal((3, 2)).astype(np.float32), name="w")
        b = tf.Variable(np.zeros(2, np.float32), name="b")
        logits = tf.matmul(x, w) + b
        probs = tf.nn.softmax(logits, name="probs")
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, engine="reference")
    sess.run(init)
    for _ in range(steps):
        sess.run(train, {x: data, y: labels})
    return sess, x, probs, data


def test_frozen_trained_model():
    sess, x, probs, data = _trained()
    expected = sess.run(probs, {x: data})
    frozen, out = tf.freeze(sess, probs)
    model = export(frozen, fetches=out)
    assert not {n.op_type for n in model.graph.node} & {"RandomNormal", "RandomUniform"}
    assert [i.name for i in model.graph.input] == ["x"]  # the labels only fed training
    (actual,) = run_onnx(model, {"x": data})
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    # the same, frozen by export with the session's values, or a compiled function's state
    for model in (export(sess.graph, fetches=probs, session=sess),
                  export(tf.compile(probs, state=sess.state))):
        np.testing.assert_allclose(run_onnx(model, {"x": data})[0], expected, rtol=1e-5,
                                   atol=1e-6)
    sess.close()


def test_fed_intermediate_tensor_and_fetch_names():
    graph, x, probs = _mlp(np.random.default_rng(5))
    hidden = graph.get_tensor_by_name("hidden:0")
    model = export(graph, fetches=["probs", hidden, hidden], feeds=["hidden"])
    assert [i.name for i in model.graph.input] == ["hidden"]
    assert [o.name for o in model.graph.output] == ["probs", "hidden_1", "hidden_2"]
    data = np.abs(np.random.default_rng(6).standard_normal((2, 8))).astype(np.float32)
    out, h1, h2 = run_onnx(model, {"hidden": data})
    np.testing.assert_array_equal(h1, data)
    np.testing.assert_array_equal(h2, data)
    np.testing.assert_allclose(out, reference(graph, probs, {hidden: data}), rtol=1e-5)


def test_constant_fetch_is_an_output():
    graph = tf.Graph()
    with graph.as_default():
        c = tf.constant([1.5, 2.5], name="c")
        x = tf.placeholder(tf.float32, [2], name="x")
        y = tf.add(x, c, name="y")
    model = export(graph, fetches=[y, c], optimize=False)
    assert [o.name for o in model.graph.output] == ["y", "c"]
    y_out, c_out = run_onnx(model, {"x": np.ones(2, np.float32)})
    np.testing.assert_array_equal(c_out, [1.5, 2.5])
    np.testing.assert_array_equal(y_out, [2.5, 3.5])


def test_semantics_the_case_inputs_miss():
    """Empty Any/All, log1p/expm1 near 0 and at the infinities, floor mod/div by signs."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        b = tf.placeholder(tf.bool, [None, 3], name="b")
        fetches = [tf.log1p(x), tf.expm1(x), tf.floormod(x, -1.5), tf.floordiv(x, -1.5),
                   tf.reduce_any(b, 0), tf.reduce_all(b, 0)]
    model = export(graph, fetches=fetches)
    xs = np.array([0, -0.0, 1e-300, -1e-18, 3e-9, -0.5, -1, 2, 750, np.inf, -np.inf, np.nan,
                   -4.5, 4.5, -3, 3])
    bs = np.zeros((0, 3), bool)
    actual = run_onnx(model, {"x": xs, "b": bs})
    expected = reference(graph, fetches, {x: xs, b: bs})
    # FloorDiv is TF's floor(x / y), as compiled code computes it; the reference's NumPy
    # floor_divide differs at the infinities (NaN).
    expected[3] = np.floor(xs / -1.5)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-15, atol=0, equal_nan=True)
    np.testing.assert_array_equal(actual[4:], [[False] * 3, [True] * 3])


# -- errors ---------------------------------------------------------------------------

def _next_line() -> int:
    """The line after the caller's: where the op an error must point at is created."""
    return inspect.currentframe().f_back.f_lineno + 1


def test_unfrozen_variable_is_an_error_saying_freeze():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        line = _next_line()
        w = tf.Variable(np.ones((2, 2), np.float32), name="weights")
        y = tf.matmul(x, w)
    with pytest.raises(tf.UnsupportedError) as info:
        export(graph, fetches=y)
    message = str(info.value)
    assert "VariableV2 'weights'" in message and f"test_export.py:{line}" in message
    assert "graphjit.freeze" in message and "session=" in message


def test_unsupported_op_names_type_name_and_line():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        line = _next_line()
        noise = tf.truncated_normal([3], name="noise")
        y = x + noise
    with pytest.raises(tf.UnsupportedError) as info:
        export(graph, fetches=y)
    message = str(info.value)
    assert "TruncatedNormal 'noise/TruncatedNormal'" in message
    assert f"test_export.py:{line}" in message and "truncated normal" in message


def test_opset_requirement_is_named():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4, 2], name="x")
        y = tf.gradients(tf.reduce_sum(tf.gather(x, [0, 0, 3]) ** 2), x)[0]
    with pytest.raises(tf.UnsupportedError, match="ScatterAddLike .* opset >= 16"):
        export(graph, fetches=y, opset=15)
    with pytest.raises(tf.UnsupportedError, match="opset 12 is not supported"):
        export(graph, fetches=y, opset=12)
    with graph.as_default():
        empty = tf.reshape(x[:0], [0, 5])
    with pytest.raises(tf.UnsupportedError, match="Reshape .* opset >= 14"):
        export(graph, fetches=empty, opset=13)
    assert run_onnx(export(graph, fetches=empty, opset=14),
                    {"x": np.ones((4, 2), np.float32)})[0].shape == (0, 5)


def test_bad_fetches_and_feeds():
    graph, x, probs = _mlp(np.random.default_rng(7))
    with graph.as_default():
        z = tf.placeholder(tf.float32, [None, 3], name="z")
        total = probs + z
        op = tf.no_op(name="step")
    with pytest.raises(tf.GraphError, match="fetch 'step' is an operation"):
        export(graph, fetches=[probs, op])
    with pytest.raises(tf.GraphError, match="placeholder 'z' .* not among the feeds"):
        export(graph, fetches=total, feeds=[x])
    with pytest.raises(tf.GraphError, match="takes a graphjit.Graph"):
        export("graph")


# -- round trip ------------------------------------------------------------------------

@pytest.mark.parametrize("build", [_mlp, _cnn], ids=["mlp", "cnn"])
def test_round_trip_through_import_model(build):
    importer = pytest.importorskip("graphjit.onnx.importer")
    rng = np.random.default_rng(8)
    graph, feed, fetch = build(rng)
    imported = importer.import_model(export(graph))
    data = rng.uniform(-1, 1, (3,) + tuple(feed.shape[1:])).astype(np.float32)
    (out,) = imported.compile()(data)
    np.testing.assert_allclose(out, tf.compile(fetch)(data), rtol=1e-5, atol=1e-6)
