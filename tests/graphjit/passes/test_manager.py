"""The optimizer's API: pass selection, the report, fetches and feeds, dumps, idempotence."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.errors import Error, NotFoundError
from graphjit.interpreter import evaluate
from graphjit.passes import DEFAULT_PASSES, OptimizeReport, UnknownPassError, optimize
from tests.graphjit.passes.util import op_types, optimize_and_compare


def mlp_graph():
    """An MLP training loss: matmul, bias_add, relu, softmax cross-entropy, with a few
    constant subexpressions and duplicates to optimize."""
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        labels = tf.placeholder(tf.float32, [None, 3], name="labels")
        w1 = tf.constant(rng.standard_normal((4, 8)).astype(np.float32), name="w1")
        b1 = tf.constant(rng.standard_normal(8).astype(np.float32), name="b1")
        w2 = tf.constant(rng.standard_normal((8, 3)).astype(np.float32), name="w2")
        b2 = tf.constant(np.full(3, 0.1, np.float32), name="b2")
        scale = tf.divide(tf.sqrt(tf.constant(2.0)), tf.constant(4.0), name="scale")
        hidden = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w1 * scale), b1), name="hidden")
        logits = tf.nn.bias_add(tf.matmul(tf.identity(hidden) * 1.0, w2), b2, name="logits")
        xent = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        loss = tf.reduce_mean(xent, name="loss")
        probs = tf.nn.softmax(logits, name="probs")
        l2 = tf.multiply(tf.pow(tf.reduce_sum(w1 * w1), 1.0), 0.01, name="l2")
        total = tf.add(loss, l2, name="total")
    feeds = {x: rng.standard_normal((5, 4)).astype(np.float32),
             labels: np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]]}
    return g, [total, probs], feeds


def test_mlp_graph_shrinks_and_agrees():
    g, fetches, feeds = mlp_graph()
    new, report = optimize_and_compare(g, fetches, feeds)
    assert report.passes == DEFAULT_PASSES and report.converged
    assert report.ops_after < report.ops_before
    assert report.ops_before == len(g.get_operations())
    assert report.ops_after == len(new.get_operations())
    types = op_types(new)
    assert types["MatMul"] == 2 and types["Max"] == 1 and "Identity" not in types
    assert new.get_tensor_by_name("total:0") is report.fetch_map[fetches[0]]
    assert sum(run.folded for run in report.runs) > 0


def test_report_table_and_data():
    g, fetches, feeds = mlp_graph()
    _, report = optimize(g, fetches, keep=list(feeds))
    text = str(report)
    assert text.splitlines()[0].startswith(f"optimize: {report.ops_before} -> ")
    for column in ("iter", "pass", "ms", "removed", "added", "replaced", "folded",
                   "const bytes", "rewrites"):
        assert column in text.splitlines()[1]
    assert len(text.splitlines()) == 2 + len(report.runs)
    data = report.as_dict()
    assert data["changes"] == report.changes > 0
    assert [r["pass"] for r in data["runs"][:len(DEFAULT_PASSES)]] == list(DEFAULT_PASSES)
    assert {"seconds", "ops_before", "ops_after", "const_bytes", "rewrites"} <= set(
        data["runs"][0])
    assert data["runs"][0]["iteration"] == 1 and data["runs"][-1]["iteration"] == 2


def test_idempotent_and_input_untouched():
    g, fetches, feeds = mlp_graph()
    before = g.as_text()
    new, report = optimize(g, fetches, keep=list(feeds))
    assert g.as_text() == before
    new_fetches = [report.fetch_map[f] for f in fetches]
    again, second = optimize(new, new_fetches, keep=[report.lookup(t) for t in feeds])
    assert second.changes == 0 and second.iterations == 1
    assert again.as_text() == new.as_text() and again is not new


@pytest.mark.parametrize("passes", ["none", [], ()])
def test_no_passes_copies(passes):
    g, fetches, _ = mlp_graph()
    new, report = optimize(g, fetches, passes=passes)
    assert new is not g and new.as_text() == g.as_text()
    assert report.changes == 0 and report.runs == [] and report.iterations == 0
    old = g.get_operations()[5]
    new_op = report.lookup(old)
    assert new_op.name == old.name and new_op.source == old.source


def test_pass_selection():
    g, fetches, feeds = mlp_graph()
    _, report = optimize(g, fetches, passes="cse, dce", keep=list(feeds))
    assert report.passes == ("cse", "dce")
    assert {run.name for run in report.runs} == {"cse", "dce"}
    _, report = optimize(g, fetches, passes="default")
    assert report.passes == DEFAULT_PASSES


def test_unknown_pass_names_the_valid_ones():
    g, fetches, _ = mlp_graph()
    with pytest.raises(UnknownPassError) as info:
        optimize(g, fetches, passes=["cse", "fold"])
    assert isinstance(info.value, Error)
    message = str(info.value)
    assert "'fold'" in message and all(name in message for name in DEFAULT_PASSES)


def test_iteration_bound():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        y = tf.exp(tf.negative(tf.negative(x)), name="y")
    _, report = optimize(g, [y], max_iterations=1)
    assert report.iterations == 1 and not report.converged
    assert "iteration bound reached" in str(report)


def test_constant_and_placeholder_fetches():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        c = tf.constant([1.0, 2.0], name="c")
        c2 = tf.constant([1.0, 2.0], name="c2")
        y = tf.add(x, c + c2, name="y")
    feeds = {x: np.array([3.0, 4.0], np.float32)}
    new, report = optimize_and_compare(g, [x, c, c2, y], feeds)
    assert report.fetch_map[x].op.type == "Placeholder"
    assert report.fetch_map[c].op.type == "Const" and report.fetch_map[c].op.name == "c"
    assert report.fetch_map[c2].op.name == "c2"  # a fetched constant is not merged away


def test_fed_intermediate_survives_and_feeding_it_still_works():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        h = tf.negative(tf.negative(x), name="h")  # would simplify to x if not fed
        y = tf.multiply(tf.negative(h), 1.0, name="y")
    feeds = {x: np.array([1, 2, 3], np.float32), h: np.array([10, 20, 30], np.float32)}
    new, report = optimize_and_compare(g, [y], feeds)
    (value,) = evaluate([report.fetch_map[y]], {report.lookup(h): feeds[h]})
    np.testing.assert_array_equal(value, [-10, -20, -30])


def test_fetches_by_name_and_operations():
    g, _, feeds = mlp_graph()
    total_op = g.get_operation_by_name("total")
    new, report = optimize(g, ["total:0", total_op], keep=list(feeds))
    assert report.fetch_map[total_op] is new.get_operation_by_name("total")
    assert report.lookup(g.get_tensor_by_name("total:0")) is new.get_tensor_by_name("total:0")


def test_lookup_of_a_removed_tensor_explains():
    g, fetches, _ = mlp_graph()
    _, report = optimize(g, fetches)
    with pytest.raises(NotFoundError, match="keep="):
        report.lookup(g.get_tensor_by_name("scale:0"))


def test_sources_and_collections_follow():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        y = tf.exp(x * 1.0, name="y")
        g.add_to_collection("outputs", y)
        g.add_to_collection("outputs", x * 2.0)  # dead after optimizing for y
        g.add_to_collection("notes", "hello")
    new, _ = optimize(g, [y])
    assert new.get_operation_by_name("y").source == y.op.source is not None
    assert new.get_collection("outputs") == [new.get_tensor_by_name("y:0")]
    assert new.get_collection("notes") == ["hello"]


def test_dump_to_stderr(monkeypatch, capsys):
    g, fetches, _ = mlp_graph()
    monkeypatch.setenv("GRAPHJIT_DUMP", "passes")
    monkeypatch.delenv("GRAPHJIT_DUMP_DIR", raising=False)
    _, report = optimize(g, fetches)
    err = capsys.readouterr().err
    assert "after input" in err and "after 1.constant_folding" in err
    assert err.count("# graphjit optimize") == 1 + len(report.runs)
    assert "total = Add(" in err


def test_dump_to_directory(monkeypatch, tmp_path, capsys):
    g, fetches, _ = mlp_graph()
    monkeypatch.setenv("GRAPHJIT_DUMP", "loops,passes")
    monkeypatch.setenv("GRAPHJIT_DUMP_DIR", str(tmp_path))
    _, report = optimize(g, fetches)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 + len(report.runs)
    assert files[0].endswith("-00-input.txt") and files[1].endswith("-01-1.constant_folding.txt")
    assert capsys.readouterr().err == ""


def test_report_type_is_exported():
    g, fetches, _ = mlp_graph()
    assert isinstance(optimize(g, fetches)[1], OptimizeReport)



def _mean_graph():
    """A mean cross-entropy: constant_folding folds one op, no other pass changes it."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        labels = tf.placeholder(tf.int32, [None], name="labels")
        y = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=x), name="y")
    return g, y, x


def _folded_graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        y = tf.add(x, tf.constant(2.0) * tf.constant(3.0), name="y")
    return g, y, x


def _mlp():
    g, (total, _), _ = mlp_graph()
    return g, total, g.get_tensor_by_name("x:0")


@pytest.mark.parametrize("make", [_mean_graph, _folded_graph, _mlp])
def test_optimize_stops_once_every_pass_ran_without_a_change(make):
    """A fixed point once the passes ran in a row on the current graph without a change:
    the last len(passes) runs changed nothing, the one before them did, and optimizing
    the result again changes nothing."""
    g, y, x = make()
    n = len(DEFAULT_PASSES)
    new, report = optimize(g, [y], keep=[x])
    runs = report.runs
    assert report.converged and all(run.changes == 0 for run in runs[-n:])
    assert len(runs) == n or runs[-n - 1].changes > 0
    twin_y, twin_x = report.lookup(y), report.lookup(x)
    again, second = optimize(new, [twin_y], keep=[twin_x])
    assert second.changes == 0 and again.as_text() == new.as_text()


def test_a_change_by_the_first_pass_alone_is_confirmed_by_its_rerun():
    """A change by constant_folding (the first pass) that nothing after it touches is
    confirmed by constant_folding's second run, without a whole second round."""
    g, y, x = _mean_graph()
    _, report = optimize(g, [y], keep=[x])
    assert [run.name for run in report.runs if run.changes] == [DEFAULT_PASSES[0]]
    assert [run.name for run in report.runs] == [*DEFAULT_PASSES, DEFAULT_PASSES[0]]
    assert report.iterations == 2 and report.converged
