"""While loops on their two compiled paths (graphjit.lower.while_loop): the native driver
(runtime.loop_driver) and the host loop through per-plan runners, each checked against
the reference interpreter, and which path each loop took."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import graphjit as tf
from graphjit.lower import while_loop
from graphjit.lower.control_flow import compiled_loop
from tests.graphjit.error_check import assert_points_here, caller_line


@pytest.fixture
def native_at_once(monkeypatch):
    """Loops get their native driver on their first run (not after 64 iterations)."""
    monkeypatch.setattr(while_loop, "NATIVE_AFTER_ITERATIONS", 0)


def loop_of(graph) -> while_loop.CompiledLoop:
    (op,) = [op for op in graph.get_operations() if op.type == "While"]
    return compiled_loop(op.attrs["cond"], op.attrs["body"])


def paths(graph) -> list:
    """(has a native driver, why not) for each signature the graph's loop met."""
    return [(s.driver is not None, s.why_not) for s in loop_of(graph)._signatures.values()]


def run_both(graph, fetches, feeds):
    """The compiled values, checked against the reference interpreter's."""
    with tf.Session(graph=graph, engine="reference") as sess:
        want = sess.run(fetches, feeds)
    with tf.Session(graph=graph) as sess:
        got = sess.run(fetches, feeds)
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.asarray(w).dtype and np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-6)
    return got


@pytest.fixture(scope="module")
def fused_loop():
    """Four loop variables (int32, float32[5], float64, int64[2]), two captured outer
    tensors, a body of several fused kernels (elementwise and a reduction), and values
    fetched from the loop and after it."""
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        x = tf.placeholder(tf.float32, [5], name="x")
        a = tf.placeholder(tf.float32, [5], name="a")
        b = tf.placeholder(tf.float32, [5], name="b")

        def body(i, v, s, m):
            return (i + 1, tf.tanh(v) * a + b, s + tf.cast(tf.reduce_sum(v * v), tf.float64),
                    m * 3 + tf.cast(i, tf.int64))
        out = tf.while_loop(lambda i, v, s, m: i < n, body,
                            [tf.constant(0), x, tf.constant(0.5, tf.float64),
                             tf.constant([1, -2], tf.int64)])
        fetches = [*out, out[1] * 2.0 + a]
    rng = np.random.default_rng(0)
    arrays = {x: rng.standard_normal(5).astype(np.float32),
              a: rng.standard_normal(5).astype(np.float32),
              b: rng.standard_normal(5).astype(np.float32)}
    return graph, n, fetches, arrays


@pytest.mark.parametrize("steps", [0, 1, 7])
def test_a_loop_of_fused_kernels_runs_natively(native_at_once, fused_loop, steps):
    graph, n, fetches, arrays = fused_loop
    got = run_both(graph, fetches, {**arrays, n: steps})
    assert got[0] == steps
    assert paths(graph) == [(True, None)]


def test_variables_passed_through_swapped_or_set_to_a_captured_tensor(native_at_once):
    """Fibonacci by a swap `(b, a + b)`, a variable returned as it came and one set to an
    outer tensor: results that no kernel writes are copied into the loop's buffers."""
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        w = tf.placeholder(tf.float32, [3], name="w")
        out = tf.while_loop(lambda i, *_: i < n,
                            lambda i, p, q, c, z: (i + 1, q, p + q, c, w + z[0]),
                            [tf.constant(0), tf.constant(0, tf.int64), tf.constant(1, tf.int64),
                             tf.constant([1.5, 2.5]), tf.zeros([3])])
    ws = np.array([1.0, -1.0, 0.25], np.float32)
    for steps, fib in ((0, 0), (1, 1), (2, 1), (10, 55)):
        got = run_both(graph, list(out), {n: steps, w: ws})
        assert got[1] == fib
    assert paths(graph) == [(True, None)]


def test_a_gather_by_the_counter_runs_natively_and_its_errors_name_the_users_line(
        native_at_once):
    """A gather's index check runs in the driver; an index out of range stops it, and
    the host loop runs that iteration again: the error names the While op, the gather
    and the user's line, as on the host."""
    graph = tf.Graph()
    with graph.as_default():
        xs = tf.placeholder(tf.float32, [4, 3], name="xs")
        n = tf.placeholder(tf.int32, [], name="n")
        line = caller_line(); _, best = tf.while_loop(lambda i, v: i < n, lambda i, v: (i + 1, tf.maximum(v, tf.gather(xs, i))), [0, tf.fill([3], -1.0)])  # noqa: E501, E702
    a = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_both(graph, [best], {xs: a, n: 4})[0], a.max(0))
    assert paths(graph) == [(True, None)]
    with tf.Session(graph=graph) as sess, pytest.raises(tf.ShapeError) as info:
        sess.run(best, {xs: a, n: 6})
    assert_points_here(info, "While 'while'", "GatherV2", "index 4 is out of range", line=line)


def test_a_loop_nested_in_the_body_keeps_the_host_loop(native_at_once):
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")

        def body(i, v):
            _, inner = tf.while_loop(lambda j, w: j < i, lambda j, w: (j + 1, w * 0.5),
                                     [tf.constant(0), v])
            return i + 1, inner + 1.0
        out = tf.while_loop(lambda i, v: i < n, body, [tf.constant(0), tf.ones([2])])
    for steps in (0, 4):
        run_both(graph, list(out), {n: steps})
    outer = [op for op in graph.get_operations() if op.type == "While"]
    ((native, why),) = [(s.driver is not None, s.why_not) for s in compiled_loop(
        outer[0].attrs["cond"], outer[0].attrs["body"])._signatures.values()]
    assert not native and "host step" in why


def test_a_cond_inside_the_body_becomes_an_if_in_the_driver(native_at_once):
    """Branches computing, passing a loop variable through, and giving a constant."""
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")

        def body(i, v, w):
            a, b = tf.cond(tf.reduce_sum(v) > 4.0, lambda: (v * 0.5, w),
                           lambda: (v + 1.0, tf.constant([3.0, 4.0])))
            return i + 1, a, b + v
        out = tf.while_loop(lambda i, v, w: i < n, body,
                            [tf.constant(0), tf.ones([2]), tf.zeros([2])])
    for steps in (0, 3, 9):
        run_both(graph, list(out), {n: steps})
    assert paths(graph) == [(True, None)]


def test_a_loop_whose_variable_grows_stays_on_the_host(native_at_once):
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        _, grown = tf.while_loop(lambda i, v: i < n,
                                 lambda i, v: (i + 1, tf.concat([v, v + 1.0], 0)),
                                 [tf.constant(0), tf.constant([1.0])],
                                 shape_invariants=[tf.TensorShape([]), tf.TensorShape([None])])
    got = run_both(graph, [grown], {n: 3})[0]
    np.testing.assert_array_equal(got, [1, 2, 2, 3, 2, 3, 3, 4])
    assert all(not native for native, _ in paths(graph))


def test_the_native_driver_comes_after_enough_host_iterations(fused_loop):
    """A loop run a few times never pays the driver's compile: it runs on the host until
    it ran NATIVE_AFTER_ITERATIONS iterations at one signature, then hands over, in the
    middle of a run if need be."""
    graph, n, fetches, arrays = fused_loop
    loop = loop_of(graph)
    loop._signatures.clear()
    with tf.Session(graph=graph) as sess:
        first = sess.run(fetches, {**arrays, n: 40})
        assert paths(graph) == [(False, None)]
        second = sess.run(fetches, {**arrays, n: 40})  # native from its 25th iteration
        assert paths(graph) == [(True, None)]
        third = sess.run(fetches, {**arrays, n: 40})
    assert loop._signatures[next(iter(loop._signatures))].iterations == 64
    for values in (second, third):
        for f, v in zip(first, values):
            np.testing.assert_array_equal(f, v)


PROGRAM = """
# (a shell that starts the test run in the background without job control leaves
# SIGINT ignored in every process it starts; a user's Ctrl-C is what is tested)
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
import graphjit as tf
g = tf.Graph()
with g.as_default():
    n = tf.placeholder(tf.int64, [])
    _, x = tf.while_loop(lambda i, x: i < n, lambda i, x: (i + 1, x * 0.5 + 1.0),
                         [tf.constant(0, tf.int64), tf.zeros([4])])
fn = tf.compile(x, feeds=[n])
fn(np.int64(100))  # native after 64 iterations
print("ready", flush=True)
fn(np.int64(1 << 60))
print("finished", flush=True)
"""


def test_ctrl_c_stops_a_long_native_loop():
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        out, err = proc.communicate(timeout=30)
        stopped_after = time.monotonic() - start
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in err and "finished" not in out, (out, err)
    assert stopped_after < 5, stopped_after


def test_the_torch_exported_if_while_model_runs_its_loop_natively(native_at_once):
    """tests/onnx/torch_models/control_flow.onnx: an ONNX Loop whose body holds an If."""
    onnx = pytest.importorskip("onnx")
    import graphjit.onnx as gjx
    from graphjit.interpreter import evaluate
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "onnx", "torch_models")
    model = onnx.load(os.path.join(folder, "control_flow.onnx"))
    with np.load(os.path.join(folder, "control_flow.npz"), allow_pickle=False) as data:
        x = data["in_x"]
    graph = gjx.import_model(model)
    compiled = graph.compile()
    for batch in (x, x * 40.0, -x[:1]):
        (want,) = evaluate(list(graph.outputs), {graph.inputs[0]: batch})
        (got,) = compiled(x=batch)
        assert got.shape == want.shape
        # float32 Gemm and ReduceSums, summed in a free order, then carried through the
        # loop's iterations: a few tens of ulps apart, as measured (1.2e-6 seen).
        np.testing.assert_allclose(got, want, rtol=1e-5)
    (op,) = [op for op in graph.outputs[0].graph.get_operations() if op.type == "While"]
    loop = compiled_loop(op.attrs["cond"], op.attrs["body"])
    assert [(s.driver is not None, s.why_not) for s in loop._signatures.values()] == \
        [(True, None), (True, None)]


def test_a_driver_made_again_loads_from_the_disk_cache(native_at_once, fused_loop,
                                                       tmp_path, monkeypatch):
    """The driver's source lies in a content-hashed file of the kernel cache: the same
    loop's driver, made again (as by a fresh process), loads its machine code."""
    from graphjit.lower.while_loop import native_host_step
    from runtime.loop_driver import build_driver
    graph, n, fetches, arrays = fused_loop
    with tf.Session(graph=graph) as sess:
        want = sess.run(fetches[:4], {**arrays, n: 5})
    loop = loop_of(graph)
    by_name = {t.name: v for t, v in arrays.items()}
    values = [np.asarray(0, np.int32), by_name["x:0"], np.asarray(0.5),
              np.asarray([1, -2], np.int64)]
    extra = [np.asarray(5, np.int32), by_name["a:0"], by_name["b:0"]]
    assert any(s.driver is not None for k, s in loop._signatures.items()
               if k == tuple(a.shape for a in values + extra))
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))  # (no other process's files)
    hits = []
    for _ in range(2):
        driver = build_driver(loop.cond.single_plan(values + extra).plan,
                              loop.body.single_plan(values + extra).plan, 4, native_host_step)
        results, finished = driver.run(values, extra)
        assert finished
        for got, w in zip(results, want):
            np.testing.assert_array_equal(got, w)
        hits.append(sum(driver._fn.stats.cache_hits.values()))
    assert hits == [0, 1]


def test_bool_and_empty_variables_a_result_given_twice_and_threads(native_at_once):
    """A bool variable, an empty one, one body result returned for two variables, a cond
    reading a captured flag; four threads running the native loop at once."""
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        flag = tf.placeholder(tf.bool, [], name="flag")

        def body(i, a, b, f, e):
            y = a * 2.0 + b
            return i + 1, y, y, tf.logical_not(f), e
        out = list(tf.while_loop(lambda i, *_: tf.logical_and(i < n, flag), body,
                                 [tf.constant(0), tf.ones([3]), tf.zeros([3]),
                                  tf.constant(True), tf.zeros([0, 2])]))
    for steps, on in ((0, True), (5, True), (5, False)):
        run_both(graph, out, {n: steps, flag: on})
    assert paths(graph) == [(True, None)]
    fn = tf.compile(out, feeds=[n, flag])
    errors = []

    def work(k: int) -> None:
        try:
            for _ in range(50):
                i, a, b, f, _ = fn(np.int32(k), np.bool_(True))
                assert i == k and f == (k % 2 == 0)
                np.testing.assert_array_equal(a, np.full(3, 2.0 * 3.0 ** (k - 1)))
                np.testing.assert_array_equal(a, b)
        except Exception as exc:  # noqa: BLE001 - reported by the test's thread
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(k,)) for k in (3, 4, 7, 8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def _not_jitted(*arrays):
    raise AssertionError("a driver never calls Python")


def test_a_driver_numba_cannot_compile_leaves_the_loop_on_the_host(native_at_once,
                                                                   monkeypatch):
    """A driver whose first call fails to compile (here: a kernel that is plain Python)
    ran nothing: the loop runs on the host, and remembers why."""
    from runtime import loop_driver

    class PlainKernel:
        py_func = _not_jitted

        def __call__(self, *arrays):
            return _not_jitted(*arrays)
    monkeypatch.setattr(loop_driver, "_dispatcher", lambda fn: PlainKernel())
    graph = tf.Graph()
    with graph.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        out = tf.while_loop(lambda i, v: i < n, lambda i, v: (i + 1, v * 3 - 1),
                            [tf.constant(0), tf.constant([1, 2], tf.int64)])
    for steps in (3, 4):
        run_both(graph, list(out), {n: steps})
    ((native, why),) = paths(graph)
    assert not native and "Numba could not compile the loop driver" in why


def test_a_native_run_returns_arrays_no_later_run_writes(native_at_once, fused_loop,
                                                         monkeypatch):
    """The driver keeps the pair's set it did not return for its next run (no np.empty
    per variable): what it returned stays the caller's, and is marked fresh, which
    spares the host step its may-share-memory checks."""
    from runtime.host import Fresh
    graph, n, fetches, arrays = fused_loop
    run_both(graph, fetches, {**arrays, n: 3})
    (seen,) = [s for s in loop_of(graph)._signatures.values() if s.driver is not None]
    returned = []
    run = seen.driver.run
    monkeypatch.setattr(seen.driver, "run", lambda *a: returned.append(run(*a)) or returned[-1])
    for steps in (4, 3, 2):  # even and odd counts of iterations: either set returned
        run_both(graph, fetches, {**arrays, n: steps})
    first = returned[0][0]
    kept = [a.copy() for a in first]
    run_both(graph, fetches, {**arrays, n: 5})
    assert all(type(values) is Fresh and done for values, done in returned)
    assert [int(values[0]) for values, _ in returned] == [4, 3, 2, 5]
    for i, (values, _) in enumerate(returned):
        for other, _ in returned[i + 1:]:
            assert not any(np.shares_memory(a, b) for a in values for b in other)
    for a, k in zip(first, kept):
        np.testing.assert_array_equal(a, k)


def test_a_driver_skips_numba_typing_only_for_the_kinds_it_was_compiled_for(
        native_at_once, fused_loop):
    """After its first call the driver calls its compiled entry point (no per-argument
    typing) where the extra inputs are of the kinds compiled for; others (another
    dtype, a strided array) go through Numba's dispatcher."""
    graph, n, fetches, arrays = fused_loop
    run_both(graph, fetches, {**arrays, n: 2})
    (seen,) = [s for s in loop_of(graph)._signatures.values() if s.driver is not None]
    driver = seen.driver
    entry, kinds = driver._entry
    same = [np.zeros((2,) * ndim, dtype) for dtype, ndim in kinds]
    assert driver._call_for(same) is entry
    other = [np.zeros((2,) * ndim, np.float64 if dtype != np.float64 else np.float32)
             for dtype, ndim in kinds]
    assert driver._call_for(other) is driver._fn
    strided = [np.zeros((4,) * ndim, dtype)[(slice(None, None, 2),) * ndim]
               for dtype, ndim in kinds]
    if any(a.ndim for a in strided):
        assert driver._call_for(strided) is driver._fn
