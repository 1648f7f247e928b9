"""codegen.numba_cache loads machine code without refreshing Numba's registries only when
every symbol it calls is registered; a foreign or older entry is a miss, not a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from codegen import numba_cache

ROOT = Path(__file__).resolve().parents[2]

MODULE = """
import numpy as np
from numba import prange
from codegen.numba_cache import njit

@njit("float64(float64[::1])", parallel=True)
def total_exp(x):
    s = 0.0
    for i in prange(x.shape[0]):
        s += np.exp(x[i])
    return s
"""

USE = """
import sys
import numpy as np
import prange_kernel
x = np.linspace(0.0, 1.0, 10001)
print(repr(prange_kernel.total_exp(x)), prange_kernel.total_exp.stats.cache_hits.total() > 0,
      "numba.np.arraymath" in sys.modules)
"""


def _run(folder: Path, cache: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHJIT_", "NUMBA_"))}
    env.update(GRAPHJIT_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([str(folder), str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", USE], env=env, cwd=folder,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_prange_function_loads_warm_with_its_thread_pool_and_same_result(tmp_path):
    (tmp_path / "prange_kernel.py").write_text(MODULE)
    value, hit, _ = _run(tmp_path, tmp_path / "cache")
    assert hit == "False"
    warm_value, warm_hit, registries = _run(tmp_path, tmp_path / "cache")
    assert (warm_value, warm_hit, registries) == (value, "True", "False")


def test_a_symbol_nothing_provides_is_reported_missing():
    assert numba_cache.missing_symbols(["PyErr_Clear", "graphjit_no_such_symbol"]) == [
        "graphjit_no_such_symbol"]


def test_an_entry_in_numba_s_own_format_is_a_miss(monkeypatch, tmp_path):
    from numba.core.registry import cpu_target

    def kernel(x):
        return x

    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(numba_cache.IndexDataCacheFile, "load",
                        lambda self, key: ("libdata", "fndesc", "env"))  # Numba's tuple
    cache = numba_cache._Cache(kernel)
    assert cache.load_overload("float64(float64)", cpu_target.target_context) is None


def test_an_entry_calling_an_unprovided_symbol_refreshes_once_then_is_a_miss(monkeypatch,
                                                                             tmp_path):
    from numba.core.registry import cpu_target

    def kernel(x):
        return x

    payload = (None,) * 7 + ([],) + ((),)  # CompileResult._reduce's shape, no reload_init
    entry = {"format": numba_cache._FORMAT, "symbols": ["graphjit_no_such_symbol"],
             "numba": payload}
    refreshed, rebuilt = [], []
    context = cpu_target.target_context
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(numba_cache.IndexDataCacheFile, "load", lambda self, key: entry)
    monkeypatch.setattr(context, "refresh", lambda: refreshed.append(1))
    cache = numba_cache._Cache(kernel)
    monkeypatch.setattr(cache._impl, "rebuild", lambda *a: rebuilt.append(1))
    assert cache.load_overload("float64(float64)", context) is None
    assert refreshed == [1] and rebuilt == []
    entry["symbols"] = ["PyErr_Clear"]
    cache.load_overload("float64(float64)", context)
    assert refreshed == [1] and rebuilt == [1]  # provided: rebuilt without a refresh
