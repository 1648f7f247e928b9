"""Numba and llvmlite load on the first compile, not on `import graphjit`: building a
graph, running it on the reference interpreter, lowering it to loop IR and saving a
checkpoint cost no backend start-up. Each check runs in a fresh interpreter."""

import os
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent

CHECK = """
import sys
assert 'numba' not in sys.modules and 'llvmlite' not in sys.modules, 'before: ' + {where!r}
{body}
loaded = [m for m in ('numba', 'llvmlite') if m in sys.modules]
assert not loaded, f'{{loaded}} imported by: ' + {where!r}
print('ok')
"""


def _run_fresh(where: str, body: str) -> None:
    code = CHECK.format(where=where, body=textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_import_graphjit_does_not_import_numba():
    _run_fresh("import graphjit", "import graphjit")


def test_reference_interpreter_and_loop_ir_do_not_import_numba(tmp_path):
    _run_fresh("a graph run by the reference interpreter, its loop IR, a checkpoint", f"""
        import numpy as np
        import graphjit as tf
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [None, 3], name="x")
            w = tf.Variable(np.ones((3, 2), np.float32), name="w")
            y = tf.nn.relu(tf.matmul(x, w) + 1.0, name="y")
            init = tf.global_variables_initializer()
            saver = tf.train.Saver()
        with tf.Session(graph=g, engine="reference") as sess:
            sess.run(init)
            out = sess.run(y, {{x: np.ones((2, 3), np.float32)}})
            assert out.shape == (2, 2) and np.allclose(out, 4.0)
            saver.save(sess, {str(tmp_path / "model")!r})
        fn = tf.compile(g, fetches=y, feeds=[x])
        assert "for " in fn.ir("loops", shapes=[(2, 3)])
    """)


def test_first_compile_imports_numba(tmp_path):
    """The lazy import still happens where it must: a compiled call loads Numba (with an
    empty kernel cache: a cached kernel runs from its native entry without Numba)."""
    code = """
import sys
import numpy as np
import graphjit as tf
g = tf.Graph()
with g.as_default():
    a = tf.placeholder(tf.float32, [4], name="a")
    tf.add(a * a, 1.0, name="y")
out = tf.compile(g)(np.arange(4, dtype=np.float32))
assert np.array_equal(out, np.arange(4, dtype=np.float32) ** 2 + 1)
assert 'numba' in sys.modules
print('ok')
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRAPHJIT_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_scaffolding_namespaces_load_when_first_asked():
    """Saving, training, summaries, pictures and TF1's app scaffolding are not imported by
    `import graphjit` (a first call never needs them), yet every name still resolves, on
    graphjit and on graphjit.compat.v1, to the very object its module defines."""
    _run_fresh("import graphjit; the lazy names", """
        import graphjit as tf
        lazy = ('graphjit.io', 'graphjit.train', 'graphjit.summary', 'graphjit.viz',
                'graphjit.app', 'graphjit.flags', 'graphjit.gfile', 'argparse',
                'graphjit.layers', 'graphjit.rnn')
        assert not [m for m in lazy if m in sys.modules], [m for m in lazy if m in sys.modules]
        import graphjit.compat.v1 as v1
        import graphjit.io
        assert tf.load is graphjit.io.load and v1.save is graphjit.io.save
        assert tf.LoadedGraph is graphjit.io.LoadedGraph
        assert tf.train.AdamOptimizer.__module__.startswith('graphjit.train')
        assert v1.flags is tf.flags and tf.app.flags is tf.flags
        assert callable(tf.gfile.Exists) and hasattr(tf.summary, 'FileWriter')
        assert {'load', 'train', 'viz', 'layers'} <= set(dir(tf))
        import graphjit.layers
        import graphjit.rnn.loops
        import graphjit.rnn.rnn_cell
        assert tf.layers is graphjit.layers and v1.layers is tf.layers
        assert tf.nn.dynamic_rnn is graphjit.rnn.loops.dynamic_rnn
        assert v1.nn.static_bidirectional_rnn is graphjit.rnn.loops.static_bidirectional_rnn
        assert tf.nn.rnn_cell is graphjit.rnn.rnn_cell and tf.nn.rnn_cell.LSTMCell
        assert {'rnn_cell', 'dynamic_rnn', 'relu'} <= set(dir(tf.nn))
        try:
            tf.no_such_name
        except tf.UnsupportedNameError:
            pass
        else:
            raise AssertionError('an unknown name did not raise UnsupportedNameError')
    """)


def test_import_graphjit_leaves_the_collector_as_it_found_it():
    """The import's objects skip young collections (codegen.long_lived), but the
    collector's on/off state and a program's own frozen objects are untouched."""
    _run_fresh("import graphjit with the collector off, then on with frozen objects", """
        import gc
        gc.disable()
        import graphjit
        assert not gc.isenabled() and gc.get_freeze_count() == 0
        del sys.modules['graphjit']
        gc.enable()
        kept = [object() for _ in range(10)] + [[] for _ in range(10)]
        gc.freeze()
        frozen = gc.get_freeze_count()
        import graphjit
        assert gc.isenabled() and gc.get_freeze_count() >= frozen
    """)


def test_feature_lowerings_load_when_first_used(tmp_path):
    """Control flow's and convolution's lowerings and the runtime's loop and plan drivers
    are not imported by `import graphjit` (ops register them through
    graphjit.lower.deferred); a graph using them loads them when lowered and runs as
    the reference interpreter does."""
    code = """
import sys
import numpy as np
import graphjit as tf
lazy = ('graphjit.lower.control_flow', 'graphjit.lower.while_loop',
        'graphjit.lower.while_stack', 'graphjit.lower.conv_lowering',
        'runtime.loop_driver', 'runtime.plan_driver', 'runtime.stack_driver')
assert not [m for m in lazy if m in sys.modules], [m for m in lazy if m in sys.modules]
g = tf.Graph()
with g.as_default():
    x = tf.placeholder(tf.float32, [1, 5, 5, 2], name="x")
    w = tf.constant(np.linspace(-1, 1, 36, dtype=np.float32).reshape(3, 3, 2, 2))
    c = tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME")
    s = tf.reduce_sum(c)
    y = tf.cond(s > 0, lambda: c * 2.0, lambda: c - 1.0)
    _, z = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 0.5 + 1.0),
                         [tf.constant(0), y])
feed = np.random.default_rng(0).standard_normal((1, 5, 5, 2)).astype(np.float32)
got = tf.compile(g, fetches=z, feeds=[x])(feed)
with tf.Session(graph=g, engine="reference") as sess:
    want = sess.run(z, {x: feed})
np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
assert {'graphjit.lower.control_flow', 'graphjit.lower.conv_lowering'} <= set(sys.modules)
print('ok')
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRAPHJIT_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
