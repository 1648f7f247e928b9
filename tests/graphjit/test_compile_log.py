"""Compile logs (graphjit.compile / recompile / cache, GRAPHJIT_LOG, set_log) and the
progress line of a long compile. Each graph holds a constant no other test uses (UNUSUAL
added), so its kernel is new to the process: the first compile in a cold cache misses
whatever ran before."""

from __future__ import annotations

import json
import logging
import shutil
from collections import OrderedDict
from weakref import WeakValueDictionary

import numpy as np
import pytest

import graphjit as tf
from codegen import numba_backend
from graphjit import compile_log, compile_progress


@pytest.fixture(autouse=True)
def logs_off(monkeypatch):
    """No compile log or progress line unless a test asks; none left on after it."""
    for name in ("GRAPHJIT_LOG", "GRAPHJIT_PROGRESS"):
        monkeypatch.delenv(name, raising=False)
    compile_log.reset()
    yield
    compile_log.reset()


@pytest.fixture
def cold_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    return tmp_path


def forget_compiled_kernels(monkeypatch) -> None:
    """This process forgets the kernels it holds: the next compile asks the disk cache."""
    monkeypatch.setattr(numba_backend, "_live", WeakValueDictionary())
    monkeypatch.setattr(numba_backend, "_recent", OrderedDict())


UNUSUAL = 0.000123


def scaled_tanh(constant: float):
    """y = tanh(x * constant): one kernel, whose structure the constant makes unique."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.tanh(x * (constant + UNUSUAL), name="y")
    return graph, x, y


def batch(n: int) -> np.ndarray:
    return np.ones((n, 3), np.float32)


def messages(caplog, kind: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == f"graphjit.{kind}"]


def test_recompile_names_the_input_whose_shape_changed_and_both_shapes(caplog):
    caplog.set_level(logging.INFO, logger="graphjit.recompile")
    graph, x, y = scaled_tanh(1.25)
    fn = tf.compile(graph, fetches=y)
    fn(batch(2))
    fn(batch(2))  # a plan that exists: nothing logged
    fn(batch(5))
    logged = messages(caplog, "recompile")
    assert len(logged) == 2
    assert "new plan 1 for 'y:0' at x[2,3]: first call" in logged[0]
    assert "new plan 2 for 'y:0' at x[5,3]: new input shapes: x [2,3] -> [5,3]" in logged[1]


def test_cache_miss_on_first_compile_then_hits_in_memory_and_on_disk(cold_cache, caplog,
                                                                     monkeypatch):
    caplog.set_level(logging.INFO, logger="graphjit.cache")
    graph, x, y = scaled_tanh(1.5)
    first = tf.compile(graph, fetches=y)
    first(batch(2))
    second = tf.compile(graph, fetches=y)  # a fresh function: same kernel structure
    second(batch(2))
    forget_compiled_kernels(monkeypatch)
    third = tf.compile(graph, fetches=y)
    third(batch(2))
    logged = messages(caplog, "cache")
    assert len(logged) == 3
    assert "cache miss: new kernel structure" in logged[0] and "(mul, y)" in logged[0]
    assert "cache hit (in memory)" in logged[1]
    assert "cache hit (disk)" in logged[2]
    assert [p.as_dict()["misses"] for fn in (first, second, third)
            for p in fn.cache_info()] == [1, 0, 0]
    assert third.cache_info()[0].disk_hits == 1


def test_miss_reasons_compilers_changed_corrupt_entry_and_no_cache(cold_cache, caplog,
                                                                   monkeypatch):
    caplog.set_level(logging.INFO, logger="graphjit.cache")
    graph, x, y = scaled_tanh(1.75)
    tf.compile(graph, fetches=y)(batch(2))
    # As if the cache had been written by another Numba: its record of the environment
    # says so, and the kernel file (named after the old versions) is not found.
    (record,) = (cold_cache / "kernels" / "environments").iterdir()
    environment = json.loads(record.read_text())
    environment["numba"] = "0.0.1"
    record.write_text(json.dumps(environment))
    for source in (cold_cache / "kernels").glob("k*.py"):
        source.unlink()
    shutil.rmtree(cold_cache / "kernels" / "__pycache__")
    forget_compiled_kernels(monkeypatch)
    tf.compile(graph, fetches=y)(batch(2))
    assert f"compilers or CPU changed: numba 0.0.1 -> {__import__('numba').__version__}" \
        in messages(caplog, "cache")[-1]

    (source,) = (cold_cache / "kernels").glob("k*.py")
    source.write_text("# not the kernel this name promises\n")
    forget_compiled_kernels(monkeypatch)
    with pytest.warns(UserWarning, match="corrupt"):
        tf.compile(graph, fetches=y)(batch(2))
    assert "cache miss: corrupt cache entry, rewritten" in messages(caplog, "cache")[-1]

    monkeypatch.setenv("GRAPHJIT_NO_CACHE", "1")
    forget_compiled_kernels(monkeypatch)
    tf.compile(graph, fetches=y)(batch(2))
    assert "cache miss: GRAPHJIT_NO_CACHE is set" in messages(caplog, "cache")[-1]


def test_compile_log_lists_kernels_their_ops_and_seconds(cold_cache, caplog):
    caplog.set_level(logging.INFO, logger="graphjit.compile")
    graph, x, y = scaled_tanh(2.25)
    tf.compile(graph, fetches=y)(batch(4))
    logged = messages(caplog, "compile")
    assert logged[0].startswith("optimized the graph of 'y:0'")
    assert logged[1] == ("1 kernel for the plan computing 'y:0' from x:0 float32[4,3]: "
                         "fused_mul_tanh (mul, y)")
    ready = logged[-1]
    assert ready.startswith("plan 1 for 'y:0' at x[4,3] ready in ")
    assert "1 kernel, 1 compiled in" in ready and "0 cache hits" in ready


def test_an_evicted_plan_is_logged_and_its_rebuild_says_why(caplog):
    caplog.set_level(logging.INFO, logger="graphjit.recompile")
    graph, x, y = scaled_tanh(2.5)
    fn = tf.compile(graph, fetches=y, max_plans=2)
    for n in (1, 2, 3, 1):
        fn(batch(n))
    logged = messages(caplog, "recompile")
    assert "plan for 'y:0' at x[1,3] evicted: max_plans=2 reached" in logged[3]
    assert logged[4].startswith("new plan 4 for 'y:0' at x[1,3]: rebuilt after eviction: "
                                "plan 1 for these shapes was dropped (max_plans=2)")


def test_rank_specializations_and_new_session_fetches_say_so(caplog):
    caplog.set_level(logging.INFO, logger="graphjit.recompile")
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, name="x")  # no shape: specialized per fed rank
        y = tf.sin(x * (2.75 + UNUSUAL), name="y")
        z = tf.cos(x * (2.75 + UNUSUAL), name="z")
    fn = tf.compile(graph, fetches=y)
    fn(np.ones(3, np.float32))
    fn(np.ones((2, 3), np.float32))
    logged = messages(caplog, "recompile")
    assert "new compiled function for 'y:0': rank specialization for x rank 1" in logged[0]
    assert ("rank specialization for x rank 2 (the previous call's: x rank 1)"
            in logged[2])
    info = fn.cache_info()
    assert [(p.specialization, p.inputs) for p in info] == [
        ("x rank 1", (("x", (3,)),)), ("x rank 2", (("x", (2, 3)),))]
    assert "x rank 2 #1" in str(info)

    caplog.clear()
    with tf.Session(graph=graph) as sess:
        sess.run(y, {x: np.ones(3, np.float32)})
        sess.run(z, {x: np.ones(3, np.float32)})
    assert sum("a Session.run of fetches and feeds this session had not run" in m
               for m in messages(caplog, "recompile")) == 2


def test_a_new_jit_trace_says_what_it_was_traced_for(caplog):
    caplog.set_level(logging.INFO, logger="graphjit.recompile")

    @tf.jit
    def scaled(x, factor):
        return tf.sin(x * (factor + UNUSUAL))
    scaled(np.ones(3, np.float32), 5.5)
    scaled(np.ones(3, np.float64), 5.5)
    logged = [m for m in messages(caplog, "recompile") if "new compiled function" in m]
    assert [m.split(": ", 1)[1] for m in logged] == [
        "@jit scaled traced for x float32 rank 1, factor=5.5",
        "@jit scaled traced for x float64 rank 1, factor=5.5"]


def test_set_log_prints_chosen_kinds_to_stderr_and_none_switches_off(capsys):
    graph, x, y = scaled_tanh(3.25)
    fn = tf.compile(graph, fetches=y)
    assert tf.set_log("recompile") == ("recompile",)
    fn(batch(2))
    err = capsys.readouterr().err
    assert "[graphjit.recompile] new plan 1 for 'y:0' at x[2,3]: first call" in err
    assert "[graphjit.compile]" not in err and "[graphjit.cache]" not in err
    assert tf.set_log(["compile", "cache"]) == ("compile", "cache")
    fn(batch(3))
    err = capsys.readouterr().err
    assert "[graphjit.cache]" in err and "[graphjit.compile]" in err
    assert "[graphjit.recompile]" not in err
    tf.set_log(None)
    fn(batch(4))
    assert capsys.readouterr().err == ""


def test_graphjit_log_parsing():
    assert compile_log.parse_kinds("compile, cache") == ("compile", "cache")
    assert compile_log.parse_kinds("all") == ("compile", "recompile", "cache")
    assert compile_log.parse_kinds("RECOMPILE,recompile") == ("recompile",)
    for off in (None, "", "0", "none", "off"):
        assert compile_log.parse_kinds(off) == ()
    with pytest.raises(tf.InvalidArgumentError,
                       match="unknown compile log 'plans'; choose from compile, recompile, "
                             "cache or all"):
        compile_log.parse_kinds("compile,plans")
    with pytest.raises(tf.InvalidArgumentError, match="unknown compile log"):
        tf.set_log("verbose")


def test_graphjit_log_environment_applies_and_warns_of_unknown_words(monkeypatch, capsys):
    graph, x, y = scaled_tanh(3.5)
    monkeypatch.setenv("GRAPHJIT_LOG", "recompile,plans")
    with pytest.warns(UserWarning, match="GRAPHJIT_LOG: unknown compile log 'plans'; "
                                         "choose from compile, recompile, cache or all"):
        fn = tf.compile(graph, fetches=y)
    fn(batch(2))
    assert "[graphjit.recompile] new plan 1" in capsys.readouterr().err
    monkeypatch.setenv("GRAPHJIT_LOG", "0")  # read again when the next plan is built
    fn(batch(3))
    assert capsys.readouterr().err == ""


def test_a_call_with_a_plan_never_touches_logging(monkeypatch):
    graph, x, y = scaled_tanh(3.75)
    fn = tf.compile(graph, fetches=y)
    fn(batch(2))
    fn(batch(3))

    def touched(*args, **kwargs):
        raise AssertionError("logging reached from a call that has its plan")
    monkeypatch.setattr(compile_log, "apply_environment", touched)
    monkeypatch.setattr(logging.Logger, "isEnabledFor", touched)
    for n in (2, 3, 2):
        assert fn(batch(n)).shape == (n, 3)


def test_progress_forced_by_environment_goes_to_stderr(monkeypatch, capsys):
    graph, x, y = scaled_tanh(4.25)
    monkeypatch.setenv("GRAPHJIT_PROGRESS", "1")
    tf.set_log("cache")
    tf.compile(graph, fetches=y)(batch(2))
    err = capsys.readouterr().err
    assert "\rgraphjit: compiling kernel 1/1 fused_mul_tanh" in err
    assert err.endswith("\n") and "graphjit: compiled 1/1 kernels in" in err
    # The log record did not land after the progress text: its line starts clean.
    (line,) = [part for part in err.split("\n") if "[graphjit.cache]" in part]
    assert line.split("\r")[-1].startswith("[graphjit.cache] fused_mul_tanh")

    monkeypatch.setenv("GRAPHJIT_PROGRESS", "0")
    tf.set_log(None)
    tf.compile(graph, fetches=y)(batch(3))
    assert capsys.readouterr().err == ""


class _Terminal:
    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_progress_shows_on_a_terminal_only_after_a_while(monkeypatch):
    for tty in (True, False):
        stream = _Terminal(tty)
        progress = compile_progress.CompileProgress(2, stream)
        progress.starting("first")  # under PROGRESS_AFTER: nothing yet
        progress.finished_one()
        assert stream.text == ""
        monkeypatch.setattr(compile_progress, "PROGRESS_AFTER", 0.0)
        progress.starting("second")
        progress.finished_one()
        progress.finish()
        monkeypatch.undo()
        if tty:
            assert stream.text.startswith("\rgraphjit: compiling kernel 2/2 second (")
            assert "graphjit: compiled 2/2 kernels in" in stream.text
            assert stream.text.endswith("\n")
        else:
            assert stream.text == ""  # never on a stream that is not a terminal


def test_cache_info_after_several_shapes(cold_cache):
    graph, x, y = scaled_tanh(4.5)
    fn = tf.compile(graph, fetches=y)
    for n in (2, 3, 2, 4):
        fn(batch(n))
    info = fn.cache_info()
    data = info.as_dicts()
    assert [d["inputs"] for d in data] == [{"x": [2, 3]}, {"x": [3, 3]}, {"x": [4, 3]}]
    assert [d["why"] for d in data] == ["first call", "new input shapes", "new input shapes"]
    # (the shapes of the call before: 2, not 3)
    assert data[1]["detail"] == "x [2,3] -> [3,3]" and data[2]["detail"] == "x [2,3] -> [4,3]"
    assert [(d["kernels"], d["misses"], d["cache_hits"]) for d in data] == [
        (1, 1, 0), (1, 0, 1), (1, 0, 1)]
    assert data[0]["kernel_records"][0]["reason"] == "new kernel structure"
    assert data[0]["compile_seconds"] > 0 and not any(d["evicted"] for d in data)
    totals = info.totals
    assert (totals["plans"], totals["kept"], totals["kernels"], totals["misses"],
            totals["memory_hits"]) == (3, 3, 3, 1, 2)
    text = str(info)
    assert text.startswith("3 plans of the function computing 'y:0': 3 kept (max_plans 64)")
    assert "x[3,3]" in text and "new input shapes: x [2,3] -> [3,3]" in text
    assert "total: 3 kernels, 2 cache hits (2 in memory, 0 from disk), 1 compiled" in text


def test_cache_info_after_eviction_keeps_a_bounded_history():
    graph, x, y = scaled_tanh(4.75)
    fn = tf.compile(graph, fetches=y, max_plans=2)
    for n in (1, 2, 3, 1):
        fn(batch(n))
    data = fn.cache_info().as_dicts()
    assert [(d["plan"], d["inputs"]["x"][0], d["evicted"]) for d in data] == [
        (1, 1, True), (2, 2, True), (3, 3, False), (4, 1, False)]
    assert data[3]["why"] == "rebuilt after eviction"
    assert "(evicted)" in str(fn.cache_info())
    for n in (5, 6, 7):
        fn(batch(n))
    data = fn.cache_info().as_dicts()  # kept plans, and as many evicted ones
    assert [(d["plan"], d["evicted"]) for d in data] == [
        (4, True), (5, True), (6, False), (7, False)]
    assert fn.cache_info().totals["evicted"] == 2


def test_cache_info_of_a_function_planned_in_stages():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        y = tf.boolean_mask(x, x > 0.0) * (5.25 + UNUSUAL)  # a size known only as it runs
    fn = tf.compile(y)
    fn(np.array([1, -1, 2], np.float32))
    info = fn.cache_info()
    assert [(p.specialization, p.number, p.why) for p in info] == [
        ("stage 1", 1, "first call"), ("stage 2", 1, "first call")]
    assert dict(info[1].inputs)["boolean_mask"] == (2,)
    assert "stage 2 #1" in str(info)


def test_a_plan_made_to_answer_fn_kernels_says_so():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [2, 3], name="x")
        tf.cos(x * (5.75 + UNUSUAL), name="y")
    fn = tf.compile(graph)
    assert fn.kernels  # before any call: planned for the static shapes
    fn(np.ones((2, 3), np.float32))  # the same shapes: no new plan
    assert [(p.why, p.inputs) for p in fn.cache_info()] == [
        ("inspection before any call", (("x", (2, 3)),))]
