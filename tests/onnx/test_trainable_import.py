"""import_model(trainable=...): ONNX initializers as Variables a TF1 optimizer trains.

An MLP and a small CNN, built with onnx.helper, are trained a few steps with
GradientDescentOptimizer in a compiled and a reference Session side by side:
each weight must move by exactly -lr times its gradient from the reference
interpreter, the two engines must agree, and exporting the trained graph must
give the trained values (checked through onnxruntime). Initializers whose
value a converter needs at import stay constants."""

import os

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import graphjit as gj  # noqa: E402
from graphjit.errors import GraphError  # noqa: E402
from graphjit.lower import packed_matmul  # noqa: E402
from graphjit.onnx import export, import_model  # noqa: E402

LR, STEPS = 0.05, 3


def _model(nodes, x_shape, y_shape, inits):
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def mlp(rng):
    """x[4,6] -> Gemm -> Relu -> MatMul -> Add -> y[4,3]."""
    inits = {"fc1.weight": rng.normal(size=(6, 5)).astype(np.float32),
             "fc1.bias": rng.normal(size=5).astype(np.float32),
             "fc2.weight": rng.normal(size=(5, 3)).astype(np.float32),
             "fc2.bias": np.zeros(3, np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "fc2.weight"], ["m"]),
             helper.make_node("Add", ["m", "fc2.bias"], ["y"])]
    return _model(nodes, [4, 6], [4, 3], inits), (4, 6), (4, 3)


def cnn(rng):
    """x[2,1,5,5] -> Pad (pads, and a float pad value needed at import) -> Conv -> Relu
    -> Reshape (a shape needed at import) -> Gemm -> y[2,3]."""
    inits = {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
             "pad_value": np.array(0.5, np.float32),
             "conv.weight": (0.3 * rng.normal(size=(2, 1, 3, 3))).astype(np.float32),
             "conv.bias": rng.normal(size=2).astype(np.float32),
             "shape": np.array([2, -1], np.int64),
             "fc.weight": (0.1 * rng.normal(size=(3, 50))).astype(np.float32),
             "fc.bias": np.zeros(3, np.float32)}
    nodes = [helper.make_node("Pad", ["x", "pads", "pad_value"], ["p"], name="pad"),
             helper.make_node("Conv", ["p", "conv.weight", "conv.bias"], ["c"],
                              kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["f"]),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], transB=1)]
    return _model(nodes, [2, 1, 5, 5], [2, 3], inits), (2, 1, 5, 5), (2, 3)


MODELS = {"mlp": mlp, "cnn": cnn}
VARIABLES = {"mlp": ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"],
             "cnn": ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]}


@pytest.fixture(scope="module", params=sorted(MODELS))
def trained(request):
    """The model imported with trainable=True and trained STEPS steps in a compiled and a
    reference session, with what each step saw."""
    rng = np.random.default_rng(0)
    model, x_shape, y_shape = MODELS[request.param](rng)
    graph = import_model(model, trainable=True)
    x = rng.normal(size=x_shape).astype(np.float32)
    target = rng.normal(size=y_shape).astype(np.float32)
    names = sorted(graph.initializer_variables)
    variables = [graph.initializer_variables[n] for n in names]
    with graph.as_default():
        label = gj.placeholder(gj.float32, list(y_shape), name="label")
        loss = gj.reduce_mean(gj.square(graph.outputs[0] - label))
        grads = gj.gradients(loss, variables)
        train = gj.train.GradientDescentOptimizer(LR).minimize(loss)
        init = gj.global_variables_initializer()
    compiled = gj.Session(graph=graph)
    reference = gj.Session(graph=graph, engine="reference")
    feed = {graph.inputs[0]: x, label: target}
    steps = []
    for sess in (compiled, reference):
        sess.run(init)
    for _ in range(STEPS):
        before = compiled.run(variables)
        ref_grads = reference.run(grads, feed)
        loss_c = compiled.run([loss, train], feed)[0]
        loss_r = reference.run([loss, train], feed)[0]
        steps.append(dict(before=before, grads=ref_grads, after=compiled.run(variables),
                          after_ref=reference.run(variables), loss_c=loss_c, loss_r=loss_r))
    yield dict(kind=request.param, model=model, graph=graph, names=names, x=x,
               steps=steps, session=compiled)
    compiled.close()
    reference.close()


def test_float_data_initializers_become_trainable_variables(trained):
    graph = trained["graph"]
    assert trained["names"] == sorted(VARIABLES[trained["kind"]])
    collected = graph.get_collection(gj.GraphKeys.TRAINABLE_VARIABLES)
    assert {v.op.name for v in collected} == set(trained["names"])
    for name, v in graph.initializer_variables.items():
        assert v.name == name + ":0" and v.op.type == "VariableV2"
        value = next(numpy_helper.to_array(i) for i in trained["model"].graph.initializer
                     if i.name == name)
        assert v.shape == value.shape and v.dtype.np == value.dtype
        np.testing.assert_array_equal(trained["steps"][0]["before"][
            trained["names"].index(name)], value)


def test_each_step_moves_weights_by_minus_lr_times_reference_gradient(trained):
    for step in trained["steps"]:
        for before, grad, after in zip(step["before"], step["grads"], step["after"]):
            assert np.any(grad != 0)
            np.testing.assert_allclose(after, before - LR * grad, rtol=1e-5, atol=1e-6)


def test_compiled_and_reference_training_agree_and_loss_decreases(trained):
    steps = trained["steps"]
    for step in steps:
        np.testing.assert_allclose(step["loss_c"], step["loss_r"], rtol=1e-5)
        for c, r in zip(step["after"], step["after_ref"]):
            np.testing.assert_allclose(c, r, rtol=1e-5, atol=1e-6)
    losses = [s["loss_c"] for s in steps]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses


def test_export_after_training_gives_trained_values(trained):
    graph, sess = trained["graph"], trained["session"]
    onnx_model = export(graph, fetches=graph.outputs, feeds=graph.inputs, session=sess,
                        optimize=False)
    exported = {i.name: numpy_helper.to_array(i) for i in onnx_model.graph.initializer}
    trained_values = sess.run([graph.initializer_variables[n] for n in trained["names"]])
    for name, value in zip(trained["names"], trained_values):
        # (a weight the exporter's MatMul takes transposed is written transposed)
        got = exported[name] if name in exported else exported[name + "/transposed"].T
        np.testing.assert_array_equal(got, value)
        original = next(numpy_helper.to_array(i) for i in trained["model"].graph.initializer
                        if i.name == name)
        assert not np.array_equal(value, original)  # it did train
    ort_sess = ort.InferenceSession(onnx_model.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
    (ort_y,) = ort_sess.run(None, {onnx_model.graph.input[0].name: trained["x"]})
    (gj_y,) = sess.run(graph.outputs, {graph.inputs[0]: trained["x"]})
    np.testing.assert_allclose(ort_y, gj_y, rtol=1e-5, atol=1e-5)


def test_initializers_needed_at_import_stay_constants():
    graph = import_model(cnn(np.random.default_rng(1))[0], trainable=True)
    assert set(graph.kept_constant) == {"pad_value"}
    assert "Pad 'pad'" in graph.kept_constant["pad_value"]
    for name in ("pads", "shape", "pad_value"):
        assert name not in graph.initializer_variables
    assert graph.get_operation_by_name("shape").type == "Const"


def test_named_initializer_needed_at_import_is_an_error_naming_it_and_the_node():
    model = cnn(np.random.default_rng(1))[0]
    with pytest.raises(GraphError, match=r"initializer 'pad_value' cannot be trainable.*"
                                         r"Pad 'pad'"):
        import_model(model, trainable=["fc.weight", "pad_value"])
    with pytest.raises(GraphError, match=r"'shape' is int64; only float32 and float64"):
        import_model(model, trainable=["shape"])
    with pytest.raises(GraphError, match=r"'nope' is not an initializer"):
        import_model(model, trainable=["nope"])
    with pytest.raises(TypeError, match="list of initializer names"):
        import_model(model, trainable="fc.weight")


def test_named_initializers_only_become_variables():
    graph = import_model(mlp(np.random.default_rng(2))[0], trainable=["fc2.weight"])
    assert list(graph.initializer_variables) == ["fc2.weight"]
    assert graph.get_operation_by_name("fc1.weight").type == "Const"
    with graph.as_default():
        assert [v.op.name for v in gj.trainable_variables()] == ["fc2.weight"]


@pytest.mark.parametrize("trainable", [False, None])
def test_default_import_is_unchanged_constants(trainable):
    model = mlp(np.random.default_rng(3))[0]
    graph = import_model(model, trainable=trainable)
    default = import_model(model)
    assert graph.initializer_variables == {} and graph.kept_constant == {}
    assert graph.get_collection(gj.GraphKeys.TRAINABLE_VARIABLES) == []
    assert [(op.name, op.type) for op in graph.get_operations()] == \
        [(op.name, op.type) for op in default.get_operations()]
    assert graph.get_operation_by_name("fc1.weight").type == "Const"



def test_variable_weights_go_through_blas_and_compute_what_constants_do(monkeypatch):
    monkeypatch.setattr(packed_matmul, "PACKED_AFTER_CALLS", 0)  # packed at once: no tier
    model = mlp(np.random.default_rng(4))[0]
    x = np.random.default_rng(5).normal(size=(4, 6)).astype(np.float32)
    constant, variable = import_model(model).compile(), \
        import_model(model, trainable=True).compile()
    np.testing.assert_allclose(variable(x)[0], constant(x)[0], rtol=1e-5, atol=1e-6)
    assert " of tile " in constant.ir("loops")  # the packed constant-weight kernel
    loops = variable.ir("loops")
    assert " of tile " not in loops and loops.count("extern matmul") == 2


TORCH_MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_models")


@pytest.mark.parametrize("name", sorted(f[:-5] for f in os.listdir(TORCH_MODELS)
                                        if f.endswith(".onnx")))
def test_torch_exported_models_import_trainable(name):
    """Every float initializer of the torch.onnx.export models (MLP, residual block, LSTM,
    transformer encoder, upsampling conv, control flow) is a Variable with a gradient,
    and the model computes what its all-constants import does (reference engine)."""
    path = os.path.join(TORCH_MODELS, name + ".onnx")
    graph, constant = import_model(path, trainable=True), import_model(path)
    with np.load(os.path.join(TORCH_MODELS, name + ".npz"), allow_pickle=False) as data:
        values = [data["in_" + n] for n in graph.input_names]
    variables = list(graph.initializer_variables.values())
    assert variables and graph.kept_constant == {}
    with graph.as_default():
        grads = gj.gradients(gj.reduce_sum(graph.outputs[0]), variables)
        init = gj.global_variables_initializer()
    assert [v.op.name for v, g in zip(variables, grads) if g is None] == []
    with gj.Session(graph=graph, engine="reference") as sess:
        sess.run(init)
        got = sess.run(graph.outputs, dict(zip(graph.inputs, values)))
    want = gj.interpreter.evaluate(constant.outputs, dict(zip(constant.inputs, values)))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_initializers_read_by_if_branches_are_captured_variables_with_gradients():
    """W is read only inside the then-branch, b only inside the else-branch."""
    w = (np.arange(6, dtype=np.float32) / 10).reshape(2, 3)
    out = [helper.make_tensor_value_info("o", TensorProto.FLOAT, [1, 3])]
    then = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["o"])], "then", [], out)
    other = helper.make_graph([helper.make_node("Identity", ["b"], ["o"])], "else", [], out)
    graph_proto = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)], "m",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.ones((1, 3), np.float32),
                                                                  "b")])
    graph = import_model(helper.make_model(graph_proto,
                                           opset_imports=[helper.make_opsetid("", 17)]),
                         trainable=True)
    assert sorted(graph.initializer_variables) == ["W", "b"]
    variables = [graph.initializer_variables[n] for n in ("W", "b")]
    with graph.as_default():
        grads = gj.gradients(gj.reduce_sum(graph.outputs[0]), variables)
        init = gj.global_variables_initializer()
    x = np.array([[1.0, 2.0]], np.float32)
    for engine in ("reference", "compiled"):
        with gj.Session(graph=graph, engine=engine) as sess:
            sess.run(init)
            for cond in (True, False):
                feed = {graph.inputs[0]: np.array(cond), graph.inputs[1]: x}
                y, grad_w, grad_b = sess.run([graph.outputs[0], *grads], feed)
                np.testing.assert_allclose(y, x @ w if cond else np.ones((1, 3)), rtol=1e-6)
                np.testing.assert_array_equal(grad_w, np.repeat(x.T, 3, 1) * cond)
                np.testing.assert_array_equal(grad_b, np.full((1, 3), float(not cond)))


def test_old_style_initializers_listed_as_inputs_and_static_inputs():
    """An initializer also listed as a graph input is a variable, not an input; one given a
    value by static_inputs is a constant (naming it in trainable is an error)."""
    model = mlp(np.random.default_rng(6))[0]
    model.graph.input.append(helper.make_tensor_value_info("fc2.bias", TensorProto.FLOAT, [3]))
    graph = import_model(model, trainable=True, static_inputs={"fc1.bias": np.zeros(5)})
    assert graph.input_names == ["x"]
    assert sorted(graph.initializer_variables) == ["fc1.weight", "fc2.bias", "fc2.weight"]
    assert graph.get_operation_by_name("fc1.bias").type == "Const"
    with pytest.raises(GraphError, match=r"'fc1.bias' is also given a value in static_inputs"):
        import_model(model, trainable=["fc1.bias"], static_inputs={"fc1.bias": np.zeros(5)})


def test_export_of_trainable_graph_needs_values_and_takes_a_compiled_functions_state():
    model = mlp(np.random.default_rng(7))[0]
    graph = import_model(model, trainable=True)
    with pytest.raises(GraphError, match="session="):
        export(graph, fetches=graph.outputs, feeds=graph.inputs)
    fn = graph.compile()
    fn.state["fc2.bias"] = np.full(3, 2.0, np.float32)  # as a training step would
    exported = {i.name: numpy_helper.to_array(i)
                for i in export(fn, optimize=False).graph.initializer}
    original = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    original["fc2.bias"] = np.full(3, 2.0, np.float32)
    assert set(exported) == set(original)
    for name, value in original.items():
        np.testing.assert_array_equal(exported[name], value)


def test_quantization_scales_are_scalar_variables_with_gradients():
    """QuantizeLinear/DequantizeLinear take a run-time scale: float scales become
    variables of their own 0-d shape; the uint8 weights and zero points stay constants."""
    rng = np.random.default_rng(8)
    inits = {"s": np.array(0.05, np.float32), "zp": np.array(128, np.uint8),
             "wq": rng.integers(0, 255, (3, 2)).astype(np.uint8),
             "ws": np.array(0.02, np.float32), "wzp": np.array(120, np.uint8)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wzp"], ["w"]),
             helper.make_node("MatMul", ["xd", "w"], ["y"])]
    model = _model(nodes, [2, 3], [2, 2], inits)
    graph, constant = import_model(model, trainable=True), import_model(model)
    assert {n: v.shape for n, v in graph.initializer_variables.items()} == {"s": (), "ws": ()}
    with graph.as_default():
        grads = gj.gradients(gj.reduce_sum(graph.outputs[0]), [graph.initializer_variables["ws"]])
        init = gj.global_variables_initializer()
    x = rng.normal(size=(2, 3)).astype(np.float32)
    (want,) = gj.interpreter.evaluate(constant.outputs, {constant.inputs[0]: x})
    with gj.Session(graph=graph) as sess:
        sess.run(init)
        y, grad = sess.run([graph.outputs[0], grads[0]], {graph.inputs[0]: x})
    np.testing.assert_allclose(y, want, rtol=1e-6)
    np.testing.assert_allclose(grad, want.sum() / inits["ws"], rtol=1e-4)  # y is linear in ws
