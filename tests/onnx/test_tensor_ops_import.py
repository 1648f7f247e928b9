"""ONNX tensor ops beyond ONNX's node cases (graphjit.onnx.ops_cumprod_einsum,
ops_index_select, ops_scatter, ops_value_sized, ops_bitcast): each model's compiled
outputs against graphjit's reference interpreter and ONNX's reference implementation,
on the edges the node cases skip (repeated indices, negative indices, extreme integers,
other axes, run-time sizes), and refusals that name the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import graphjit as tf  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import make_model  # noqa: E402


def _check(model, *feed_sets):
    """Compile once; per feed dict, compiled == graphjit's reference == ONNX's."""
    graph = import_model(model)
    fn = graph.compile()
    onnx_ref = ReferenceEvaluator(model)
    for feeds in feed_sets:
        got = fn(**feeds)
        with tf.Session(graph=graph, engine="reference") as sess:
            ref = sess.run(list(graph.outputs), {p: feeds[p.op.name] for p in graph.inputs})
        want = onnx_ref.run(None, feeds)
        for out, g, r, w in zip(model.graph.output, got, ref, want, strict=True):
            for name, a in (("compiled", g), ("reference", r)):
                a = np.asarray(a)
                assert a.dtype == w.dtype and a.shape == w.shape, (out.name, name, a, w)
                np.testing.assert_array_equal(a, w, err_msg=f"{out.name} ({name})")
    return fn


def _refused(model, *words):
    with pytest.raises(tf.UnsupportedError) as info:
        import_model(model)
    for word in words:
        assert word in str(info.value)


def test_scatter_nd_reductions_with_repeated_and_negative_indices():
    nodes = [helper.make_node("ScatterND", ["data", "idx", "upd"], [r], reduction=r)
             for r in ("add", "mul", "max", "min")]
    nodes.append(helper.make_node("ScatterND", ["data", "uidx", "upd"], ["none"]))
    model = make_model(nodes, {"data": (np.float32, [4, 3]), "idx": (np.int64, [3, 1]),
                               "uidx": (np.int64, [3, 1]), "upd": (np.float32, [3, 3])},
                       ["add", "mul", "max", "min", "none"], opset=18)
    rng = np.random.default_rng(0)
    feeds = [{"data": rng.integers(-4, 5, (4, 3)).astype(np.float32),
              "idx": np.array(idx, np.int64).reshape(3, 1),
              "uidx": np.array(uidx, np.int64).reshape(3, 1),
              "upd": rng.integers(-4, 5, (3, 3)).astype(np.float32)}
             for idx, uidx in (([0, -4, 2], [3, 0, 1]), ([1, 1, -1], [-1, -2, -3]))]
    _check(model, *feeds)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # ints wrap
def test_scatter_elements_on_axis_1_with_max_and_int_data():
    nodes = [helper.make_node("ScatterElements", ["data", "idx", "upd"], [f"y_{r}"], axis=1,
                              reduction=r) for r in ("max", "add", "mul")]
    model = make_model(nodes, {"data": (np.int32, [2, 4]), "idx": (np.int64, [2, 3]),
                               "upd": (np.int32, [2, 3])},
                       [("y_max", np.int32), ("y_add", np.int32), ("y_mul", np.int32)],
                       opset=18)
    info = np.iinfo(np.int32)
    _check(model, {"data": np.array([[info.min, 0, 5, 1], [2, 3, 4, info.max]], np.int32),
                   "idx": np.array([[0, -1, 0], [3, 3, -4]], np.int64),
                   "upd": np.array([[7, -2, info.min], [1, 9, -3]], np.int32)})


def test_an_index_out_of_range_is_an_error_at_run_time():
    node = helper.make_node("ScatterND", ["data", "idx", "upd"], ["y"])
    model = make_model([node], {"data": (np.float32, [4]), "idx": (np.int64, [1, 1]),
                                "upd": (np.float32, [1])}, ["y"], opset=18)
    fn = import_model(model).compile()
    ok = {"data": np.zeros(4, np.float32), "upd": np.ones(1, np.float32)}
    np.testing.assert_array_equal(fn(idx=np.array([[2]], np.int64), **ok)[0], [0, 0, 1, 0])
    with pytest.raises(tf.Error):
        fn(idx=np.array([[4]], np.int64), **ok)


def test_top_k_smallest_on_a_middle_axis_keeps_extreme_integers_exact():
    nodes = [helper.make_node("TopK", [x, "k"], [f"v_{x}", f"i_{x}"], axis=1, largest=0)
             for x in ("a", "u")]
    model = make_model(nodes, {"a": (np.int32, [2, 4, 2]), "u": (np.uint8, [2, 4, 2])},
                       [("v_a", np.int32), ("i_a", np.int64), ("v_u", np.uint8),
                        ("i_u", np.int64)], {"k": np.array([2], np.int64)}, opset=24)
    info = np.iinfo(np.int32)
    a = np.array([info.min, info.max, -1, 0, 3, 3, info.min, 2] * 2, np.int32).reshape(2, 4, 2)
    u = np.array([255, 0, 7, 7, 1, 255, 0, 3] * 2, np.uint8).reshape(2, 4, 2)
    _check(model, {"a": a, "u": u})


def test_gather_nd_batch_dims_with_negative_indices():
    node = helper.make_node("GatherND", ["x", "i"], ["y"], batch_dims=1)
    model = make_model([node], {"x": (np.float32, [2, 3, 4]), "i": (np.int64, [2, 2, 1])},
                       ["y"], opset=13)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    _check(model, {"x": x, "i": np.array([[[-1], [0]], [[2], [-3]]], np.int64)})


def test_one_hot_float_indices_on_axis_0():
    node = helper.make_node("OneHot", ["i", "depth", "v"], ["y"], axis=0)
    model = make_model([node], {"i": (np.float32, [2, 3]), "v": (np.int64, [2])},
                       [("y", np.int64)], {"depth": np.float32(4.0)}, opset=11)
    _check(model, {"i": np.array([[0, 3, -1], [-4, 4, 2.0]], np.float32),
                   "v": np.array([-5, 9], np.int64)})


def test_tensor_scatter_circular_wraps_and_linear_refuses_writes_past_the_end():
    nodes = [helper.make_node("TensorScatter", ["past", "upd", "w"], [f"y_{m}"], mode=m,
                              axis=1) for m in ("circular", "linear")]
    model = make_model(nodes, {"past": (np.float32, [2, 4, 3]), "upd": (np.float32, [2, 2, 3]),
                               "w": (np.int64, [2])}, ["y_circular", "y_linear"], opset=24)
    past = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    upd = -np.arange(1, 13, dtype=np.float32).reshape(2, 2, 3)
    fn = _check(model, {"past": past, "upd": upd, "w": np.array([2, 0], np.int64)})
    with pytest.raises(tf.Error):
        fn(past=past, upd=upd, w=np.array([3, 0], np.int64))


def test_compress_and_nonzero_sizes_change_from_run_to_run():
    nodes = [helper.make_node("Compress", ["x", "c"], ["y"], axis=1),
             helper.make_node("NonZero", ["x"], ["nz"])]
    model = make_model(nodes, {"x": (np.float32, [2, 3]), "c": (np.bool_, [2])},
                       ["y", ("nz", np.int64)], opset=13)
    x = np.array([[0, 1, 2], [3, 0, 0]], np.float32)
    _check(model, *({"x": x * s, "c": np.array(c)} for s, c in
                    ((1, [True, False]), (0, [False, False]), (2, [True, True]))))


def test_nonzero_of_a_scalar_has_no_coordinate_rows():
    model = make_model([helper.make_node("NonZero", ["x"], ["nz"])], {"x": (np.int32, [])},
                       [("nz", np.int64)], opset=13)
    fn = import_model(model).compile()
    assert fn(x=np.int32(5))[0].shape == (0, 1)
    assert fn(x=np.int32(0))[0].shape == (0, 0)


def test_unique_first_occurrence_order_with_axis():
    node = helper.make_node("Unique", ["x"], ["y", "first", "inverse", "counts"], axis=0,
                            sorted=0)
    model = make_model([node], {"x": (np.float32, [5, 2])},
                       ["y", ("first", np.int64), ("inverse", np.int64), ("counts", np.int64)],
                       opset=11)
    x = np.array([[2, 1], [0, 5], [2, 1], [0, 4], [0, 5]], np.float32)
    _check(model, {"x": x}, {"x": np.ones((5, 2), np.float32)})


def test_bitcast_round_trips_through_onnx_export():
    from graphjit.onnx.exporter import export
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        y = tf.bitcast(x, tf.int32) + 1
    model = export(graph, fetches=[y], feeds=[x], opset=26)
    assert "BitCast" in [n.op_type for n in model.graph.node]
    value = np.array([1.0, -0.0, np.inf], np.float32)
    got = import_model(model).compile()(x=value)[0]
    np.testing.assert_array_equal(got, value.view(np.int32) + 1)


@pytest.mark.parametrize("equation, shapes", [
    ("ii", [(3, 3)]), ("ii->i", [(3, 3)]), ("iij->j", [(2, 2, 3)]), ("iii->i", [(2, 2, 2)]),
    ("b i i -> b", [(2, 3, 3)]), ("...ij,jk->...ik", [(2, 3, 4, 5), (5, 2)]),
    ("...ij,...jk", [(2, 3, 4), (2, 4, 3)]), ("i...i,j->j...", [(3, 2, 3), (4,)]),
])
def test_einsum_ellipses_and_diagonals(equation, shapes):
    names = [f"x{i}" for i in range(len(shapes))]
    node = helper.make_node("Einsum", names, ["y"], equation=equation)
    model = make_model([node], {n: (np.float64, list(s)) for n, s in zip(names, shapes)},
                       [("y", np.float64)], opset=12)
    rng = np.random.default_rng(1)
    graph = import_model(model)
    feeds = {n: rng.integers(-3, 4, s).astype(np.float64) for n, s in zip(names, shapes)}
    got = graph.compile()(**feeds)[0]
    np.testing.assert_array_equal(got, np.einsum(equation.replace(" ", ""), *feeds.values()))


def test_cumprod_exports_as_cum_prod_and_matches_onnx_reference():
    from graphjit.onnx.exporter import export
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, [2, 4], name="x")
        y = tf.cumprod(x, axis=1, exclusive=True, reverse=True)
    model = export(graph, fetches=[y], feeds=[x], opset=26)
    assert "CumProd" in [n.op_type for n in model.graph.node]
    with pytest.raises(tf.UnsupportedError, match="opset 26"):
        export(graph, fetches=[y], feeds=[x], opset=25)
    _check(model, {"x": np.array([[1, -2, 0, 3], [0.5, 4, -1, 2]])})


@pytest.mark.parametrize("node, inputs, words", [
    (helper.make_node("TopK", ["x", "k"], ["v", "i"], largest=2, name="pick"),
     {"x": (np.float32, [4]), "k": (np.int64, [1])}, ("'pick'", "largest=2")),
    (helper.make_node("ScatterND", ["x", "i", "u"], ["y"], reduction="avg", name="put"),
     {"x": (np.float32, [4]), "i": (np.int64, [1, 1]), "u": (np.float32, [1])},
     ("'put'", "'avg'")),
    (helper.make_node("Einsum", ["x", "z"], ["y"], equation="...ij,...jk", name="bmm"),
     {"x": (np.float32, [1, 2, 3]), "z": (np.float32, [4, 3, 2])}, ("'bmm'", "size 1")),
    (helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.BOOL, name="bits"),
     {"x": (np.uint8, [3])}, ("'bits'", "bool")),
    (helper.make_node("TensorScatter", ["x", "u"], ["y"], mode="ring", name="cache"),
     {"x": (np.float32, [1, 4, 2]), "u": (np.float32, [1, 1, 2])}, ("'cache'", "'ring'")),
])
def test_what_graphjit_lacks_is_refused_naming_the_node(node, inputs, words):
    graph = helper.make_graph([node], "g", [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.dtype(d)), s)
        for n, (d, s) in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in node.output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 28)])
    if node.op_type == "TopK":  # K must be static before the attribute matters
        model.graph.initializer.append(helper.make_tensor("k", TensorProto.INT64, [1], [2]))
    _refused(model, *words)
