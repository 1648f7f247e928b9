"""ONNX sequences and optionals (graphjit.onnx.ops_sequence), held at import as tuples of
graphjit tensors of static length: through the backend (sequence inputs and outputs,
a Loop carrying a sequence, unrolled) against onnxruntime, and what needs a run-time
length or position refused naming the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from graphjit.onnx import StaticValueRequired, backend, import_model  # noqa: E402
from tests.onnx.nn_util import run_ort  # noqa: E402

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _seq(name, elem):
    return helper.make_tensor_sequence_value_info(name, elem, None)


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "seq", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, list):
            assert isinstance(g, list) and len(g) == len(w)
            for a, b in zip(g, w):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_allclose(a, b, rtol=1e-6)
        else:
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-6)


def test_sequence_ops_with_sequence_input_and_output():
    """split x, insert the elements of the input sequence at the front, erase one,
    concat and stack, and return a sequence: each run's length is new structure."""
    nodes = [
        helper.make_node("SplitToSequence", ["x"], ["parts"], axis=1, keepdims=0),
        helper.make_node("SequenceAt", ["s", "zero"], ["s0"]),
        helper.make_node("SequenceInsert", ["parts", "s0", "zero"], ["with_s0"]),
        helper.make_node("SequenceErase", ["with_s0"], ["erased"]),
        helper.make_node("ConcatFromSequence", ["erased"], ["cat"], axis=0),
        helper.make_node("ConcatFromSequence", ["parts"], ["stacked"], axis=-1, new_axis=1),
        helper.make_node("SequenceLength", ["erased"], ["n"]),
        helper.make_node("Identity", ["s"], ["s_out"])]
    zero = helper.make_tensor("zero", I64, [], [0])
    model = _model(nodes, [_vi("x", F, [2, 3]), _seq("s", F)],
                   [_vi("cat", F, [None]), _vi("stacked", F, [2, None]), _vi("n", I64, []),
                    _seq("s_out", F)], [zero])
    rep = backend.prepare(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    for lengths in ((1,), (3, 2)):
        s = [rng.standard_normal(2).astype(np.float32) for _ in lengths]
        feeds = {"x": x, "s": s}
        _same(list(rep.run(feeds)), run_ort(model, feeds))


def _loop_appending(m_input: bool):
    """A Loop appending x * i + 0.5 to a sequence each iteration (0.5 an initializer of
    the body, imported once per unrolled iteration)."""
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Mul", ["x", "fi"], ["xi"]),
         helper.make_node("Add", ["xi", "half"], ["xh"]),
         helper.make_node("SequenceInsert", ["seq_in", "xh"], ["seq_out"]),
         helper.make_node("Identity", ["c_in"], ["c_out"])],
        "body", [_vi("i", I64, []), _vi("c_in", B, []), _seq("seq_in", F)],
        [_vi("c_out", B, []), _seq("seq_out", F)],
        initializer=[helper.make_tensor("half", F, [], [0.5])])
    nodes = [helper.make_node("SequenceEmpty", [], ["empty"], dtype=F),
             helper.make_node("Loop", ["m", "", "empty"], ["seq"], name="grow", body=body),
             helper.make_node("ConcatFromSequence", ["seq"], ["out"], axis=0, new_axis=1)]
    inputs = [_vi("x", F, [2])] + ([_vi("m", I64, [])] if m_input else [])
    inits = [] if m_input else [helper.make_tensor("m", I64, [], [3])]
    return _model(nodes, inputs, [_vi("out", F, [None, 2])], inits)


def test_loop_carrying_a_sequence_is_unrolled_on_its_trip_count():
    model = _loop_appending(m_input=True)
    with pytest.raises(StaticValueRequired, match="Loop 'grow'.*trip count M") as info:
        import_model(model)
    assert info.value.needs == {("m", "value")}
    rep = backend.prepare(model)
    x = np.array([1.0, -2.0], np.float32)
    for m in (1, 4):
        feeds = {"x": x, "m": np.array(m, np.int64)}
        _same(list(rep.run(feeds)), run_ort(model, feeds))
    graph = import_model(_loop_appending(m_input=False))
    assert "While" not in {op.type for op in graph.get_operations()}


def test_optionals_empty_and_present():
    nodes = [helper.make_node("Optional", ["x"], ["ox"]),
             helper.make_node("OptionalHasElement", ["ox"], ["has_x"]),
             helper.make_node("OptionalGetElement", ["ox"], ["x_back"]),
             helper.make_node("Optional", [], ["none"], type=helper.make_tensor_type_proto(F, [2])),
             helper.make_node("OptionalHasElement", ["none"], ["has_none"])]
    model = _model(nodes, [_vi("x", F, [2])],
                   [_vi("has_x", B, []), _vi("x_back", F, [2]), _vi("has_none", B, [])],
                   opset=18)
    feeds = {"x": np.array([3.0, 4.0], np.float32)}
    _same(list(backend.prepare(model).run(feeds)), run_ort(model, feeds))


def test_sequence_at_a_run_time_position_names_the_node():
    nodes = [helper.make_node("SplitToSequence", ["x"], ["parts"]),
             helper.make_node("SequenceAt", ["parts", "p"], ["y"], name="pick")]
    model = _model(nodes, [_vi("x", F, [3]), _vi("p", I64, [])], [_vi("y", F, [1])])
    with pytest.raises(StaticValueRequired, match="SequenceAt 'pick'.*position"):
        import_model(model)
    feeds = {"x": np.array([1.0, 2.0, 3.0], np.float32), "p": np.array(-1, np.int64)}
    _same(list(backend.prepare(model).run(feeds)), run_ort(model, feeds))
