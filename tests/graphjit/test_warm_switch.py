"""A warm start imports Numba only once a process calls its kernels again and again, on
a background thread (codegen.warm_start): calls made meanwhile run natively without
waiting for it, and the results keep the same bits across the switch. Each check runs
in a fresh process over one kernel cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys, threading
import numpy as np
import graphjit as tf
from codegen import warm_start
rng = np.random.default_rng(2)
g = tf.Graph()
with g.as_default():
    x = tf.placeholder(tf.float32, [None, 40], name="x")
    w = tf.placeholder(tf.float32, [40, 12], name="w")
    h = tf.nn.relu(tf.matmul(x, w) + 0.5)
    loss = tf.reduce_mean(tf.nn.log_softmax(h))
fn = tf.compile(g, fetches=[h, loss], feeds=[x, w])
inputs = [rng.standard_normal(s).astype(np.float32) for s in [(32, 40), (40, 12)]]
bits = lambda outs: [o.tobytes().hex() for o in outs]
first = bits(fn(*inputs))
if sys.argv[1] == "exit":  # leave while the thread imports Numba
    warm_start.start_settling()
    print(json.dumps({"first": first}))
    raise SystemExit
report = {"first": first, "warm": bool(warm_start._pending)}
if report["warm"]:
    gate = threading.Event()
    for kernel in list(warm_start._pending):
        kernel._load = (lambda load: lambda: gate.wait(60) and load())(kernel._load)
    for _ in range(warm_start.NATIVE_CALLS - 2):
        assert bits(fn(*inputs)) == first
    report["numba_before"] = "numba" in sys.modules or warm_start.settling()
    calls = [bits(fn(*inputs)) for _ in range(5)]  # the thread starts, held at the gate
    report["native_meanwhile"] = warm_start.settling() and calls == [first] * 5
    gate.set()
    report["settled"] = warm_start.wait_settled(120)
    report["after"] = [bits(fn(*inputs)) for _ in range(3)]
    report["numba_after"] = "numba" in sys.modules
print(json.dumps(report))
"""


def _run(cache: Path, mode: str = "calls") -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHJIT_", "NUMBA_"))}
    env.update(GRAPHJIT_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def test_numba_loads_in_the_background_after_repeated_calls_with_the_same_bits(tmp_path):
    cold, _ = _run(tmp_path)
    assert not cold["warm"]  # compiling imports Numba: no native entries to run
    warm, _ = _run(tmp_path)
    assert warm["warm"] and warm["first"] == cold["first"]
    assert not warm["numba_before"]  # fewer calls than NATIVE_CALLS: no Numba at all
    assert warm["native_meanwhile"]  # calls did not wait for the held thread
    assert warm["settled"] and warm["numba_after"]
    assert warm["after"] == [cold["first"]] * 3


def test_a_process_may_exit_while_the_thread_imports_numba(tmp_path):
    cold, _ = _run(tmp_path)
    leaving, log = _run(tmp_path, "exit")
    assert leaving["first"] == cold["first"]
    assert "Fatal" not in log and "Traceback" not in log
