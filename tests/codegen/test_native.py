"""codegen.native's environment key is computed without importing Numba and must agree
with what the installed packages say (a wrong version would reuse stale machine code)."""

import importlib.metadata as md
import os
import subprocess
import sys
from pathlib import Path

from codegen import native

ROOT = Path(__file__).resolve().parents[2]


def test_distribution_versions_agree_with_importlib_metadata():
    for name in ("numba", "llvmlite", "numpy", "graphjit"):
        try:
            expected = md.version(name)
        except md.PackageNotFoundError:
            expected = "unknown"
        assert native.distribution_version(name) == expected
    assert native.distribution_version("no_such_distribution_here") == "unknown"
    names = ("numba", "llvmlite", "numpy", "graphjit", "no_such_distribution_here")
    assert native.distribution_versions(names) == {
        name: native.distribution_version(name) for name in names}


def test_the_cpu_override_numba_reads_changes_the_key(monkeypatch):
    key = native.environment_key()
    monkeypatch.setattr(native, "_ENV", None)
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    assert native.environment()[1].startswith("generic|")
    assert native.environment_key() != key


def test_the_direct_llvm_calls_agree_with_llvmlite_binding():
    """codegen.llvm_direct names the CPU and its features as llvmlite.binding does: the
    cache keys a warm start computes without the binding match the compiling process's.
    (A fresh process: the direct path is not taken once the binding is imported.)"""
    code = """
import sys
from codegen import llvm_direct, native
versions, cpu = native.environment()
lib = llvm_direct.library(versions["llvmlite"])
assert lib is not None and "llvmlite.binding" not in sys.modules, sys.modules.keys()
from llvmlite import binding as ll
assert cpu == ll.get_host_cpu_name() + "|" + ll.get_host_cpu_features().flatten(), cpu
llvm_direct.initialize(lib, {"gj_probe_symbol": 4096})
assert llvm_direct.address_of_symbol(lib, "gj_probe_symbol") == 4096
assert ll.address_of_symbol("gj_probe_symbol") == 4096  # (one LLVM in the process)
assert llvm_direct.address_of_symbol(lib, "gj_no_such_symbol") == 0
assert llvm_direct.library(versions["llvmlite"]) is lib  # (decided once)
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_only_llvmlite_versions_whose_c_layer_is_known_are_called_directly(monkeypatch):
    from codegen import llvm_direct
    monkeypatch.setattr(llvm_direct, "ABI_VERSIONS", ("0.50",))
    assert llvm_direct.knows("0.50.0") and llvm_direct.knows("0.50.1rc1")
    assert not llvm_direct.knows("0.51.0") and not llvm_direct.knows("0.5")
    assert llvm_direct._open("0.99.0") is None
