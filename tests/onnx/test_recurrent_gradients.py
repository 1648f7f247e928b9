"""Gradients through imported ONNX LSTM, GRU and RNN nodes. Hidden sizes this small take
the one-kernel RecurrentSequence path, whose gradient rule (graphjit.ops.recurrent_grad)
differentiates the recurrence rebuilt as per-step ops; checked in float64 against central
finite differences of the reference interpreter, and against the gradients of the
per-step graph the converter builds when its limit is lowered to 0. Every float input
(X, W, R, B, P, initial_h, initial_c) is a model input, so each gets its gradient;
absent initial states and lengths are the converter's batch-1 constants."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

import graphjit as gj  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from graphjit.ops.recurrent import recurrent_sequence  # noqa: E402
from tests.onnx.nn_util import make_model  # noqa: E402

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
INPUT, EPS = 3, 1e-6

# (op, direction, hidden, steps (None: a free dim), batch, lens, with initial states,
#  extra attributes)
CONFIGS = {
    "lstm_forward_states_peepholes": ("LSTM", "forward", 4, 3, 2, None, True, {}),
    "lstm_bidirectional_lens": ("LSTM", "bidirectional", 3, 3, 2, [3, 1], False, {}),
    "lstm_bidirectional_lens_free_steps": ("LSTM", "bidirectional", 3, None, 2, [2, 3],
                                           True, {}),
    "lstm_clip_input_forget_activations": (
        "LSTM", "forward", 3, 2, 2, None, True,
        {"input_forget": 1, "clip": 0.7, "activations": ["HardSigmoid", "Tanh", "Softsign"],
         "activation_alpha": [0.3], "activation_beta": [0.4]}),
    "gru_forward_lens_states": ("GRU", "forward", 5, 3, 2, [1, 3], True,
                                {"linear_before_reset": 0}),
    "gru_bidirectional_linear_before_reset": ("GRU", "bidirectional", 4, 2, 1, None, True,
                                              {"linear_before_reset": 1}),
    "rnn_bidirectional_lens_states": ("RNN", "bidirectional", 3, 4, 2, [4, 2], True, {}),
    "rnn_forward_batch1": ("RNN", "forward", 6, 2, 1, None, False, {}),
}


def _model(op, direction, hidden, steps, batch, lens, states, attrs, rng):
    """The node with every float input a model input, and the feeds at T=3 for a free T."""
    dirs, g = (2 if direction == "bidirectional" else 1), GATES[op]
    peep = op == "LSTM" and states
    shapes = {"x": ["T" if steps is None else steps, batch, INPUT],
              "W": [dirs, g * hidden, INPUT], "R": [dirs, g * hidden, hidden],
              "B": [dirs, 2 * g * hidden]}
    names = ["x", "W", "R", "B", "lens" if lens else ""]
    if states:
        shapes["h0"] = [dirs, batch, hidden]
        names.append("h0")
        if op == "LSTM":
            shapes["c0"] = [dirs, batch, hidden]
            names.append("c0")
    if peep:
        shapes["P"] = [dirs, 3 * hidden]
        names.append("P")
    outs = ["y", "yh"] + (["yc"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outs, hidden_size=hidden, direction=direction,
                            **attrs)
    inputs = {n: (np.float64, s) for n, s in shapes.items()}
    if lens:
        inputs["lens"] = (np.int32, [batch])
    model = make_model([node], inputs, [(o, np.float64) for o in outs])
    feeds = {n: rng.uniform(-0.8, 0.8, [3 if d == "T" else d for d in s])
             for n, s in shapes.items()}
    if lens:
        feeds["lens"] = np.array(lens, np.int32)
    return model, feeds


def _gradients(model, feeds, weights_rng_seed: int):
    """(graph, loss, {input name: gradient tensor}) of sum_k sum(out_k * V_k), V_k fixed
    random weights, so every output element is checked."""
    graph = import_model(model)
    rng = np.random.default_rng(weights_rng_seed)
    by_name = dict(zip(graph.input_names, graph.inputs))
    with graph.as_default():
        values = evaluate(graph.outputs, {by_name[n]: v for n, v in feeds.items()})
        terms = [gj.reduce_sum(o * rng.uniform(0.5, 1.5, v.shape))
                 for o, v in zip(graph.outputs, values)]
        loss = terms[0]
        for term in terms[1:]:
            loss = loss + term
        floats = [n for n in graph.input_names if n != "lens"]
        grads = gj.gradients(loss, [by_name[n] for n in floats])
    return graph, loss, dict(zip(floats, grads)), by_name


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def problem(request):
    """One config's model and feeds, with its native-path gradients evaluated."""
    rng = np.random.default_rng(sorted(CONFIGS).index(request.param))
    model, feeds = _model(*CONFIGS[request.param], rng)
    graph, loss, grads, by_name = _gradients(model, feeds, 1)
    kinds = {op.type for op in graph.get_operations()}
    assert "RecurrentSequence" in kinds, kinds
    fed = {by_name[n]: v for n, v in feeds.items()}
    names = sorted(grads)
    values = dict(zip(names, evaluate([grads[n] for n in names], fed)))
    return request.param, model, feeds, graph, loss, by_name, values


def test_gradients_match_finite_differences(problem):
    """<gradient, V> against (f(a + eps V) - f(a - eps V)) / 2 eps along a random V
    per input, f the forward graph in the reference interpreter."""
    name, _, feeds, _, loss, by_name, values = problem
    rng = np.random.default_rng(11)

    def f(changed):
        return float(evaluate([loss], {by_name[n]: changed.get(n, v)
                                       for n, v in feeds.items()})[0])

    for n, grad in values.items():
        assert grad is not None and grad.shape == feeds[n].shape, (name, n)
        direction = rng.standard_normal(feeds[n].shape)
        numeric = (f({n: feeds[n] + EPS * direction})
                   - f({n: feeds[n] - EPS * direction})) / (2 * EPS)
        np.testing.assert_allclose(np.sum(grad * direction), numeric, rtol=1e-6, atol=1e-8,
                                   err_msg=f"{name}: d/d{n}")


def test_native_gradients_equal_per_step_gradients(problem, monkeypatch):
    """The same model imported as the per-step graph: the same gradients, element by
    element."""
    name, model, feeds, _, _, _, values = problem
    monkeypatch.setattr("graphjit.onnx.ops_recurrent.NATIVE_MAX_HIDDEN", 0)
    graph, _, grads, by_name = _gradients(model, feeds, 1)
    assert "RecurrentSequence" not in {op.type for op in graph.get_operations()}
    names = sorted(grads)
    per_step = evaluate([grads[n] for n in names], {by_name[n]: v for n, v in feeds.items()})
    for n, want in zip(names, per_step):
        np.testing.assert_allclose(values[n], want, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}: d/d{n}")


@pytest.mark.parametrize("limit", [None, 0])
def test_integer_lens_has_no_gradient(limit, monkeypatch):
    """sequence_lens is int32: as for any integer tensor (and on the per-step path), asking
    for its gradient is a NotDifferentiableError naming it; the float inputs still get
    theirs (above)."""
    if limit is not None:
        monkeypatch.setattr("graphjit.onnx.ops_recurrent.NATIVE_MAX_HIDDEN", limit)
    model, _ = _model(*CONFIGS["lstm_bidirectional_lens"], np.random.default_rng(0))
    graph = import_model(model)
    lens = dict(zip(graph.input_names, graph.inputs))["lens"]
    with graph.as_default(), pytest.raises(gj.NotDifferentiableError, match="'lens:0'"):
        gj.gradients(gj.reduce_sum(graph.outputs[0]), [lens])


def test_compiled_gradients_equal_reference():
    """The compiled gradient graph (the native kernel forward, per-step ops backward, a
    while loop as T is free) gives the reference interpreter's gradients. (A static T's
    unrolled steps run compiled in the training test below.)"""
    config = "lstm_bidirectional_lens_free_steps"
    rng = np.random.default_rng(sorted(CONFIGS).index(config))
    model, feeds = _model(*CONFIGS[config], rng)
    graph, _, grads, by_name = _gradients(model, feeds, 1)
    names = sorted(grads)
    fn = gj.compile(graph, [grads[n] for n in names],
                    feeds=[by_name[n] for n in sorted(feeds)])
    got = fn(*[feeds[n] for n in sorted(feeds)])
    want = evaluate([grads[n] for n in names], {by_name[n]: v for n, v in feeds.items()})
    for n, g, w in zip(names, got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12, err_msg=n)


def test_training_step_lowers_the_loss():
    """TF1 fine-tuning of a RecurrentSequence LSTM whose weights are variables:
    GradientDescentOptimizer.minimize on a loss of its output runs, moves every weight
    by -lr * its gradient, and lowers the loss."""
    rng = np.random.default_rng(2)
    hidden, lr = 3, 0.1
    x_value = rng.uniform(-1, 1, (3, 2, INPUT)).astype(np.float32)
    target = rng.uniform(-0.5, 0.5, (3, 1, 2, hidden)).astype(np.float32)
    graph = gj.Graph()
    with graph.as_default():
        x = gj.placeholder(gj.float32, [3, 2, INPUT])
        w = gj.Variable(rng.uniform(-.5, .5, (INPUT, 4 * hidden)).astype(np.float32))
        bias = gj.Variable(np.zeros((1, 4 * hidden), np.float32))
        rt = gj.Variable(rng.uniform(-.5, .5, (1, hidden, 4 * hidden)).astype(np.float32))
        zero = gj.constant(np.zeros((1, 1, hidden), np.float32))
        y = recurrent_sequence(
            "LSTM", gj.matmul(x, w), bias, rt, zero, gj.constant(np.full([1], 99, np.int32)),
            [zero, gj.constant(np.zeros((1, 3, hidden), np.float32))], "forward",
            [("sigmoid", 0.0, 0.0), ("tanh", 0.0, 0.0), ("tanh", 0.0, 0.0)])[0]
        loss = gj.reduce_sum(gj.square(y - target))
        grads = gj.gradients(loss, [w, bias, rt])
        train = gj.train.GradientDescentOptimizer(lr).minimize(loss)
        init = gj.global_variables_initializer()
    sess = gj.Session(graph=graph)
    sess.run(init)
    before, *g = sess.run([loss, *grads, ], {x: x_value})
    old = sess.run([w, bias, rt])
    sess.run(train, {x: x_value})
    for v, o, dv in zip(sess.run([w, bias, rt]), old, g):
        assert np.abs(dv).max() > 0
        np.testing.assert_allclose(v, o - lr * dv, rtol=1e-4, atol=1e-6)
    assert sess.run(loss, {x: x_value}) < before
