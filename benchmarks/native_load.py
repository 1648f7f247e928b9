"""What a warm start would cost without importing Numba: a measurement for the next step.

A child process compiles a chunked bias-add + relu kernel (the shape of graphjit's
chunked elementwise kernels) with Numba and writes its machine code (the object code
Numba's cache keeps) and its symbol name. Fresh processes then load that object with
llvmlite's MCJIT alone, call the kernel's nopython entry point through ctypes with the
arrays' pointers, shapes and strides (Numba's calling convention: status, return slot,
exception slot, then each array as meminfo, parent, size, itemsize, data, shape, strides),
check the result against NumPy, and report their CPU time, beside a process that imports
Numba and loads the same kernel from Numba's cache.

    python benchmarks/native_load.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

KERNEL = '''
from numba import njit

@njit("void(float32[:, ::1], float32[::1], float32[:, ::1], int64, int64)", nogil=True,
      error_model="numpy", boundscheck=False, cache=True)
def bias_relu(x, b, out, lo, hi):
    for i in range(lo, hi):
        for j in range(x.shape[1]):
            v = x[i, j] + b[j]
            out[i, j] = v if v > 0 else 0.0
'''

DUMP = '''
import kernel
cres = kernel.bias_relu.overloads[kernel.bias_relu.signatures[0]]
with open("kernel.o", "wb") as f:
    f.write(cres.library._get_compiled_object())
with open("kernel.name", "w") as f:
    f.write(cres.fndesc.mangled_name)
'''

INPUTS = '''
x = np.random.default_rng(0).standard_normal((512, 256)).astype(np.float32)
b = np.random.default_rng(1).standard_normal(256).astype(np.float32)
out = np.zeros_like(x)
'''

NATIVE = '''
import time
start = time.process_time()
import ctypes, sys
import numpy as np
import llvmlite.binding as ll
ll.initialize_native_target()
ll.initialize_native_asmprinter()
machine = ll.Target.from_default_triple().create_target_machine(
    cpu=ll.get_host_cpu_name(), features=ll.get_host_cpu_features().flatten(), opt=3,
    codemodel="jitdefault")
engine = ll.create_mcjit_compiler(ll.parse_assembly(""), machine)

@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def never(meminfo):  # the NRT destructor: unreachable, every meminfo passed is NULL
    raise SystemExit("NRT destructor called")

ll.add_symbol("NRT_MemInfo_call_dtor", ctypes.cast(never, ctypes.c_void_p).value)
engine.add_object_file(ll.ObjectFileRef.from_data(open("kernel.o", "rb").read()))
engine.finalize_object()
P, I = ctypes.c_void_p, ctypes.c_int64
arrays = {2: [P, P, I, I, P, I, I, I, I], 1: [P, P, I, I, P, I, I]}
kernel = ctypes.CFUNCTYPE(ctypes.c_int32, P, P, *arrays[2], *arrays[1], *arrays[2], I, I)(
    engine.get_function_address(open("kernel.name").read()))
loaded = time.process_time()
INPUTS
def fields(a):
    return [None, None, a.size, a.itemsize, a.ctypes.data, *a.shape, *a.strides]
status = kernel(ctypes.byref(ctypes.c_int64()), ctypes.byref(ctypes.c_void_p()),
                *fields(x), *fields(b), *fields(out), 0, x.shape[0])
done = time.process_time()
assert status == 0 and np.array_equal(out, np.maximum(x + b, 0)) and "numba" not in sys.modules
print(done - start, loaded - start)
'''.replace("INPUTS", INPUTS)

NUMBA = '''
import time
start = time.process_time()
import numpy as np
import kernel
loaded = time.process_time()
INPUTS
kernel.bias_relu(x, b, out, 0, x.shape[0])
done = time.process_time()
assert np.array_equal(out, np.maximum(x + b, 0)) and kernel.bias_relu.stats.cache_hits
print(done - start, loaded - start)
'''.replace("INPUTS", INPUTS)

NUMPY = '''
import time
start = time.process_time()
import numpy as np
INPUTS
out[...] = np.maximum(x + b, 0)
print(time.process_time() - start, 0.0)
'''.replace("INPUTS", INPUTS)


def fresh(code: str, folder: str) -> list[float]:
    env = dict(os.environ, PYTHONPATH=folder, NUMBA_CACHE_DIR=os.path.join(folder, "numba"))
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"a measured process failed:\n{done.stderr}")
    return [float(v) for v in done.stdout.split()]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="graphjit-native-") as folder:
        with open(os.path.join(folder, "kernel.py"), "w") as f:
            f.write(KERNEL)
        fresh(DUMP, folder)  # compiles, fills Numba's cache, writes the object
        rows = {"NumPy": [], "Numba, warm cache": [], "llvmlite + ctypes, no Numba": []}
        for _ in range(args.repeats):  # interleaved
            for name, code in zip(rows, (NUMPY, NUMBA, NATIVE)):
                rows[name].append(fresh(code, folder))
    print(f"first result in a fresh process, CPU seconds, median of {args.repeats}")
    print(f"  {'':<30} {'total':>7} {'to load':>8}")
    for name, values in rows.items():
        total = statistics.median(v[0] for v in values)
        load = statistics.median(v[1] for v in values)
        print(f"  {name:<30} {total:7.3f} {load:8.3f}")


if __name__ == "__main__":
    main()
