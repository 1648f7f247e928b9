"""A long compiled run stops at Ctrl-C: chunks are short, and Python raises the
KeyboardInterrupt between them (a native call cannot be interrupted inside)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

PROGRAM = """
# (a shell that starts the test run in the background without job control leaves
# SIGINT ignored in every process it starts; a user's Ctrl-C is what is tested)
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
import graphjit as tf
g = tf.Graph()
with g.as_default():
    x = tf.placeholder(tf.float32, [None, 1])
    y = tf.placeholder(tf.float32, [1, None])
    s = tf.reduce_sum(tf.tanh(x + y), axis=1)   # no big buffer, 1.6e11 inner iterations
fn = tf.compile(g, fetches=s)
fn(np.ones((64, 1), np.float32), np.ones((1, 64), np.float32))
print("ready", flush=True)
n = 400_000
fn(np.ones((n, 1), np.float32), np.ones((1, n), np.float32))
print("finished", flush=True)
"""


def test_ctrl_c_stops_a_long_compiled_run():
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        out, err = proc.communicate(timeout=30)
        stopped_after = time.monotonic() - start
    finally:
        proc.kill()
    assert "finished" not in out
    assert "KeyboardInterrupt" in err, err
    assert stopped_after < 5, stopped_after  # the whole run takes minutes; a chunk, ms
