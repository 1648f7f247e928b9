"""ONNX StringConcat and RegexFullMatch (graphjit.ops.strings, host steps) beyond ONNX's
node cases: broadcasting non-ASCII strings, a concat read by a regex in one model,
string results given back as str (as onnxruntime does); checked against ONNX's
reference; and a pattern Python cannot compile refused, naming the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.onnx import backend, import_model  # noqa: E402


def _model(pattern=r"[a-zé]+_\d+"):
    nodes = [helper.make_node("StringConcat", ["x", "y"], ["joined"]),
             helper.make_node("RegexFullMatch", ["joined"], ["ok"], name="the_node",
                              pattern=pattern)]
    ins = [helper.make_tensor_value_info("x", TensorProto.STRING, [2, 3]),
           helper.make_tensor_value_info("y", TensorProto.STRING, [3])]
    outs = [helper.make_tensor_value_info("joined", TensorProto.STRING, [2, 3]),
            helper.make_tensor_value_info("ok", TensorProto.BOOL, [2, 3])]
    return helper.make_model(helper.make_graph(nodes, "g", ins, outs),
                             opset_imports=[helper.make_opsetid("", 20)])


def test_concat_then_match_against_the_reference():
    model = _model()
    x = np.array([["café", "ab", ""], ["Zz", "é", "x_"]], object)
    y = np.array(["_1", "_22", "_3"], object)
    got = backend.prepare(model).run([x, y])
    want = ReferenceEvaluator(model).run(None, {"x": x, "y": y})
    assert got[0].dtype == object and isinstance(got[0][0, 0], str)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert got[1].tolist() == [[True, True, False], [False, True, False]]


def test_a_pattern_python_cannot_compile_is_refused_naming_the_node():
    with pytest.raises(UnsupportedError, match="the_node.*pattern"):
        import_model(_model(pattern="(unclosed"))


def _normalizer(shape, **attrs):
    node = helper.make_node("StringNormalizer", ["x"], ["y"], name="the_node", **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.STRING, shape)],
        [helper.make_tensor_value_info("y", TensorProto.STRING, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("shape", [[5], [1, 5]])
def test_normalizer_drops_stopwords_case_insensitively_then_uppers(shape):
    model = _normalizer(shape, case_change_action="UPPER", stopwords=["the", "A"])
    x = np.array(["The", "cat", "a", "sat", "THE"], object).reshape(shape)
    got = backend.prepare(model).run([x])[0]
    assert got.tolist() == np.array(["CAT", "SAT"], object).reshape(shape[:-1] + [2]).tolist()
    rep = backend.prepare(model)  # every element dropped: one empty string, rank kept
    empty = rep.run([np.array(["a", "the", "THE", "A", "a"], object).reshape(shape)])[0]
    assert empty.tolist() == np.array([""], object).reshape(shape[:-1] + [1]).tolist()


def test_normalizer_case_sensitive_stopwords_against_the_reference():
    model = _normalizer([4], case_change_action="LOWER", is_case_sensitive=1,
                        stopwords=["Mon"])
    x = np.array(["Mon", "mon", "TUE", "Mon"], object)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_array_equal(backend.prepare(model).run([x])[0], want)


def test_normalizer_other_locales_are_refused_naming_the_node():
    with pytest.raises(UnsupportedError, match="the_node.*locale"):
        import_model(_normalizer([2], locale="tr_TR"))


@pytest.mark.parametrize("attrs", [{}, {"delimiter": "-", "maxsplit": 1}, {"delimiter": "-"}])
def test_split_2d_against_the_reference(attrs):
    node = helper.make_node("StringSplit", ["x"], ["y", "n"], name="the_node", **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.STRING, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.STRING, None),
         helper.make_tensor_value_info("n", TensorProto.INT64, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    x = np.array([["a-b-c", " x  y "], ["", "é--z"]], object)
    got = backend.prepare(model).run([x])
    want = ReferenceEvaluator(model).run(None, {"x": x})
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_array_equal(g, w)
