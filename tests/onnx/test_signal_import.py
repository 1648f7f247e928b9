"""ONNX DFT, STFT, the windows and MelWeightMatrix (graphjit.onnx.ops_signal) against ONNX's
reference evaluator (NumPy's FFT), beyond ONNX's node cases: complex input, a
dft_length that pads or cuts, odd irfft lengths, another axis, a complex STFT."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.onnx import InvalidModelError, import_model  # noqa: E402

D = TensorProto.DOUBLE
I64 = TensorProto.INT64


def _model(nodes, inputs, outputs, inits=(), opset=20):
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "signal", [vi(n, t, s) for n, t, s in inputs],
                              [vi(n, t, None) for n, t in outputs], initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _int(name, value):
    return helper.make_tensor(name, I64, [], [value])


def _check(model, feeds, rtol=1e-9, atol=1e-9):
    got = import_model(model).compile()(**feeds)
    want = ReferenceEvaluator(model).run(None, feeds)
    assert len(got) == len(want)
    for o, g, w in zip(model.graph.output, got, want):
        g = np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (o.name, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=o.name)


# (dft_length or None, axis, inverse, onesided) on a complex [2, 6, 5, 2] input
_DFTS = [(None, -2, 0, 0), (8, 1, 0, 0), (4, 1, 0, 1), (None, 1, 1, 0), (7, 2, 1, 0),
         (9, 1, 1, 1), (4, 2, 1, 1), (None, 2, 1, 1)]


def test_dft_variants():
    nodes, inits = [], []
    for i, (length, axis, inverse, onesided) in enumerate(_DFTS):
        inits += [_int(f"a{i}", axis)] + ([_int(f"n{i}", length)] if length else [])
        nodes.append(helper.make_node("DFT", ["x", f"n{i}" if length else "", f"a{i}"],
                                      [f"y{i}"], inverse=inverse, onesided=onesided))
    model = _model(nodes, [("x", D, [2, 6, 5, 2])], [(f"y{i}", D) for i in range(len(_DFTS))],
                   inits)
    x = np.random.default_rng(0).standard_normal((2, 6, 5, 2))
    _check(model, {"x": x})


def test_dft_opset17_real_input_axis_attribute():
    nodes = [helper.make_node("DFT", ["x"], ["y"], axis=2, onesided=1),
             helper.make_node("DFT", ["x"], ["z"])]
    model = _model(nodes, [("x", TensorProto.FLOAT, [3, 4, 6, 1])],
                   [("y", TensorProto.FLOAT), ("z", TensorProto.FLOAT)], opset=17)
    x = np.random.default_rng(1).standard_normal((3, 4, 6, 1)).astype(np.float32)
    _check(model, {"x": x}, rtol=1e-5, atol=1e-5)


def test_dft_rounds_as_numpy_in_float32_and_float16():
    """The Fft host step transforms float32 in complex64 as NumPy does: an inverse DFT
    matches the reference to its round-off (an O(n^2) matmul misses by ~1e-7); float16
    goes through float32 and rounds back."""
    half, single = TensorProto.FLOAT16, TensorProto.FLOAT
    nodes = [helper.make_node("DFT", ["x"], ["y"], axis=1, inverse=1),
             helper.make_node("DFT", ["h"], ["z"], axis=1, inverse=1)]
    model = _model(nodes, [("x", single, [2, 12, 2]), ("h", half, [2, 12, 2])],
                   [("y", single), ("z", half)], opset=17)
    x = np.random.default_rng(3).standard_normal((2, 12, 2)).astype(np.float32)
    _check(model, {"x": x, "h": x.astype(np.float16)}, rtol=0, atol=1e-7)


def test_stft_complex_signal_with_window_and_windows():
    nodes = [helper.make_node("HannWindow", ["size"], ["w"], output_datatype=D),
             helper.make_node("STFT", ["x", "step", "w"], ["y"], onesided=0),
             helper.make_node("STFT", ["x", "step", "", "len"], ["z"]),
             helper.make_node("HammingWindow", ["size"], ["hm"], periodic=0),
             helper.make_node("BlackmanWindow", ["size"], ["bk"], output_datatype=D),
             helper.make_node("MelWeightMatrix", ["bins", "dft", "rate", "lo", "hi"], ["mel"])]
    inits = [_int("size", 6), _int("step", 3), _int("len", 5), _int("bins", 4),
             _int("dft", 16), _int("rate", 8000),
             helper.make_tensor("lo", TensorProto.FLOAT, [], [100.0]),
             helper.make_tensor("hi", TensorProto.FLOAT, [], [3500.0])]
    model = _model(nodes, [("x", D, [2, 16, 2])],
                   [("y", D), ("z", D), ("hm", TensorProto.FLOAT), ("bk", D),
                    ("mel", TensorProto.FLOAT)], inits, opset=17)
    x = np.random.default_rng(2).standard_normal((2, 16, 2))
    _check(model, {"x": x}, rtol=1e-6, atol=1e-6)


def test_bad_nodes_name_the_node():
    model = _model([helper.make_node("DFT", ["x", "", "a"], ["y"])], [("x", D, [2, 4, 2])],
                   [("y", D)], [_int("a", 2)])
    with pytest.raises(InvalidModelError, match=r"DFT 'y'.*axis 2"):
        import_model(model)
    model = _model([helper.make_node("STFT", ["x", "step", "w", "len"], ["y"])],
                   [("x", D, [1, 8, 1]), ("w", D, [3])], [("y", D)],
                   [_int("step", 2), _int("len", 4)], opset=17)
    with pytest.raises(UnsupportedError, match=r"STFT 'y'.*window of length 3"):
        import_model(model)
