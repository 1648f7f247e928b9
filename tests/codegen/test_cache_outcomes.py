"""How the kernel cache found a source (codegen.cache.source_file) and what compile_kernel
reports of each kernel (codegen.numba_backend.recording_outcomes): the reasons graphjit's
compile logs give."""

from __future__ import annotations

import json
from collections import OrderedDict
from weakref import WeakValueDictionary

import pytest

from codegen import cache, numba_backend
from tests.codegen.test_backend import add_exp_kernel


def test_source_file_says_new_cached_or_moved_on(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    source = "x = 1  # outcomes\n"
    first = cache.source_file(source)
    assert first.how == cache.NEW and open(first.path).read() == source
    assert cache.source_file(source) == (first.path, cache.CACHED, "")
    # The same source cached before under other compilers and another CPU:
    (record,) = (tmp_path / "kernels" / "environments").iterdir()
    before = json.loads(record.read_text())
    before.update(llvmlite="0.1.0", cpu="oldcpu|+sse2")
    record.write_text(json.dumps(before))
    (tmp_path / "kernels" / first.path.rsplit("/", 1)[1]).unlink()
    moved = cache.source_file(source)
    assert moved.how == cache.MOVED_ON
    assert moved.detail.startswith("llvmlite 0.1.0 -> ") and "CPU oldcpu -> " in moved.detail


def test_source_file_in_a_read_only_or_disabled_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(blocker))
    with pytest.warns(UserWarning, match="not writable"):
        assert cache.source_file("y = 3\n").how == cache.UNWRITABLE
    monkeypatch.setenv("GRAPHJIT_NO_CACHE", "1")
    assert cache.source_file("y = 4\n").how == cache.DISABLED


def test_compile_kernel_reports_a_miss_then_hits(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    kernel = add_exp_kernel("outcome", constant=11.5)
    with numba_backend.recording_outcomes() as outcomes:
        numba_backend.compile_kernel(kernel)
        numba_backend.compile_kernel(kernel)
        monkeypatch.setattr(numba_backend, "_live", WeakValueDictionary())
        monkeypatch.setattr(numba_backend, "_recent", OrderedDict())
        numba_backend.compile_kernel(kernel)
    assert [(o.source, o.reason, o.hit) for o in outcomes] == [
        (numba_backend.COMPILED, "new kernel structure", False),
        (numba_backend.MEMORY, "", True), (numba_backend.DISK, "", True)]
    with numba_backend.recording_outcomes() as closed:
        pass
    numba_backend.compile_kernel(kernel)  # after its block: recorded nowhere
    assert closed == []
