"""Read-only installs and caches, and no process-wide Numba settings (issue #11).

Each case runs a fresh Python whose packages are a copy of graphjit, codegen and
runtime (first on PYTHONPATH), with HOME and the caches set up per case. Folders
meant read-only are made so twice: by their permission bits, and by an audit hook in
the child that fails every write under them with EROFS, as a read-only file system
would. The hook is what binds root (CI may run as root, and root ignores the bits).
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Runs first in every child: writes (open for writing, mkdir, rename, remove, chmod)
# under the folders in READ_ONLY_FOLDERS raise EROFS.
READ_ONLY_HOOK = textwrap.dedent("""
    import errno, os, sys
    _roots = tuple(os.path.abspath(p) + os.sep
                   for p in os.environ.get("READ_ONLY_FOLDERS", "").split(os.pathsep) if p)
    _write = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    def _read_only(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) \\
                or (flags or 0) & _write
            paths = [path] if writes else []
        elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.chmod", "os.utime"):
            paths = [args[0]]
        elif event in ("os.rename", "os.link", "os.symlink"):
            paths = list(args[:2])
        else:
            return
        for p in paths:
            if not isinstance(p, int) and \\
                    (os.path.abspath(os.fsdecode(p)) + os.sep).startswith(_roots):
                raise OSError(errno.EROFS, "Read-only file system (test)", os.fsdecode(p))
    sys.addaudithook(_read_only)
""")

# Compiles and runs a graph with vecmath kernels (exp in softmax, tanh); `result` is what
# the parent checks. Every warning is collected, Numba's too.
GRAPH = textwrap.dedent("""
    import json, warnings
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import numpy as np
        import graphjit as tf
        from codegen import cache, numba_backend
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [None, 6], name="x")
            y = tf.nn.softmax(x * 2.0 + 1.0) - tf.tanh(x)
        xs = np.linspace(-2, 2, 12).reshape(2, 6)
        got = tf.compile(g, fetches=[y])(xs.astype(np.float32))[0]
    e = np.exp(xs * 2 + 1)
    want = e / e.sum(1, keepdims=True) - np.tanh(xs)
    result = {"error": float(np.abs(got - want).max()),
              "compiles": numba_backend.compile_count,
              "private": cache.private_dir_if_any() is not None,
              "package": tf.__file__,
              "warnings": [str(w.message) for w in caught]}
""")


@pytest.fixture
def scratch(tmp_path):
    yield tmp_path
    for path in [tmp_path, *tmp_path.rglob("*")]:  # write bits back, so it can be removed
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def _make_read_only(path: pathlib.Path) -> pathlib.Path:
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return path


def _install(scratch: pathlib.Path) -> pathlib.Path:
    """A read-only copy of the three packages, as a system install would be."""
    site = scratch / "site"
    for package in ("graphjit", "codegen", "runtime"):
        shutil.copytree(ROOT / package, site / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return _make_read_only(site)


def _home(scratch: pathlib.Path) -> pathlib.Path:
    home = scratch / "home"
    home.mkdir()
    return _make_read_only(home)


def _files(folder: pathlib.Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _run(site, home, read_only, body=GRAPH + "print(json.dumps(result))", **env):
    """Run `body` in a child with the read-only folders enforced; its last line, parsed."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("GRAPHJIT_", "NUMBA_", "XDG_"))}
    clean.update(PYTHONPATH=str(site), HOME=str(home),
                 READ_ONLY_FOLDERS=os.pathsep.join(str(p) for p in read_only), **env)
    proc = subprocess.run([sys.executable, "-c", READ_ONLY_HOOK + body], env=clean,
                          cwd=home, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_read_only_install_without_a_writable_home_compiles_and_runs(scratch):
    site, home = _install(scratch), _home(scratch)
    installed = _files(site)
    out = _run(site, home, [site, home])
    assert out["package"].startswith(str(site))  # the copy, not the checkout
    assert out["error"] < 1e-5
    assert _files(site) == installed  # nothing written beside the code
    assert out["private"]  # kernels compiled in a private folder, removed at exit
    # One warning names the cache that could not be created, and nothing else warns.
    assert len(out["warnings"]) == 1 and "not writable" in out["warnings"][0]


def test_a_read_only_warm_cache_is_used_as_it_is(scratch):
    site, home = _install(scratch), _home(scratch)
    warm = scratch / "cache"
    installed = _files(site)
    first = _run(site, home, [site, home], GRAPHJIT_CACHE_DIR=str(warm))
    assert first["compiles"] > 0 and not first["private"] and not first["warnings"]
    assert _files(site) == installed  # Numba's files went to the cache, not the install
    assert any(name.endswith(".nbi") for name in _files(warm / "kernels"))
    assert any(name.endswith(".nbi") for name in _files(warm / "numba"))  # vecmath's
    filled = _files(_make_read_only(warm))
    second = _run(site, home, [site, home, warm], GRAPHJIT_CACHE_DIR=str(warm))
    assert second["error"] < 1e-5
    assert second["compiles"] == 0  # every kernel's machine code came from the cache
    assert not second["private"] and second["warnings"] == []
    assert _files(warm) == filled


def test_a_kernel_missing_from_a_read_only_cache_compiles_with_one_warning(scratch):
    site, home = _install(scratch), _home(scratch)
    empty = scratch / "empty-cache"
    (empty / "kernels").mkdir(parents=True)
    _make_read_only(empty)
    out = _run(site, home, [site, home, empty], GRAPHJIT_CACHE_DIR=str(empty))
    assert out["error"] < 1e-5 and out["private"] and out["compiles"] > 0
    assert len(out["warnings"]) == 1 and str(empty) in out["warnings"][0]
    assert _files(empty) == {"kernels"}


SETTINGS = textwrap.dedent("""
    import json, os, numba
    def settings():
        return {"layer": numba.config.THREADING_LAYER, "cpu": numba.config.CPU_NAME,
                "features": numba.config.CPU_FEATURES,
                "env": sorted(k for k in os.environ if k.startswith("NUMBA_"))}
    before = settings()
""")


def test_importing_and_running_graphjit_leaves_numba_settings_alone(scratch):
    site = _install(scratch)
    body = SETTINGS + GRAPH + 'print(json.dumps({"before": before, "after": settings()}))'
    out = _run(site, scratch, [site], body, GRAPHJIT_CACHE_DIR=str(scratch / "cache"))
    assert out["before"] == out["after"]
    assert out["after"]["layer"] == "default" and out["after"]["features"] is None


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 vectors")
def test_kernels_use_512_bit_vectors_on_a_cpu_tuned_for_256(scratch):
    """LLVM's sapphirerapids tuning prefers 256-bit vectors, which other Numba code keeps
    getting; graphjit's kernels ask for 512 on their own functions (compiled, not run:
    the host may lack AVX-512)."""
    script = textwrap.dedent("""
        import json, numba
        import numpy as np
        from codegen import numba_backend
        from tests.codegen.test_backend import add_exp_kernel
        def double(x, out):
            for i in range(x.shape[0]):
                out[i] = x[i] * np.float32(2)
        plain = numba.njit("void(float32[::1], float32[::1])")(double)
        kernel = numba_backend.compile_kernel(add_exp_kernel("wide"))
        print(json.dumps({"plain": "".join(plain.inspect_asm().values()).count("zmm"),
                          "kernel": kernel.asm().count("zmm")}))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHJIT_", "NUMBA_"))}
    env.update(NUMBA_CPU_NAME="sapphirerapids", NUMBA_CPU_FEATURES="",
               GRAPHJIT_CACHE_DIR=str(scratch / "cache"))
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, text=True,
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["plain"] == 0 and out["kernel"] > 0
