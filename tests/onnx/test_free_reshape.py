"""ONNX Reshape to targets with free dims (graphjit.onnx.free_reshape): a 0 copying a
free dim, several free dims at once, and targets that do not fit the element count,
which are errors at import or at run time, never a silently inferred -1."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from graphjit.errors import Error  # noqa: E402
from graphjit.onnx import InvalidModelError, import_model  # noqa: E402
from tests.onnx.test_import import F32, compare, model, node  # noqa: E402


def _reshape_model(shape, target, allowzero=None):
    attrs = {} if allowzero is None else {"allowzero": allowzero}
    return model([node("Reshape", ["x", "t"], ["y"], name="merge", **attrs)],
                 [("x", F32, shape)], [("y", F32, None)], {"t": np.array(target, np.int64)})


def _x(*shape):
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


def test_zeros_copy_two_free_dims_and_minus_one_merges_the_rest():
    """Reshape(y, [0, 0, -1]) of y [T, B, 2, 3]: PyTorch's bidirectional LSTM output."""
    m = _reshape_model(["T", "B", 2, 3], [0, 0, -1])
    assert import_model(m).outputs[0].shape.as_list() == [None, None, 6]
    for shape in ((4, 2, 2, 3), (1, 3, 2, 3)):
        compare(m, {"x": _x(*shape)})


def test_zeros_copy_free_dims_without_minus_one():
    m = _reshape_model(["T", "B", 6], [0, 0, 3, 2])
    assert import_model(m).outputs[0].shape.as_list() == [None, None, 3, 2]
    compare(m, {"x": _x(2, 5, 6)})


def test_shape_dims_with_allowzero_and_minus_one():
    """allowzero=1 leaves a 0 alone, but dims read by Shape still copy the free dims."""
    nodes = [node("Shape", ["x"], ["s"], end=2),
             node("Concat", ["s", "m1"], ["t"], axis=0),
             node("Reshape", ["x", "t"], ["y"], allowzero=1)]
    m = model(nodes, [("x", F32, ["T", "B", 2, 3])], [("y", F32, None)],
              {"m1": np.array([-1], np.int64)})
    compare(m, {"x": _x(3, 2, 2, 3)})


def test_a_zero_copy_that_breaks_the_element_count_is_an_import_error():
    """[0, 4] of x [N, 6]: N * 6 elements cannot be N rows of 4 (was a silent -1)."""
    m = _reshape_model(["N", 6], [0, 4])
    with pytest.raises(InvalidModelError, match="Reshape 'merge'.*\\[0, 4\\]"):
        import_model(m)


def test_a_second_minus_one_or_a_negative_size_is_an_import_error():
    for target in ([0, -1, -1], [0, -2, 3]):
        with pytest.raises(InvalidModelError, match="Reshape 'merge'"):
            import_model(_reshape_model(["N", 6], target))


def test_another_tensors_dim_is_checked_at_run_time():
    """[Shape(z)[0], 6] for x [N, 6]: right when z has N rows, an error otherwise."""
    nodes = [node("Shape", ["z"], ["s"], end=1),
             node("Concat", ["s", "six"], ["t"], axis=0),
             node("Reshape", ["x", "t"], ["y"], name="like_z")]
    m = model(nodes, [("x", F32, ["N", 6]), ("z", F32, ["M", 1])], [("y", F32, None)],
              {"six": np.array([6], np.int64)})
    compare(m, {"x": _x(3, 6), "z": _x(3, 1)})
    with pytest.raises(Error, match="like_z.*cannot reshape"):
        import_model(m).compile()(x=_x(4, 6), z=_x(3, 1))


def test_bidirectional_lstm_with_a_free_sequence_matches_onnxruntime():
    from benchmarks.onnx_recurrent import recurrent_model
    m = recurrent_model("LSTM", seq=5, hidden=4, features=3, bidirectional=True,
                        free_seq=True)
    g = import_model(m)
    assert g.outputs[0].shape.as_list()[2] == 8
    rng = np.random.default_rng(0)
    for seq in (5, 2):
        compare(m, {"x": rng.standard_normal((2, seq, 3)).astype(np.float32)}, rtol=1e-5)
