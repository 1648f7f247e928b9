"""The one-kernel path of ONNX LSTM/GRU/RNN (graphjit.onnx.recurrent_native): the plan
holds one recurrent kernel per node (no while loop, no per-step kernels) whatever the
sequence length, a free sequence and batch dim reuse it, and its results match
onnxruntime (sequence_lens, initial states, both directions). test_recurrent_import.py
runs the attribute-by-attribute checks on both paths."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

import graphjit as gj  # noqa: E402
from graphjit.errors import ShapeError  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from graphjit.ops.recurrent import recurrent_sequence  # noqa: E402
from tests.onnx.nn_util import check, make_model, random  # noqa: E402

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
INPUT, HIDDEN = 3, 5


@pytest.mark.parametrize("op, extra", [("LSTM", {}), ("GRU", {"linear_before_reset": 0}),
                                       ("GRU", {"linear_before_reset": 1}), ("RNN", {})])
def test_bidirectional_free_dims_one_kernel(op, extra):
    rng = np.random.default_rng(3)
    g = GATES[op]
    inits = {"W": rng.uniform(-.5, .5, (2, g * HIDDEN, INPUT)).astype(np.float32),
             "R": rng.uniform(-.5, .5, (2, g * HIDDEN, HIDDEN)).astype(np.float32),
             "B": rng.uniform(-.5, .5, (2, 2 * g * HIDDEN)).astype(np.float32)}
    ins = ["x", "W", "R", "B", "lens", "h0"] + (["c0"] if op == "LSTM" else [])
    outs = ["y", "yh"] + (["yc"] if op == "LSTM" else [])
    node = helper.make_node(op, ins, outs, hidden_size=HIDDEN, direction="bidirectional",
                            **extra)
    inputs = {"x": (np.float32, ["T", "B", INPUT]), "lens": (np.int32, ["B"]),
              "h0": (np.float32, [2, "B", HIDDEN])}
    if op == "LSTM":
        inputs["c0"] = (np.float32, [2, "B", HIDDEN])
    model = make_model([node], inputs, outs, inits)
    fn = import_model(model).compile()

    def feeds(steps, batch, lens):
        f = {"x": random(rng, (steps, batch, INPUT)), "lens": np.array(lens, np.int32),
             "h0": random(rng, (2, batch, HIDDEN))}
        if op == "LSTM":
            f["c0"] = random(rng, (2, batch, HIDDEN))
        return f

    # batch 6 and 4: the step product's tiles of batch rows (recurrent_kernel.TILE) and
    # the rows left after them
    check(model, feeds(6, 3, [6, 2, 1]), feeds(1, 2, [1, 1]), feeds(9, 1, [4]),
          feeds(4, 6, [4, 1, 3, 4, 2, 4]), feeds(3, 4, [3, 3, 1, 2]), fn=fn)
    names = [k.name for k in fn.kernels]
    assert sum("recurrent" in n for n in names) == 1, names
    assert len(names) < 12, names  # per-step kernels would be dozens


def test_bad_weight_shape_is_named():
    with gj.Graph().as_default():
        xw = gj.placeholder(gj.float32, [None, 2, 4])
        with pytest.raises(ShapeError, match="rt has shape"):
            recurrent_sequence("RNN", xw, gj.zeros([1, 4]), gj.zeros([1, 4, 3]),
                               gj.zeros([1, 2, 4]), gj.zeros([2], gj.int32), [], "forward",
                               [("tanh", 0.0, 0.0)])


def test_lstm_without_peepholes_input_forget_clip_and_other_activations():
    """No P input: the kernel applies the gate activations in passes over the work rows
    (the path PyTorch's LSTMs take); input_forget, clip and named activations there."""
    rng = np.random.default_rng(5)
    inits = {"W": rng.uniform(-.8, .8, (1, 4 * HIDDEN, INPUT)).astype(np.float32),
             "R": rng.uniform(-.8, .8, (1, 4 * HIDDEN, HIDDEN)).astype(np.float32),
             "B": rng.uniform(-.8, .8, (1, 8 * HIDDEN)).astype(np.float32)}
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["y", "yh", "yc"],
                            hidden_size=HIDDEN, input_forget=1, clip=1.5,
                            activations=["HardSigmoid", "Tanh", "Softsign"],
                            activation_alpha=[0.3], activation_beta=[0.4])
    model = make_model([node], {"x": (np.float32, [4, "B", INPUT])}, ["y", "yh", "yc"], inits)
    fn = import_model(model).compile()
    check(model, {"x": random(rng, (4, 3, INPUT)) * 2}, fn=fn)
    assert sum("recurrent" in k.name for k in fn.kernels) == 1
