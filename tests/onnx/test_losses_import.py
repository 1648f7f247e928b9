"""ONNX NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (graphjit.onnx.ops_losses)
against onnxruntime, beyond ONNX's node cases: a batch dim free at import, float64 with
int32 targets, and log-probabilities of -inf in classes no target picks."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import check, make_model, random  # noqa: E402

VARIANTS = [{"reduction": "none"}, {"reduction": "sum"}, {"reduction": "mean"},
            {"reduction": "mean", "ignore_index": 2}, {"reduction": "sum", "ignore_index": 0}]


def _model(op: str, dtype, tdtype, weighted: bool, extra_outputs: bool = False):
    nodes, outputs = [], []
    inputs = ["x", "t"] + (["w"] if weighted else [])
    for i, attrs in enumerate(VARIANTS):
        outs = [f"y{i}"] + ([f"p{i}"] if extra_outputs else [])
        nodes.append(helper.make_node(op, inputs, outs, name=f"{op}{i}", **attrs))
        outputs += [(o, dtype) for o in outs]
    decl = {"x": (dtype, [None, 4, 3]), "t": (tdtype, [None, 3])}
    if weighted:
        decl["w"] = (dtype, [4])
    return make_model(nodes, decl, outputs)


@pytest.mark.parametrize("dtype,tdtype", [(np.float32, np.int64), (np.float64, np.int32)])
@pytest.mark.parametrize("weighted", [False, True])
def test_negative_log_likelihood_free_batch(dtype, tdtype, weighted):
    rng = np.random.default_rng(0)
    feeds = []
    for n in (2, 5):
        x = random(rng, (n, 4, 3), dtype)
        t = rng.integers(0, 4, (n, 3)).astype(tdtype)
        x[:, 3] = -np.inf  # class 3 impossible: a product with a 0/1 mask would give NaN
        t[t == 3] = 1
        feed = {"x": x, "t": t}
        if weighted:
            feed["w"] = rng.uniform(0.5, 2.0, 4).astype(dtype)
        feeds.append(feed)
    model = _model("NegativeLogLikelihoodLoss", dtype, tdtype, weighted)
    check(model, *feeds, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_cross_entropy_free_batch_with_log_prob(weighted):
    rng = np.random.default_rng(1)
    model = _model("SoftmaxCrossEntropyLoss", np.float32, np.int64, weighted,
                   extra_outputs=True)
    feeds = [{"x": random(rng, (n, 4, 3)), "t": rng.integers(0, 4, (n, 3))}
             for n in (1, 3)]
    for feed in feeds:
        if weighted:
            feed["w"] = rng.uniform(0.5, 2.0, 4).astype(np.float32)
    check(model, *feeds, rtol=1e-5, atol=1e-6)


def test_free_class_dim_is_refused_naming_the_op():
    node = helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"], name="nll",
                            reduction="none")
    model = make_model([node], {"x": (np.float32, [2, None]), "t": (np.int64, [2])}, ["y"])
    with pytest.raises(UnsupportedError, match="NegativeLogLikelihoodLoss 'nll'.*class mask"):
        import_model(model)
