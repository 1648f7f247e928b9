"""The 'ai.onnx.ml' domain (graphjit.onnx.ops_ml) beyond ONNX's node cases: LabelEncoder
on float keys (a NaN key among them) and int64 keys with float values, duplicate keys;
ArrayFeatureExtractor on a vector and a 3-D input; Binarizer on doubles; TreeEnsemble
with every compare mode, NaN inputs that follow or not the true branch, several trees
averaged; each compiled against ONNX's reference; and the refusals that name the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from graphjit.onnx.convert import InvalidModelError  # noqa: E402

ML = "ai.onnx.ml"


def _model(op, inputs, out_type, ml_version=4, **attrs):
    node = helper.make_node(op, [n for n, _, _ in inputs], ["y"], name="the_node",
                            domain=ML, **attrs)
    ins = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    graph = helper.make_graph([node], "g", ins,
                              [helper.make_tensor_value_info("y", out_type, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(ML, ml_version)])


def _check(model, feeds, runtime=False):
    """Compiled against ONNX's reference, or onnxruntime (`runtime`)."""
    got = [np.asarray(v) for v in import_model(model).compile()(**feeds)]
    if runtime:
        ort = pytest.importorskip("onnxruntime")
        model.opset_import.append(helper.make_opsetid("", 21))
        want = ort.InferenceSession(model.SerializeToString()).run(None, feeds)
    else:
        want = ReferenceEvaluator(model).run(None, feeds)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_label_encoder_float_keys_with_nan_and_a_default():
    """ONNX's spec and onnxruntime match a NaN key bitwise; ONNX's Python reference
    looks keys up in a dict, where NaN finds nothing, so onnxruntime is the check."""
    model = _model("LabelEncoder", [("x", TensorProto.FLOAT, [2, 3])], TensorProto.INT64,
                   keys_floats=[1.5, float("nan"), -2.0], values_int64s=[7, 8, 9],
                   default_int64=-5)
    _check(model, {"x": np.array([[1.5, np.nan, 3], [-2, 1.5, 0]], np.float32)}, runtime=True)


def test_label_encoder_int_keys_to_floats():
    model = _model("LabelEncoder", [("x", TensorProto.INT64, [5])], TensorProto.FLOAT,
                   keys_int64s=[3, 1, 4], values_floats=[0.5, 1.5, 9.0])
    _check(model, {"x": np.array([3, 1, 2, 4, 0], np.int64)})


def test_label_encoder_repeated_keys_are_refused_naming_the_node():
    model = _model("LabelEncoder", [("x", TensorProto.INT64, [5])], TensorProto.FLOAT,
                   keys_int64s=[3, 1, 3], values_floats=[0.5, 1.5, 9.0])
    with pytest.raises(InvalidModelError, match="the_node.*keys repeat"):
        import_model(model)


@pytest.mark.parametrize("shape", [(6,), (2, 3, 5)])
def test_array_feature_extractor(shape):
    model = _model("ArrayFeatureExtractor", [("x", TensorProto.FLOAT, list(shape)),
                                              ("i", TensorProto.INT64, [3])],
                   TensorProto.FLOAT, ml_version=1)
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    _check(model, {"x": x, "i": np.array([2, 0, 2], np.int64)})


def test_binarizer_on_doubles():
    model = _model("Binarizer", [("x", TensorProto.DOUBLE, [4])], TensorProto.DOUBLE,
                   ml_version=1, threshold=0.25)
    _check(model, {"x": np.array([0.25, 0.3, -1, 7], np.float64)})


def test_string_values_are_refused_naming_the_node():
    model = _model("LabelEncoder", [("x", TensorProto.INT64, [2])], TensorProto.STRING,
                   keys_int64s=[1], values_strings=["a"])
    with pytest.raises(UnsupportedError, match="the_node.*string values"):
        import_model(model)


def test_label_encoder_1_strings_to_their_class_index():
    """ONNX's Python reference has no LabelEncoder-1: onnxruntime is the check."""
    model = _model("LabelEncoder", [("x", TensorProto.STRING, [4])], TensorProto.INT64,
                   ml_version=1, classes_strings=["cat", "dog"], default_int64=-7)
    _check(model, {"x": np.array(["dog", "cat", "emu", "dog"], object)}, runtime=True)


def _ensemble(aggregate=1, post=0):
    """Three trees over 3 features: tree 0 uses modes 0-3 (node 1 sends NaN true), tree 1
    modes 4-6 (a member set), tree 2 a single leaf; 2 targets."""
    tensor = helper.make_tensor
    modes = [0, 1, 2, 3, 4, 5, 6]
    return _model(
        "TreeEnsemble", [("x", TensorProto.FLOAT, [None, 3])], TensorProto.FLOAT,
        ml_version=5, aggregate_function=aggregate, post_transform=post, n_targets=2,
        tree_roots=[0, 4, 7],
        nodes_modes=tensor("m", TensorProto.UINT8, [8], modes + [0]),
        nodes_featureids=[0, 1, 2, 0, 1, 2, 0, 0],
        nodes_splits=tensor("s", TensorProto.FLOAT, [8], [0.5, 1.0, -1.0, 2.0, 3.0, 1.0,
                                                           0.0, 0.0]),
        nodes_truenodeids=[1, 0, 2, 4, 5, 6, 7, 0],
        nodes_trueleafs=[0, 1, 1, 1, 1, 0, 1, 1],
        nodes_falsenodeids=[3, 1, 3, 5, 3, 8, 9, 0],
        nodes_falseleafs=[0, 1, 1, 1, 0, 1, 1, 1],
        nodes_missing_value_tracks_true=[0, 1, 0, 0, 0, 0, 0, 0],
        membership_values=tensor("v", TensorProto.FLOAT, [4], [1.0, 4.0, 5.0, np.nan]),
        leaf_targetids=[0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
        leaf_weights=tensor("w", TensorProto.FLOAT, [10],
                            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]))


@pytest.mark.parametrize("aggregate", [0, 1])
def test_tree_ensemble_every_mode_nan_and_one_leaf_tree(aggregate):
    """onnxruntime is the check: ONNX's Python reference reads a one-leaf tree's leaf at
    the root's node index instead of its nodes_truenodeids entry."""
    x = np.array([[0.2, 0.5, 0], [0.7, np.nan, 2], [np.nan, 3, 1], [3, 4, 9],
                  [0.5, 1, -1], [9, 9, 1], [-1, 5, 0.5]], np.float32)
    _check(_ensemble(aggregate), {"x": x}, runtime=True)


def test_tree_ensemble_min_and_post_transforms_are_refused_naming_the_node():
    for model in (_ensemble(aggregate=2), _ensemble(post=1)):
        with pytest.raises(UnsupportedError, match="the_node"):
            import_model(model)
