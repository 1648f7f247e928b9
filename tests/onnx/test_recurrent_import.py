"""ONNX LSTM, GRU and RNN (graphjit.onnx.ops_recurrent) against onnxruntime, beyond ONNX's
node cases: what PyTorch's exporter writes (opset 14: weights as initializers, stacked
bidirectional layers joined by Transpose + Reshape, initial states as inputs, GRU with
linear_before_reset=1), layout=1, sequence_lens shorter than the sequence, peepholes,
clip, input_forget, Relu; sequence lengths 1 and 7 through one compiled model (a free
sequence length runs graphjit's while loop, a static one unrolled steps), whose outputs
must also match graphjit's reference interpreter. Every test runs twice: hidden sizes
as small as these take the one-kernel RecurrentSequence path, and with its limit
lowered to 0 the per-step path kept for large hidden sizes."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import check, make_model, random, run_ort  # noqa: E402

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
INPUT, HIDDEN, BATCH = 3, 4, 2


@pytest.fixture(autouse=True, params=["native", "per_step"])
def recurrent_path(request, monkeypatch):
    """The converter's path: RecurrentSequence's one kernel, or the per-step graph."""
    if request.param == "per_step":
        monkeypatch.setattr("graphjit.onnx.ops_recurrent.NATIVE_MAX_HIDDEN", 0)
    return request.param


def _weights(rng, op: str, name: str, dirs: int, inputs: int = INPUT, peep: bool = False):
    """W, R, B (and P) initializers of one node, scaled as PyTorch initializes them."""
    g, s = GATES[op], 1 / np.sqrt(HIDDEN)
    out = {f"{name}_W": rng.uniform(-s, s, (dirs, g * HIDDEN, inputs)).astype(np.float32),
           f"{name}_R": rng.uniform(-s, s, (dirs, g * HIDDEN, HIDDEN)).astype(np.float32),
           f"{name}_B": rng.uniform(-s, s, (dirs, 2 * g * HIDDEN)).astype(np.float32)}
    if peep:
        out[f"{name}_P"] = rng.uniform(-s, s, (dirs, 3 * HIDDEN)).astype(np.float32)
    return out


def _check_both(model, *feed_sets, tol=1e-5):
    """Compiled against onnxruntime (nn_util.check), then the reference interpreter
    against the compiled outputs, for every feed set with one compiled model."""
    graph = import_model(model)
    fn = check(model, *feed_sets, rtol=tol, atol=tol, fn=graph.compile())
    for feeds in feed_sets:
        ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs,
                                                                     graph.input_names)})
        for name, r, c in zip(graph.output_names, ref, fn(**feeds)):
            np.testing.assert_allclose(r, c, rtol=tol, atol=tol, err_msg=name)


def _feeds(rng, steps: int, names_shapes: dict) -> dict:
    return {n: random(rng, [steps if d == "T" else d for d in shape])
            for n, shape in names_shapes.items()}


def test_pytorch_stacked_bidirectional_lstm():
    """nn.LSTM(num_layers=2, bidirectional=True) as exported: layer 2 reads layer 1's Y
    [T, 2, B, H] made [T, B, 2H]; h0/c0 [4, B, H] sliced per layer."""
    rng = np.random.default_rng(0)
    inits = {**_weights(rng, "LSTM", "l0", 2), **_weights(rng, "LSTM", "l1", 2, 2 * HIDDEN),
             "flat": np.array([0, 0, -1], np.int64)}
    nodes = [
        helper.make_node("Split", ["h0"], ["h0a", "h0b"], axis=0, num_outputs=2),
        helper.make_node("Split", ["c0"], ["c0a", "c0b"], axis=0, num_outputs=2),
        helper.make_node("LSTM", ["x", "l0_W", "l0_R", "l0_B", "", "h0a", "c0a"],
                         ["y0", "yh0", "yc0"], hidden_size=HIDDEN, direction="bidirectional"),
        helper.make_node("Transpose", ["y0"], ["y0t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["y0t", "flat"], ["x1"]),
        helper.make_node("LSTM", ["x1", "l1_W", "l1_R", "l1_B", "", "h0b", "c0b"],
                         ["y1", "yh1", "yc1"], hidden_size=HIDDEN, direction="bidirectional"),
        helper.make_node("Concat", ["yh0", "yh1"], ["yh"], axis=0),
        helper.make_node("Concat", ["yc0", "yc1"], ["yc"], axis=0),
    ]
    model = make_model(nodes, {"x": (np.float32, ["T", BATCH, INPUT]),
                               "h0": (np.float32, [4, BATCH, HIDDEN]),
                               "c0": (np.float32, [4, BATCH, HIDDEN])},
                       ["y1", "yh", "yc"], inits, opset=18)
    shapes = {"x": ("T", BATCH, INPUT), "h0": (4, BATCH, HIDDEN), "c0": (4, BATCH, HIDDEN)}
    _check_both(model, *(_feeds(rng, t, shapes) for t in (1, 7)))


def test_gru_linear_before_reset_and_rnn_relu_reverse():
    """PyTorch's GRU (linear_before_reset=1) bidirectional with h0, a GRU with the ONNX
    default (0), and a reverse RNN with Relu and clip, in one model."""
    rng = np.random.default_rng(1)
    inits = {**_weights(rng, "GRU", "g", 2), **_weights(rng, "GRU", "g0", 1),
             **_weights(rng, "RNN", "r", 1)}
    nodes = [
        helper.make_node("GRU", ["x", "g_W", "g_R", "g_B", "", "h0"], ["gy", "gh"],
                         hidden_size=HIDDEN, direction="bidirectional", linear_before_reset=1),
        helper.make_node("GRU", ["x", "g0_W", "g0_R", "g0_B"], ["", "g0h"], hidden_size=HIDDEN),
        helper.make_node("RNN", ["x", "r_W", "r_R", "r_B"], ["ry", "rh"], hidden_size=HIDDEN,
                         direction="reverse", activations=["Relu"], clip=0.5),
    ]
    model = make_model(nodes, {"x": (np.float32, ["T", BATCH, INPUT]),
                               "h0": (np.float32, [2, BATCH, HIDDEN])},
                       ["gy", "gh", "g0h", "ry", "rh"], inits, opset=14)
    shapes = {"x": ("T", BATCH, INPUT), "h0": (2, BATCH, HIDDEN)}
    _check_both(model, *(_feeds(rng, t, shapes) for t in (1, 7)))


def _layout_model(layout: int, inits: dict, steps: int):
    t, b = (1, 0) if layout else (0, 1)  # the time and batch axes of X
    x_shape = [0, 0, INPUT]
    x_shape[t], x_shape[b] = steps, BATCH
    state = [BATCH, 2, HIDDEN] if layout else [2, BATCH, HIDDEN]
    nodes = [
        helper.make_node("LSTM", ["x", "l_W", "l_R", "l_B", "lens", "h0", "c0"],
                         ["ly", "lh", "lc"], hidden_size=HIDDEN, direction="bidirectional",
                         layout=layout),
        helper.make_node("GRU", ["x", "g_W", "g_R", "g_B", "lens"], ["gy", "gh"],
                         hidden_size=HIDDEN, layout=layout, linear_before_reset=1),
    ]
    return make_model(nodes, {"x": (np.float32, x_shape), "h0": (np.float32, state),
                              "c0": (np.float32, state)},
                      ["ly", "lh", "lc", "gy", "gh"], inits, opset=14)


def test_layout_1_with_initial_states_and_full_sequence_lens():
    """batch_first: X [B, T, I], Y [B, T, D, H], states [B, D, H]; sequence_lens all T.
    onnxruntime refuses layout=1, so it runs the layout=0 model on transposed inputs."""
    rng = np.random.default_rng(2)
    steps = 5
    inits = {**_weights(rng, "LSTM", "l", 2), **_weights(rng, "GRU", "g", 1),
             "lens": np.full(BATCH, steps, np.int32)}
    feeds = {"x": random(rng, (BATCH, steps, INPUT)), "h0": random(rng, (BATCH, 2, HIDDEN)),
             "c0": random(rng, (BATCH, 2, HIDDEN))}
    model = _layout_model(1, inits, steps)
    graph = import_model(model)
    got = graph.compile()(**feeds)
    ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs,
                                                                 graph.input_names)})
    want = run_ort(_layout_model(0, inits, steps),
                   {"x": feeds["x"].transpose(1, 0, 2), "h0": feeds["h0"].transpose(1, 0, 2),
                    "c0": feeds["c0"].transpose(1, 0, 2)})
    back = {4: (2, 0, 1, 3), 3: (1, 0, 2)}  # layout 0 -> 1, Y and the states
    for name, g, r, w in zip(graph.output_names, got, ref, want):
        w = w.transpose(back[w.ndim])
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(r, g, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("steps", ["T", 7, 70], ids=["loop", "unrolled", "static_loop"])
def test_sequence_lens_shorter_peepholes_clip_input_forget(steps):
    """sequence_lens given at run time, some shorter than T: outputs past a sequence's
    length are zeros, its final state is the one at its length (reverse: after index 0);
    an LSTM with peepholes, clip and input_forget. A free T runs the while loop, a static
    one the unrolled steps, a static one beyond UNROLL_STEPS the loop again."""
    rng = np.random.default_rng(3)
    inits = {**_weights(rng, "LSTM", "l", 2, peep=True), **_weights(rng, "GRU", "g", 2)}
    nodes = [
        helper.make_node("LSTM", ["x", "l_W", "l_R", "l_B", "lens", "", "", "l_P"],
                         ["ly", "lh", "lc"], hidden_size=HIDDEN, direction="bidirectional",
                         clip=0.7, input_forget=1),
        helper.make_node("GRU", ["x", "g_W", "g_R", "g_B", "lens"], ["gy", "gh"],
                         hidden_size=HIDDEN, direction="bidirectional"),
    ]
    model = make_model(nodes, {"x": (np.float32, [steps, 3, INPUT]),
                               "lens": (np.int32, [3])},
                       ["ly", "lh", "lc", "gy", "gh"], inits, opset=14)
    n = 7 if steps == "T" else steps
    feeds = [{"x": random(rng, (n, 3, INPUT)), "lens": np.array([n, 3, 1], np.int32)}]
    if steps == "T":
        feeds.append({"x": random(rng, (1, 3, INPUT)), "lens": np.ones(3, np.int32)})
    _check_both(model, *feeds)


_NAMED = ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
          "HardSigmoid", "Elu", "Softsign", "Softplus"]
_NO_DEFAULT = ("Affine", "ThresholdedRelu", "ScaledTanh")  # onnxruntime's defaults are 0


def test_named_activations_with_alpha_and_beta():
    """Every activation ONNX names, once with explicit alpha/beta and once with the
    defaults (where runtimes agree on them), as RNNs; and an LSTM whose three activations
    take their alpha and beta in turn from the lists, as onnxruntime reads them."""
    rng = np.random.default_rng(5)
    params = {"Affine": ([0.7], [0.2]), "LeakyRelu": ([0.3], []), "ThresholdedRelu": ([0.4], []),
              "ScaledTanh": ([1.5], [0.8]), "HardSigmoid": ([0.3], [0.4]), "Elu": ([0.6], [])}
    nodes, inits, outs = [], {}, []
    for i, name in enumerate(_NAMED):
        for explicit in (False, True):
            tag = f"r{i}{'e' * explicit}"
            inits.update(_weights(rng, "RNN", tag, 1))
            if not explicit and name in _NO_DEFAULT:
                continue
            alpha, beta = params.get(name, ([], [])) if explicit else ([], [])
            extra = {k: v for k, v in (("activation_alpha", alpha), ("activation_beta", beta))
                     if v}
            nodes.append(helper.make_node("RNN", ["x", f"{tag}_W", f"{tag}_R", f"{tag}_B"],
                                          [f"{tag}_y"], hidden_size=HIDDEN,
                                          activations=[name],
                                          **extra))
            outs.append(f"{tag}_y")
    inits.update(_weights(rng, "LSTM", "l", 1))
    nodes.append(helper.make_node("LSTM", ["x", "l_W", "l_R", "l_B"], ["ly", "lh", "lc"],
                                  hidden_size=HIDDEN, activations=["HardSigmoid", "LeakyRelu",
                                                                   "ScaledTanh"],
                                  activation_alpha=[0.3, 0.05, 1.5], activation_beta=[0.4, 0.7]))
    model = make_model(nodes, {"x": (np.float32, [3, BATCH, INPUT])}, outs + ["ly", "lh", "lc"],
                       inits, opset=14)
    _check_both(model, {"x": random(rng, (3, BATCH, INPUT))})


@pytest.mark.parametrize("attrs,expect", [
    ({"activations": ["Gelu"]}, "activation 'Gelu' is not supported"),
    ({"activations": ["ScaledTanh"], "activation_alpha": [2.0]}, "needs activation_alpha"),
    ({"direction": "sideways"}, "direction"),
    ({"layout": 2}, "layout"),
])
def test_unsupported_attributes_name_the_node(attrs, expect):
    rng = np.random.default_rng(4)
    node = helper.make_node("RNN", ["x", "r_W", "r_R"], ["", "h"], hidden_size=HIDDEN,
                            name="my_rnn", **attrs)
    inits = {k: v for k, v in _weights(rng, "RNN", "r", 1).items() if not k.endswith("_B")}
    graph = helper.make_graph([node], "t", [helper.make_tensor_value_info("x", 1, [2, 1, 3])],
                              [helper.make_tensor_value_info("h", 1, None)],
                              [helper.make_tensor(k, 1, v.shape, v.ravel()) for k, v in
                               inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    with pytest.raises(UnsupportedError, match=f"my_rnn.*{expect}|{expect}.*my_rnn"):
        import_model(model)


def test_weights_of_the_wrong_shape_are_named():
    """R made for hidden_size 4 in a node that says 5: an error naming the node and R."""
    rng = np.random.default_rng(6)
    inits = {k: v for k, v in _weights(rng, "GRU", "g", 1).items() if not k.endswith("_B")}
    node = helper.make_node("GRU", ["x", "g_W", "g_R"], ["", "h"], hidden_size=HIDDEN + 1,
                            name="my_gru")
    graph = helper.make_graph([node], "t", [helper.make_tensor_value_info("x", 1, [2, 1, 3])],
                              [helper.make_tensor_value_info("h", 1, None)],
                              [helper.make_tensor(k, 1, v.shape, v.ravel()) for k, v in
                               inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    with pytest.raises(Exception, match=r"my_gru.*input W has shape"):
        import_model(model)


def test_float64_matches_the_reference_and_float32_onnxruntime():
    """onnxruntime has no float64 GRU: the float64 model is checked against graphjit's
    reference interpreter, and against onnxruntime running the float32 model."""
    rng = np.random.default_rng(7)
    inits32 = _weights(rng, "GRU", "g", 2)
    x32 = random(rng, (5, BATCH, INPUT))

    def model(dtype):
        node = helper.make_node("GRU", ["x", "g_W", "g_R", "g_B"], ["y", "h"],
                                hidden_size=HIDDEN, direction="bidirectional",
                                linear_before_reset=1)
        return make_model([node], {"x": (dtype, ["T", BATCH, INPUT])},
                          [("y", dtype), ("h", dtype)],
                          {k: v.astype(dtype) for k, v in inits32.items()}, opset=14)

    graph = import_model(model(np.float64))
    got = graph.compile()(x32.astype(np.float64))
    ref = evaluate(graph.outputs, {graph.inputs[0]: x32.astype(np.float64)})
    want = run_ort(model(np.float32), {"x": x32})
    for g, r, w in zip(got, ref, want):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
