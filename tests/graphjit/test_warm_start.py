"""A warm start loads cached kernels without Numba's typing and lowering registries
(codegen.numba_cache) and gives bit-identical results to the process that compiled them:
an extern GEMM step, chunked parallel kernels and reductions, each in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import numpy as np
import graphjit as tf
rng = np.random.default_rng(0)
g = tf.Graph()
with g.as_default():
    x = tf.placeholder(tf.float32, [None, 64], name="x")
    w = tf.placeholder(tf.float32, [64, 32], name="w")
    b = tf.placeholder(tf.float32, [32], name="b")
    sm = tf.nn.softmax(tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w), b)))
    gelu = 0.5 * x * (1.0 + tf.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))
    total = tf.reduce_sum(gelu, axis=0) + tf.reduce_max(x, axis=1)[:64]
fn = tf.compile(g, fetches=[sm, gelu, total], feeds=[x, w, b])
inputs = [rng.standard_normal(s).astype(np.float32) for s in [(4096, 64), (64, 32), (32,)]]
outs = fn(*inputs)
print(json.dumps({"outs": [o.tobytes().hex() for o in outs],
                  "loops": fn.ir("loops"),
                  "registries": "numba.np.arraymath" in sys.modules}))
"""


def _run(cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHJIT_", "NUMBA_"))}
    env.update(GRAPHJIT_CACHE_DIR=str(cache), GRAPHJIT_NUM_THREADS="2",
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_warm_start_skips_numba_registries_and_matches_the_compiling_process(tmp_path):
    cold = _run(tmp_path)
    assert "extern matmul" in cold["loops"] and "parallel for" in cold["loops"]
    assert cold["registries"]  # compiling needs them
    warm = _run(tmp_path)
    assert not warm["registries"]
    assert warm["outs"] == cold["outs"]


NATIVE_SCRIPT = """
import json, logging, sys
import numpy as np
import graphjit as tf
from codegen import llvm_direct, warm_start
logging.basicConfig(level=logging.INFO)
warm_start.NATIVE_CALLS = int(sys.argv[1])
if sys.argv[2:] == ["binding"]:  # (as with an llvmlite whose C layer it does not know)
    llvm_direct.ABI_VERSIONS = ()
rng = np.random.default_rng(1)
g = tf.Graph()
with g.as_default():
    x = tf.placeholder(tf.float32, [None, 48], name="x")
    w = tf.placeholder(tf.float32, [48, 16], name="w")
    b = tf.placeholder(tf.float32, [16], name="b")
    h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w), b))
    sm = tf.nn.log_softmax(h)
    loss = tf.reduce_mean(tf.reduce_sum(sm * sm, axis=1))
fn = tf.compile(g, fetches=[sm, loss], feeds=[x, w, b])
inputs = [rng.standard_normal(s).astype(np.float32) for s in [(64, 48), (48, 16), (16,)]]
first = fn(*inputs)
numba_first = "numba" in sys.modules
binding_first = "llvmlite.binding" in sys.modules
again = fn(*inputs)
if warm_start.NATIVE_CALLS == 2:  # (the second call started the thread loading Numba)
    assert warm_start.wait_settled(300)
settled = fn(*inputs)  # (after a switch: the runner calling Numba's entry points)
print(json.dumps({"outs": [o.tobytes().hex() for o in first],
                  "again": [o.tobytes().hex() for o in again],
                  "settled": [o.tobytes().hex() for o in settled],
                  "numba_first": numba_first, "binding_first": binding_first,
                  "numba_after": "numba" in sys.modules}))
"""


def _run_native(cache: Path, native_calls: int, *extra: str) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHJIT_", "NUMBA_"))}
    env.update(GRAPHJIT_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", NATIVE_SCRIPT, str(native_calls), *extra], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def test_a_warm_start_runs_cached_serial_kernels_without_importing_numba(tmp_path):
    cold, _ = _run_native(tmp_path, 1000)
    assert cold["numba_first"]
    entries = sorted((tmp_path / "kernels" / "__pycache__").glob("*.native"))
    assert entries  # written beside Numba's entries
    warm, _ = _run_native(tmp_path, 1000)
    assert not warm["numba_first"] and not warm["numba_after"]
    assert not warm["binding_first"]  # (codegen.llvm_direct linked them)
    assert warm["outs"] == cold["outs"] and warm["again"] == cold["outs"]
    # Through llvmlite.binding instead (an llvmlite llvm_direct does not know): the same
    # entries load, with the same bits.
    bound, _ = _run_native(tmp_path, 1000, "binding")
    assert not bound["numba_first"] and bound["binding_first"]
    assert bound["outs"] == bound["again"] == cold["outs"]
    # After NATIVE_CALLS calls Numba loads on a thread; then kernels run through it: same
    # bits.
    switched, _ = _run_native(tmp_path, 2)
    assert not switched["numba_first"] and switched["numba_after"]
    assert switched["outs"] == switched["again"] == switched["settled"] == cold["outs"]
    # An entry written for another environment, or a corrupt one, is a logged miss:
    # the kernels load through Numba, with the same results.
    for entry in entries:
        entry.write_bytes(entry.read_bytes().replace(b'"env": "', b'"env": "other|', 1))
    foreign, log = _run_native(tmp_path, 1000)
    assert foreign["numba_first"] and foreign["outs"] == cold["outs"]
    assert "native entry of another environment" in log
    for entry in entries:  # back to this environment, calling a symbol nobody has
        entry.write_bytes(entry.read_bytes().replace(b'"env": "other|', b'"env": "', 1)
                          .replace(b'"externals": [', b'"externals": ["gj_no_such", ', 1))
    unlinkable, log = _run_native(tmp_path, 1000)
    assert unlinkable["numba_first"] and unlinkable["outs"] == cold["outs"]
    assert "native code calls gj_no_such, which nothing provides" in log
    for entry in entries:
        entry.write_bytes(b"graphjit-native-1\nnot json")
    corrupt, log = _run_native(tmp_path, 1000)
    assert corrupt["numba_first"] and corrupt["outs"] == cold["outs"]
    assert "unreadable native entry" in log
