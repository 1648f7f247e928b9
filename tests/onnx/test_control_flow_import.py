"""ONNX If, Loop and Scan (graphjit.onnx.ops_control_flow) imported as graphjit's If,
While, WhileStack and ScanStack ops: compiled results against the reference interpreter
and onnxruntime, on the forms PyTorch's exporter writes (a Loop with a run-time trip
count and condition, an If on data) and on subgraphs reading outer values by name."""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from tests.onnx.nn_util import run_ort  # noqa: E402

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _model(nodes, inputs, outputs, opset=13):
    graph = helper.make_graph(nodes, "cf", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _check(model, feeds_list, op_types):
    """Compiled == reference == onnxruntime for every feed dict; the graph holds the
    graphjit control-flow ops `op_types` (not an unrolled or folded copy)."""
    graph = import_model(model)
    assert op_types <= {op.type for op in graph.get_operations()}
    fn = graph.compile()
    for feeds in feeds_list:
        got = [np.asarray(v) for v in fn(**feeds)]
        ref = evaluate(list(graph.outputs), {t: feeds[n] for t, n in
                                             zip(graph.inputs, graph.input_names)})
        want = run_ort(model, feeds)
        for g, r, w in zip(got, ref, want):
            assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.shape)
            np.testing.assert_allclose(g, r, rtol=1e-6)
            np.testing.assert_allclose(g, w, rtol=1e-5)
    return graph


def _while_model():
    """PyTorch's `while x.sum() < limit and i < n: x = x * 2 + bias; i += 1`, with the
    per-iteration sums as a scan output: M and cond come from the inputs, the body reads
    `bias` from the outer graph by name."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["x_in", "two"], ["x2"]),
         helper.make_node("Add", ["x2", "bias"], ["x_out"]),
         helper.make_node("ReduceSum", ["x_out"], ["s"], keepdims=0),
         helper.make_node("Less", ["s", "limit"], ["cond_out"]),
         helper.make_node("Identity", ["s"], ["s_row"])],
        "body",
        [_vi("i", I64, []), _vi("cond_in", B, []), _vi("x_in", F, [3])],
        [_vi("cond_out", B, []), _vi("x_out", F, [3]), _vi("s_row", F, [])],
        initializer=[helper.make_tensor("two", F, [], [2.0])])
    nodes = [helper.make_node("Add", ["x", "x"], ["bias"]),
             helper.make_node("ReduceSum", ["x"], ["s0"], keepdims=0),
             helper.make_node("Less", ["s0", "limit"], ["c0"]),
             helper.make_node("Loop", ["n", "c0", "x"], ["x_final", "sums"], body=body)]
    return _model(nodes, [_vi("x", F, [3]), _vi("limit", F, []), _vi("n", I64, [])],
                  [_vi("x_final", F, [3]), _vi("sums", F, [None])])


def test_loop_with_run_time_trip_count_and_condition():
    x = np.array([0.5, 0.25, 1.0], np.float32)
    feeds = [{"x": x, "limit": np.array(limit, np.float32), "n": np.array(n, np.int64)}
             for limit, n in ((100.0, 50), (100.0, 2), (0.5, 10), (1e6, 0))]
    _check(_while_model(), feeds, {"WhileStack"})


def test_if_on_data_with_branches_reading_outer_values():
    then = helper.make_graph([helper.make_node("Mul", ["x", "y"], ["t"])], "then", [],
                             [_vi("t", F, [2, 3])])
    other = helper.make_graph([helper.make_node("Sub", ["y", "x"], ["e"])], "else", [],
                              [_vi("e", F, [2, 3])])
    nodes = [helper.make_node("Exp", ["x"], ["y"]),
             helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["out"], then_branch=then, else_branch=other)]
    model = _model(nodes, [_vi("x", F, [2, 3]), _vi("zero", F, [])], [_vi("out", F, [2, 3])])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    _check(model, [{"x": np.abs(x), "zero": np.array(0, np.float32)},
                   {"x": -np.abs(x), "zero": np.array(0, np.float32)}], {"If"})


def test_if_with_a_build_time_condition_imports_one_branch():
    then = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [],
                             [_vi("t", F, [2])])
    other = helper.make_graph([helper.make_node("Abs", ["x"], ["e"])], "else", [],
                              [_vi("e", F, [2])])
    nodes = [helper.make_node("Constant", [], ["c"], value=helper.make_tensor("v", B, [], [0])),
             helper.make_node("If", ["c"], ["out"], then_branch=then, else_branch=other)]
    model = _model(nodes, [_vi("x", F, [2])], [_vi("out", F, [2])])
    graph = _check(model, [{"x": np.array([-1.5, 2.0], np.float32)}], {"Abs"})
    assert not {"If", "Neg"} & {op.type for op in graph.get_operations()}


def test_if_branches_of_different_shapes_are_refused_naming_the_node():
    then = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [],
                             [_vi("t", F, [2])])
    other = helper.make_graph([helper.make_node("Concat", ["x", "x"], ["e"], axis=0)], "else",
                              [], [_vi("e", F, [4])])
    nodes = [helper.make_node("If", ["c"], ["out"], name="pick", then_branch=then,
                              else_branch=other)]
    model = _model(nodes, [_vi("x", F, [2]), _vi("c", B, [])], [_vi("out", F, [None])])
    with pytest.raises(UnsupportedError, match="If 'pick'.*one shape"):
        import_model(model)


@pytest.mark.parametrize("length", [4, None])
def test_scan_with_reversed_input_and_output_axis_1(length):
    """Two states (a running sum and product) over rows of x read backwards, and per-row
    results stacked along axis 1, as ONNX's Scan-9+ defines them; x's length static or
    free (the stacked rows are sized once to it either way)."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "row"], ["acc_out"]),
         helper.make_node("Mul", ["prod_in", "row"], ["prod_out"]),
         helper.make_node("Mul", ["acc_out", "w"], ["y_row"])],
        "body",
        [_vi("acc_in", F, [2]), _vi("prod_in", F, [2]), _vi("row", F, [2])],
        [_vi("acc_out", F, [2]), _vi("prod_out", F, [2]), _vi("y_row", F, [2])])
    nodes = [helper.make_node("Scan", ["acc0", "prod0", "x"], ["acc", "prod", "ys"],
                              body=body, num_scan_inputs=1, scan_input_directions=[1],
                              scan_output_axes=[1])]
    model = _model(nodes, [_vi("acc0", F, [2]), _vi("prod0", F, [2]),
                           _vi("x", F, [length, 2]), _vi("w", F, [2])],
                   [_vi("acc", F, [2]), _vi("prod", F, [2]), _vi("ys", F, [2, length])],
                   opset=16)
    rng = np.random.default_rng(1)
    feeds = {"acc0": np.zeros(2, np.float32), "prod0": np.ones(2, np.float32),
             "x": rng.uniform(0.5, 1.5, (4, 2)).astype(np.float32),
             "w": np.array([1.0, -2.0], np.float32)}
    feed_sets = [feeds] if length else [feeds, dict(feeds, x=feeds["x"][:1])]
    graph = _check(model, feed_sets, {"ScanStack"})
    assert tuple(graph.outputs[2].shape) == (2, length)


def test_loop_of_known_trip_count_stacks_its_scan_outputs():
    """M a constant, no condition: the loop runs M times and its per-iteration
    outputs (float and bool rows) stack in [M, ...] outputs sized before it."""
    body = helper.make_graph(
        [helper.make_node("Cast", ["it"], ["f"], to=F),
         helper.make_node("Mul", ["acc_in", "f"], ["prod"]),
         helper.make_node("Add", ["acc_in", "prod"], ["acc_out"]),
         helper.make_node("Greater", ["acc_out", "thresh"], ["big"]),
         helper.make_node("Identity", ["ci"], ["co"])],
        "body", [_vi("it", I64, []), _vi("ci", B, []), _vi("acc_in", F, [2])],
        [_vi("co", B, []), _vi("acc_out", F, [2]), _vi("prod", F, [2]), _vi("big", B, [2])])
    nodes = [helper.make_node("Constant", [], ["m"], value=helper.make_tensor("v", I64, [], [5])),
             helper.make_node("Loop", ["m", "", "a"], ["final", "prods", "bigs"], body=body)]
    model = _model(nodes, [_vi("a", F, [2]), _vi("thresh", F, [])],
                   [_vi("final", F, [2]), _vi("prods", F, [5, 2]), _vi("bigs", B, [5, 2])])
    feeds = {"a": np.array([0.5, -1.0], np.float32), "thresh": np.array(3.0, np.float32)}
    graph = _check(model, [feeds], {"WhileStack"})
    assert [tuple(t.shape) for t in graph.outputs[1:]] == [(5, 2), (5, 2)]


def test_loop_nested_in_a_loop_reads_names_of_both_enclosing_graphs():
    """An inner Loop whose body reads `step` (outer graph) and `k` (the outer body)."""
    inner = helper.make_graph(
        [helper.make_node("Mul", ["step", "k"], ["d"]),
         helper.make_node("Add", ["w_in", "d"], ["w_out"]),
         helper.make_node("Identity", ["b_in"], ["b_out"])],
        "inner", [_vi("j", I64, []), _vi("b_in", B, []), _vi("w_in", F, [2])],
        [_vi("b_out", B, []), _vi("w_out", F, [2])])
    outer = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["k"], to=F),
         helper.make_node("Loop", ["m", "", "v_in"], ["v_out"], body=inner),
         helper.make_node("Identity", ["c_in"], ["c_out"])],
        "outer", [_vi("i", I64, []), _vi("c_in", B, []), _vi("v_in", F, [2])],
        [_vi("c_out", B, []), _vi("v_out", F, [2])])
    nodes = [helper.make_node("Loop", ["n", "", "v"], ["out"], body=outer)]
    model = _model(nodes, [_vi("n", I64, []), _vi("m", I64, []), _vi("v", F, [2]),
                           _vi("step", F, [2])], [_vi("out", F, [2])])
    feeds = {"n": np.array(4, np.int64), "m": np.array(3, np.int64),
             "v": np.array([1.0, 2.0], np.float32),
             "step": np.array([0.5, -1.0], np.float32)}
    _check(model, [feeds, dict(feeds, n=np.array(0, np.int64))], {"While"})


def test_loop_carried_tensor_that_grows_under_a_huge_trip_count():
    """PyTorch's `while x.numel() < n: x = cat([x, x + 1])`: M is INT64_MAX, the carried
    tensor doubles each iteration (its dim becomes free), cond is a [1]-shaped bool."""
    body = helper.make_graph(
        [helper.make_node("Add", ["g_in", "one"], ["g1"]),
         helper.make_node("Concat", ["g_in", "g1"], ["g_out"], axis=0),
         helper.make_node("Size", ["g_out"], ["size"]),
         helper.make_node("Less", ["size", "n"], ["c"]),
         helper.make_node("Reshape", ["c", "shape1"], ["c_out"])],
        "body", [_vi("i", I64, []), _vi("c_in", B, [1]), _vi("g_in", F, [None])],
        [_vi("c_out", B, [1]), _vi("g_out", F, [None])],
        initializer=[helper.make_tensor("one", F, [], [1.0]),
                     helper.make_tensor("shape1", I64, [1], [1])])
    nodes = [helper.make_node("Constant", [], ["big"],
                              value=helper.make_tensor("v", I64, [], [2**63 - 1])),
             helper.make_node("Constant", [], ["go"], value=helper.make_tensor("t", B, [1], [1])),
             helper.make_node("Loop", ["big", "go", "x"], ["grown"], body=body)]
    model = _model(nodes, [_vi("x", F, [2]), _vi("n", I64, [])], [_vi("grown", F, [None])])
    x = np.array([0.0, 10.0], np.float32)
    _check(model, [{"x": x, "n": np.array(n, np.int64)} for n in (1, 5, 16)], {"While"})


def _data_exit_model(trip_count: str):
    """`while v.sum() > 1: v = v * 0.5`, M `trip_count` ("" for none), with three scan
    outputs per iteration: v ([3]), an outer product ([3, 3]) and the iteration number."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["v_in", "half"], ["v_out"]),
         helper.make_node("ReduceSum", ["v_out"], ["s"], keepdims=0),
         helper.make_node("Greater", ["s", "one"], ["c_out"]),
         helper.make_node("Unsqueeze", ["v_out", "ax1"], ["col"]),
         helper.make_node("Unsqueeze", ["v_out", "ax0"], ["row"]),
         helper.make_node("MatMul", ["col", "row"], ["outer"]),
         helper.make_node("Identity", ["it"], ["it_row"]),
         helper.make_node("Identity", ["v_out"], ["v_row"])],
        "body", [_vi("it", I64, []), _vi("c_in", B, []), _vi("v_in", F, [3])],
        [_vi("c_out", B, []), _vi("v_out", F, [3]), _vi("v_row", F, [3]),
         _vi("outer", F, [3, 3]), _vi("it_row", I64, [])],
        initializer=[helper.make_tensor("half", F, [], [0.5]),
                     helper.make_tensor("one", F, [], [1.0]),
                     helper.make_tensor("ax0", I64, [1], [0]),
                     helper.make_tensor("ax1", I64, [1], [1])])
    nodes = [helper.make_node("ReduceSum", ["v"], ["s0"], keepdims=0),
             helper.make_node("Greater", ["s0", "one0"], ["c0"]),
             helper.make_node("Loop", [trip_count, "c0", "v"],
                              ["v_final", "vs", "outers", "its"], body=body)]
    inputs = [_vi("v", F, [3]), _vi("one0", F, [])]
    if trip_count:
        nodes.insert(0, helper.make_node("Constant", [], [trip_count],
                                         value=helper.make_tensor("m", I64, [], [50])))
    return _model(nodes, inputs, [_vi("v_final", F, [3]), _vi("vs", F, [None, 3]),
                                  _vi("outers", F, [None, 3, 3]), _vi("its", I64, [None])])


@pytest.mark.parametrize("trip_count", ["", "m"])
def test_loop_that_stops_on_its_data_stacks_its_scan_outputs(trip_count):
    """No trip count, or one known at import that the data ends first: the scan outputs
    of 0, 1, 5 and 40 iterations (past the first buffer's capacity), one body plan."""
    model = _data_exit_model(trip_count)
    feeds = [{"v": np.array([2.0 ** k, 0.5, 0.25], np.float32),
              "one0": np.array(1.0, np.float32)} for k in (-3, 0, 4, 39)]
    graph = _check(model, feeds, {"WhileStack"})
    assert [tuple(t.shape) for t in graph.outputs] == [(3,), (None, 3), (None, 3, 3), (None,)]
    loop, = [op for op in graph.get_operations() if op.type == "WhileStack"]
    assert len(loop.attrs["body"].compiled().cache_info().plans) == 1
    assert "While" not in {op.type for op in graph.get_operations()}


def test_a_branch_with_an_unconverted_op_is_refused_naming_the_node_and_graph():
    """Branches and bodies are checked by the one subgraph importer FlexAttention's
    modifiers use (there without outer reads), before any of their nodes is built."""
    then = helper.make_graph([helper.make_node("Bernoulli", ["x"], ["t"])], "then", [],
                             [_vi("t", F, [2])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                              [_vi("e", F, [2])])
    nodes = [helper.make_node("If", ["c"], ["out"], name="pick", then_branch=then,
                              else_branch=other)]
    model = _model(nodes, [_vi("x", F, [2]), _vi("c", B, [])], [_vi("out", F, [2])],
                   opset=15)
    with pytest.raises(UnsupportedError,
                       match="If 'pick' \\(opset 15\\): its graph 'then_branch'.*Bernoulli"):
        import_model(model)


def test_loops_with_scan_outputs_nested_in_a_scan():
    """A Scan over rows r whose body runs a Loop of r's length k = the row's integer
    value, stacking k * step per inner iteration (`step` read from the outer graph);
    the Scan stacks the inner rows' sums: a WhileStack in a ScanStack's body."""
    inner = helper.make_graph(
        [helper.make_node("Cast", ["j"], ["jf"], to=F),
         helper.make_node("Mul", ["jf", "step"], ["row"]),
         helper.make_node("Add", ["a_in", "row"], ["a_out"]),
         helper.make_node("Identity", ["c_in"], ["c_out"])],
        "inner", [_vi("j", I64, []), _vi("c_in", B, []), _vi("a_in", F, [2])],
        [_vi("c_out", B, []), _vi("a_out", F, [2]), _vi("row", F, [2])])
    body = helper.make_graph(
        [helper.make_node("Loop", ["k", "", "s_in"], ["s_out", "rows"], body=inner),
         helper.make_node("ReduceSum", ["rows"], ["total"], keepdims=0)],
        "body", [_vi("s_in", F, [2]), _vi("k", I64, [])],
        [_vi("s_out", F, [2]), _vi("total", F, [])])
    nodes = [helper.make_node("Scan", ["s0", "ks"], ["s", "totals"], body=body,
                              num_scan_inputs=1)]
    model = _model(nodes, [_vi("s0", F, [2]), _vi("ks", I64, [None]), _vi("step", F, [2])],
                   [_vi("s", F, [2]), _vi("totals", F, [None])], opset=16)
    feeds = {"s0": np.zeros(2, np.float32), "ks": np.array([3, 0, 20], np.int64),
             "step": np.array([0.5, -1.0], np.float32)}
    graph = _check(model, [feeds, dict(feeds, ks=np.array([2], np.int64))],
                   {"ScanStack"})
    outer, = [op for op in graph.get_operations() if op.type == "ScanStack"]
    assert "WhileStack" in {op.type for op in outer.attrs["body"].graph.get_operations()}


def test_a_known_trip_count_too_big_to_allocate_leaves_the_rows_growing():
    """M = 2**40 with a condition always true: the rows are not sized to M when built
    (that would be terabytes), and the import succeeds."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["ci"], ["co"]),
         helper.make_node("Add", ["acc_in", "acc_in"], ["acc_out"])],
        "body", [_vi("it", I64, []), _vi("ci", B, []), _vi("acc_in", F, [2])],
        [_vi("co", B, []), _vi("acc_out", F, [2]), _vi("acc_out", F, [2])])
    nodes = [helper.make_node("Constant", [], ["m"],
                              value=helper.make_tensor("v", I64, [], [2**40])),
             helper.make_node("Loop", ["m", "", "a"], ["final", "rows"], body=body)]
    model = _model(nodes, [_vi("a", F, [2])], [_vi("final", F, [2]), _vi("rows", F, [None, 2])])
    graph = import_model(model)
    assert tuple(graph.outputs[1].shape) == (None, 2)


def test_scan_without_states_over_two_inputs_of_different_axes():
    """No state; x scanned along axis 1, y along axis 0 backwards; rows stacked in
    reverse: the inputs are turned to have their scan axis first before the loop."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["xc", "yr"], ["p"])],
        "body", [_vi("xc", F, [3]), _vi("yr", F, [3])], [_vi("p", F, [3])])
    nodes = [helper.make_node("Scan", ["x", "y"], ["ps"], body=body, num_scan_inputs=2,
                              scan_input_axes=[1, 0], scan_input_directions=[0, 1],
                              scan_output_directions=[1])]
    model = _model(nodes, [_vi("x", F, [3, None]), _vi("y", F, [None, 3])],
                   [_vi("ps", F, [None, 3])], opset=16)
    rng = np.random.default_rng(3)
    feeds = [{"x": rng.standard_normal((3, k)).astype(np.float32),
              "y": rng.standard_normal((k, 3)).astype(np.float32)} for k in (4, 1)]
    _check(model, feeds, {"ScanStack"})
