"""Pictures (DOT text, SVG through Graphviz) and what repr and Jupyter show."""

from __future__ import annotations

import builtins
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import graphjit as tf
from graphjit.lower.packed_matmul import blas_rows
from graphjit.viz import to_dot
from graphjit.viz.dot import quote
from runtime.profiler import KernelStats, ProfileReport

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot program is not installed")

NODE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" \[(.*)\];$')
EDGE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)" \[(.*)\];$')
CLUSTER = re.compile(r'^\s*subgraph "(cluster_[^"]*)" \{$')
LABEL = re.compile(r'label="((?:[^"\\]|\\.)*)"')


def parse_dot(text: str) -> dict:
    """The structure of our DOT output: clusters with their nodes, nodes, edges; braces
    must balance and every line must be a statement we know."""
    lines = text.splitlines()
    assert lines[0] == "digraph graphjit {" and lines[-1] == "}"
    clusters, stack, nodes, edges, depth = {}, [], {}, [], 0
    for line in lines[1:-1]:
        if m := CLUSTER.match(line):
            stack.append(m.group(1))
            clusters[m.group(1)] = {"label": None, "nodes": []}
            depth += 1
        elif line.strip() == "}":
            stack.pop()
            depth -= 1
        elif m := EDGE.match(line):
            label = LABEL.search(m.group(3))
            edges.append((m.group(1), m.group(2), label.group(1) if label else None))
        elif m := NODE.match(line):
            nodes[m.group(1)] = LABEL.search(m.group(2)).group(1)
            if stack:
                clusters[stack[-1]]["nodes"].append(m.group(1))
        elif stack and line.strip().startswith("label="):
            clusters[stack[-1]]["label"] = LABEL.search(line).group(1)
        else:
            assert re.match(r"^\s*(graph|node|edge) \[.*\];$", line), line
    assert depth == 0
    return {"clusters": clusters, "nodes": nodes, "edges": edges}


# Rows enough for BLAS GEMMs and their fused epilogues (fewer by constant weights are
# packed kernels, graphjit.lower.packed_matmul, a plan of other steps)
ROWS = blas_rows()


def _mlp():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        with tf.name_scope("layer1"):
            w = tf.constant(np.arange(15, dtype=np.float32).reshape(3, 5), name="w")
            b = tf.constant(np.arange(5, dtype=np.float32), name="b")
            hidden = tf.nn.relu(tf.matmul(x, w) + b, name="hidden")
        with tf.name_scope("layer2"):
            w2 = tf.constant(np.arange(10, dtype=np.float32).reshape(5, 2), name="w")
            logits = tf.matmul(hidden, w2)
        tf.nn.softmax(logits, name="probs")
    return graph


def test_graph_dot_has_every_op_scopes_as_clusters_and_shapes_on_edges():
    graph = _mlp()
    dot = parse_dot(to_dot(graph))
    assert set(dot["nodes"]) == {op.name for op in graph.get_operations()}
    assert dot["clusters"]["cluster_layer1"]["nodes"] == [
        "layer1/w", "layer1/b", "layer1/MatMul", "layer1/add", "layer1/hidden"]
    assert ("x", "layer1/MatMul", "float32[?,3]") in dot["edges"]
    assert ("layer1/MatMul", "layer1/add", "float32[?,5]") in dot["edges"]


def test_function_dot_has_a_cluster_per_kernel_and_concrete_shapes():
    fn = tf.compile(_mlp())
    fn(np.ones((ROWS, 3), np.float32))
    dot = parse_dot(fn.to_dot())
    labels = [c["label"] for c in dot["clusters"].values()]
    assert labels == [f"{k.name} ({k.kind})" for k in fn.kernels]
    for cluster, step in zip(dot["clusters"].values(), fn.kernels):
        assert cluster["nodes"] == list(step.ops)
    computed = {name for step in fn.kernels for name in step.ops}
    assert computed | {"x"} <= set(dot["nodes"])
    edge = {(a, b): label for a, b, label in dot["edges"]}
    assert edge[("x", "layer1/MatMul")] == f"float32[{ROWS},3]"
    # layer1's and layer2's products live at different times: one buffer holds both
    assert "buffer 0 (shared)" in edge[("layer1/MatMul", "layer1/add")]
    assert "buffer 0 (shared)" in edge[("layer2/MatMul", "probs/sub")]


def test_function_dot_before_any_call_needs_no_compile():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [6], name="x")
        tf.reshape(tf.exp(x, name="e"), [2, 3], name="r")
    fn = tf.compile(graph)
    dot = parse_dot(to_dot(fn))
    assert fn._last is None
    assert ("e", "r", "float32[6]") in dot["edges"]
    assert [c["label"] for c in dot["clusters"].values()] == ["fused_exp (kernel)", "r (view)"]


def test_large_graphs_collapse_name_scopes_and_kernels():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4], name="x")
        y = x
        for block in range(3):
            with tf.name_scope(f"block{block}"):
                for _ in range(10):
                    y = tf.exp(y) * 0.5
    dot = parse_dot(to_dot(graph, max_nodes=12))
    assert {"block0/", "block1/", "block2/", "x"} <= set(dot["nodes"])
    assert len(dot["nodes"]) <= 12
    assert "block0/\\n" in dot["nodes"]["block0/"]
    fn = tf.compile(y)
    fn(np.ones(4, np.float32))
    collapsed = parse_dot(fn.to_dot(max_nodes=5))
    assert not collapsed["clusters"] and "step 0" in collapsed["nodes"]


def test_a_graph_too_large_even_collapsed_is_capped_with_a_note():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4], name="x")
        for i in range(20):
            tf.exp(x, name=f"e{i}")
    text = to_dot(graph, max_nodes=5)
    assert len(parse_dot(text)["nodes"]) == 5 and "16 left out" in text


def test_quote_escapes_quotes_backslashes_and_newlines():
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_to_dot_refuses_other_objects():
    with pytest.raises(tf.errors.InvalidArgumentError, match="Graph or a compiled function"):
        to_dot(3)


@needs_dot
def test_svg_renders_with_graphviz():
    graph = _mlp()
    assert "<svg" in graph.svg()
    fn = tf.compile(graph)
    fn(np.ones((2, 3), np.float32))
    svg = fn.svg()
    assert "<svg" in svg and fn.kernels[1].name in svg
    # Graphviz reads our DOT as we mean it: the clusters and nodes we wrote
    done = subprocess.run(["dot", "-Tjson"], input=fn.to_dot().encode(), capture_output=True,
                          check=True)
    objects = json.loads(done.stdout)["objects"]
    names = {o["name"] for o in objects}
    assert {f"cluster_{i}" for i in range(len(fn.kernels))} <= names and "layer1/add" in names


@needs_dot
def test_dot_accepts_awkward_names():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        tf.exp(x, name='odd"name\\here')
    assert 'odd\\"name' in to_dot(graph)
    assert "<svg" in graph.svg()


def test_missing_graphviz_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("no graphviz")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(tf.errors.MissingDependencyError, match=r"graphjit\[graphviz\]"):
        _mlp().svg()
    # and Jupyter's HTML still shows the summary, without a picture
    assert "<svg" not in _mlp()._repr_html_()


def test_reprs_say_what_a_graph_and_a_function_are():
    graph = _mlp()
    assert repr(graph) == ("<graphjit.Graph: 14 ops; inputs: x float32[?,3]; outputs: probs "
                           "float32[?,2]>")
    fn = tf.compile(graph)
    text = repr(fn)
    assert text.startswith("<graphjit.CompiledFunction") and "0x" not in text
    assert "inputs: x float32[?,3]" in text and "outputs: probs float32[?,2]" in text
    assert "plans: 0" in text and fn._last is None  # a repr compiles nothing
    fn(np.ones((ROWS, 3), np.float32))
    text = repr(fn)
    assert f"plans: 1 (latest for x float32[{ROWS},3])" in text
    assert "kernels of the latest plan (4): matmul_layer1_MatMul (extern)" in text


def test_html_reprs_are_self_contained_and_escaped(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)  # (no picture: text only)
    graph = _mlp()
    page = graph._repr_html_()
    assert "graphjit.Graph" in page and "x float32[?,3]" in page and "<script" not in page
    fn = tf.compile(graph)
    fn(np.ones((ROWS, 3), np.float32))
    page = fn._repr_html_()
    assert "<td>fused_add_relu</td><td>kernel</td><td>layer1/add, layer1/hidden</td>" in page
    report = ProfileReport([KernelStats("<b>k&1</b>", "kernel", ("a<b",), calls=2,
                                        total_s=1e-3)], calls=2, wall_s=2e-3)
    page = report._repr_html_()
    assert "&lt;b&gt;k&amp;1&lt;/b&gt;" in page and "a&lt;b" in page and "<b>" not in page


@needs_dot
def test_html_of_a_planned_function_holds_its_picture_inline():
    fn = tf.compile(_mlp())
    fn(np.ones((4, 3), np.float32))
    page = fn._repr_html_()
    assert "<svg" in page and "<?xml" not in page and "<!DOCTYPE" not in page


@needs_dot
def test_without_the_graphviz_package_the_dot_program_draws(monkeypatch):
    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("no graphviz")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    assert "<svg" in _mlp().svg()
