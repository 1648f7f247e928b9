"""fn.report(): one self-contained HTML page (picture, roofline table, memory, loop IR,
fusion boundaries, timeline) that parses, links nothing outside and escapes every name."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphjit as tf
from graphjit.lower.packed_matmul import blas_rows
from graphjit.viz import report as report_module
from graphjit.viz.timeline import _depths, timeline_svg
from runtime.trace import Span
from tests.graphjit.report_check import HOSTILE_INPUT, HOSTILE_OP, hostile_mlp, parse_page

HAS_DOT = shutil.which("dot") is not None


def _inputs(rows: int | None = None) -> np.ndarray:
    """(Rows enough for BLAS GEMMs, whose boundaries and roofline the page shows: fewer
    by constant weights are packed kernels, graphjit.lower.packed_matmul.)"""
    return np.random.default_rng(1).normal(size=(rows or blas_rows(), 12)).astype(
        np.float32)


def _external(tags) -> list[str]:
    """Attributes that would fetch something: any src, any href but a page anchor."""
    found = []
    for tag, attrs in tags:
        for name, value in attrs.items():
            if name in ("src", "href", "xlink:href", "data") and value \
                    and not value.startswith("#"):
                found.append(f"<{tag} {name}={value}>")
    return found


@pytest.fixture(scope="module")
def page_and_fn(tmp_path_factory):
    fn = tf.compile(hostile_mlp())
    path = tmp_path_factory.mktemp("report") / "report.html"
    page = fn.report(str(path), _inputs(), repeat=3)
    assert path.read_text(encoding="utf-8") == page
    return page, fn


def test_the_page_parses_and_holds_every_section_and_kernel(page_and_fn):
    page, fn = page_and_fn
    parsed = parse_page(page)
    assert not parsed.errors and parsed.stack == []  # every element closed, in order
    text = "".join(parsed.text)
    for step in fn.kernels:
        assert step.name in text
    for heading in ("Plan", "Kernels", "Memory", "Loop IR", "Fusion boundaries", "Timeline"):
        assert f"<h2>{heading}</h2>" in page
    details = [t for t, _ in parsed.tags if t == "details"]
    assert len(details) == len(fn.kernels)  # each kernel's loop IR, collapsible
    assert "% of limit" in text and "compute" in text
    assert "extern-gemm" in text  # fn.explain()'s boundaries
    assert "for i0 in" in text  # loop IR


def test_the_page_is_self_contained_and_runs_no_code(page_and_fn):
    page, _ = page_and_fn
    parsed = parse_page(page)
    tags = {t for t, _ in parsed.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed"}
    assert _external(parsed.tags) == []
    assert "url(" not in page and "@import" not in page
    assert not [a for _, attrs in parsed.tags for a in attrs if a.startswith("on")]


def test_every_user_name_is_escaped(page_and_fn):
    page, _ = page_and_fn
    assert HOSTILE_OP not in page and "<img" not in page
    text = "".join(parse_page(page).text)
    assert HOSTILE_OP in text  # shown as text, in the table, memory and explanations
    assert HOSTILE_INPUT.split(":")[0] in text


def test_the_timeline_draws_each_kernel_of_the_last_runs(page_and_fn):
    page, fn = page_and_fn
    timeline = page[page.index('<section id="timeline">'):]
    for step in fn.kernels:
        assert f"<title>{step.name} (" in timeline
    assert timeline.count("<title>plan run (call)") == report_module.TIMELINE_RUNS


def test_a_report_after_a_call_uses_the_latest_plan(tmp_path):
    fn = tf.compile(hostile_mlp())
    with pytest.raises(tf.Error, match="unknown shape"):
        fn.report()  # no call, no examples, no static shapes: says what to do
    fn(_inputs(5))
    page = fn.report(tmp_path / "r.html", repeat=2)
    assert "float32[5,12]" in page and "zero-filled inputs of the latest call" in page
    assert list(fn._executors) == [((5, 12),)]


def test_without_graphviz_the_page_says_so(monkeypatch):
    monkeypatch.setattr(report_module, "can_render", lambda: False)
    page = tf.compile(hostile_mlp()).report(None, _inputs(), repeat=1)
    plan = page[page.index('<section id="plan">'):page.index('<section id="kernels">')]
    assert "needs Graphviz" in plan and "<svg" not in plan


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot program is not installed")
def test_with_graphviz_the_page_holds_the_plan_picture(page_and_fn):
    page, _ = page_and_fn
    plan = page[page.index('<section id="plan">'):page.index('<section id="kernels">')]
    assert "<svg" in plan and "<?xml" not in plan and "cluster" in plan


def _span(name, start, end, tid=1, category="kernel"):
    return Span(name, category, start, end, tid)


def test_timeline_nests_spans_and_escapes_thread_names():
    run = _span("plan run", 0, 100, category="call")
    inner = [_span("a<b", 10, 40), _span("c", 50, 90)]
    chunk = _span("c", 55, 80, category="chunk")
    helper = _span("c", 52, 85, tid=2, category="chunk")
    assert [d for _, d in _depths([run, *inner, chunk])] == [0, 1, 1, 2]
    svg = timeline_svg([run, *inner, chunk, helper], {1: "Main<T>", 2: "graphjit-0"})
    assert "Main&lt;T&gt;" in svg and "a&lt;b" in svg and "a<b" not in svg
    assert svg.count("<rect") == 5 and parse_page(svg).errors == []
    assert timeline_svg([], {}) == ""
