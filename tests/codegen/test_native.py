"""codegen.native's environment key is computed without importing Numba and must agree
with what the installed packages say (a wrong version would reuse stale machine code)."""

import importlib.metadata as md

from codegen import native


def test_distribution_versions_agree_with_importlib_metadata():
    for name in ("numba", "llvmlite", "numpy", "graphjit"):
        try:
            expected = md.version(name)
        except md.PackageNotFoundError:
            expected = "unknown"
        assert native.distribution_version(name) == expected
    assert native.distribution_version("no_such_distribution_here") == "unknown"


def test_the_cpu_override_numba_reads_changes_the_key(monkeypatch):
    key = native.environment_key()
    monkeypatch.setattr(native, "_ENV", None)
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    assert native.environment()[1].startswith("generic|")
    assert native.environment_key() != key
