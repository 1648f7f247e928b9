"""The Attention and RotaryEmbedding converters beyond ONNX's node suite: what the
converters refuse and how, and results against ONNX's reference implementation."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import graphjit as gj  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402

F32 = TensorProto.FLOAT


def attention_model(shapes, opset=23, n_outputs=1, **attrs):
    names = ["Q", "K", "V", "attn_mask", "past_key", "past_value"][:len(shapes)]
    outs = ["Y", "present_key", "present_value", "qk"][:n_outputs]
    ins = [helper.make_tensor_value_info(n, F32, s) for n, s in zip(names, shapes)]
    graph = helper.make_graph(
        [helper.make_node("Attention", names, outs, name="attn", **attrs)], "g", ins,
        [helper.make_tensor_value_info(o, F32, None) for o in outs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_causal_gqa_with_cache_and_mask_matches_onnx_reference():
    rng = np.random.default_rng(0)
    shapes = [(1, 4, 3, 4), (1, 2, 3, 4), (1, 2, 3, 4), (3, 5), (1, 2, 2, 4), (1, 2, 2, 4)]
    feeds = {n: rng.standard_normal(s).astype(np.float32)
             for n, s in zip(["Q", "K", "V", "attn_mask", "past_key", "past_value"], shapes)}
    m = attention_model(shapes, n_outputs=4, is_causal=1, softcap=1.5, qk_matmul_output_mode=3)
    want = ReferenceEvaluator(m).run(None, feeds)
    got = import_model(m).compile()(**feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("constant_mask", [False, True])
@pytest.mark.parametrize("is_causal", [0, 1])
def test_short_bool_mask_is_padded_as_masked(constant_mask, is_causal):
    """A mask narrower than past + new keys is padded with "masked"; a row masked
    everywhere gives zeros (the last query row here), whether the mask is a model input
    or a constant folded at import."""
    rng = np.random.default_rng(3)
    shapes = [(1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 4), (3, 4), (1, 2, 2, 4), (1, 2, 2, 4)]
    names = ["Q", "K", "V", "attn_mask", "past_key", "past_value"]
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in zip(names, shapes)}
    feeds["attn_mask"] = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [0, 0, 0, 0]], bool)
    m = attention_model(shapes, n_outputs=3, is_causal=is_causal)
    m.graph.input[3].type.tensor_type.elem_type = TensorProto.BOOL
    want = ReferenceEvaluator(m).run(None, feeds)
    if constant_mask:
        from onnx import numpy_helper
        m.graph.initializer.append(numpy_helper.from_array(feeds.pop("attn_mask"), "attn_mask"))
        del m.graph.input[3]
    got = import_model(m).compile()(**feeds)
    assert not np.asarray(got[0])[0, :, 2].any()
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)


def test_3d_inputs_need_head_counts():
    m = attention_model([(1, 2, 8)] * 3)
    with pytest.raises(gj.Error, match="q_num_heads and kv_num_heads"):
        import_model(m)


def test_query_heads_that_do_not_group_are_refused():
    m = attention_model([(1, 3, 2, 4), (1, 2, 2, 4), (1, 2, 2, 4)])
    with pytest.raises(gj.UnsupportedError, match="3 query heads do not group over 2"):
        import_model(m)


def rotary_model(x_shape, cache_shape, **attrs):
    ins = [helper.make_tensor_value_info("x", F32, x_shape),
           helper.make_tensor_value_info("cos", F32, cache_shape),
           helper.make_tensor_value_info("sin", F32, cache_shape)]
    graph = helper.make_graph(
        [helper.make_node("RotaryEmbedding", ["x", "cos", "sin"], ["y"], name="rope", **attrs)],
        "g", ins, [helper.make_tensor_value_info("y", F32, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])


def test_partial_interleaved_rotation_of_3d_input_matches_onnx_reference():
    rng = np.random.default_rng(1)
    feeds = {"x": rng.standard_normal((2, 3, 12)).astype(np.float32),
             "cos": rng.standard_normal((2, 3, 2)).astype(np.float32),
             "sin": rng.standard_normal((2, 3, 2)).astype(np.float32)}
    m = rotary_model((2, 3, 12), (2, 3, 2), num_heads=2, interleaved=1, rotary_embedding_dim=4)
    (want,) = ReferenceEvaluator(m).run(None, feeds)
    (got,) = import_model(m).compile()(**feeds)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6)


def test_rotary_cache_of_the_wrong_width_is_named():
    m = rotary_model((1, 2, 3, 8), (1, 3, 3))
    with pytest.raises(gj.Error, match="rotary_embedding_dim / 2 = 4, not 3 and 3"):
        import_model(m)


def linear_attention_model(shapes, **attrs):
    names = ["query", "key", "value", "past_state", "decay", "beta"][:len(shapes)]
    ins = [helper.make_tensor_value_info(n, F32, s) for n, s in zip(names, shapes)]
    graph = helper.make_graph(
        [helper.make_node("LinearAttention", names, ["y", "state"], name="la", **attrs)],
        "g", ins, [helper.make_tensor_value_info(o, F32, None) for o in ("y", "state")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 27)])


@pytest.mark.parametrize("steps", [5, 34])  # unrolled; a scan over 2 chunks + 2 steps
def test_gated_delta_gqa_with_past_matches_onnx_reference(steps):
    rng = np.random.default_rng(2)
    shapes = [(2, steps, 24), (2, steps, 6), (2, steps, 4), (2, 2, 3, 2), (2, steps, 6),
              (2, steps, 2)]
    feeds = {n: rng.uniform(-0.5, 0.5, s).astype(np.float32) for n, s in zip(
        ["query", "key", "value", "past_state", "decay", "beta"], shapes)}
    m = linear_attention_model(shapes, q_num_heads=8, kv_num_heads=2)
    want = ReferenceEvaluator(m).run(None, feeds)
    got = import_model(m).compile()(**feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)


def test_update_rule_and_its_inputs_must_agree():
    m = linear_attention_model([(1, 2, 8)] * 3, q_num_heads=2, kv_num_heads=2)
    with pytest.raises(gj.Error, match="update_rule 'gated_delta' needs decay given"):
        import_model(m)
