"""The subcommands that need no model: `bench` (the project's benchmarks, from a source
checkout) and `cache` (what the on-disk kernel cache holds, and emptying it)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from argparse import Namespace
from collections.abc import Callable

from graphjit.errors import Error
from graphjit.io.npz import human_bytes

BENCHMARKS = "benchmarks.run"
# The checkout graphjit was installed from, when it was (an editable install): its
# benchmarks/ sits beside the graphjit package.
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- bench --------------------------------------------------------------------------------

def benchmarks_root() -> str | None:
    """The folder holding benchmarks/: where Python imports it from, else the checkout
    this graphjit runs from (the console script does not see the current folder)."""
    try:
        spec = importlib.util.find_spec(BENCHMARKS)
    except ImportError:
        spec = None
    if spec is not None and spec.origin is not None:
        return os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))
    if os.path.isfile(os.path.join(SOURCE_ROOT, "benchmarks", "run.py")):
        return SOURCE_ROOT
    return None


def bench(args: Namespace, out: Callable[[str], None]) -> int:
    """Run `python -m benchmarks.run` in a fresh process: it chooses Numba's threading
    layer before Numba is imported, which this process has already done."""
    root = benchmarks_root()
    if root is None:
        raise Error("graphjit bench runs the benchmarks/ folder of a graphjit source "
                    "checkout, which is not importable here: run it from the checkout's root")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", BENCHMARKS] + (["--quick"] if args.quick else [])
    return subprocess.run(command, env=env, check=False).returncode


# -- cache --------------------------------------------------------------------------------

# The parts of the cache `codegen.cache.clear` removes, and what each holds.
CACHE_PARTS = {"kernels": "kernel sources, their machine code, the compilers and CPU they were for",
               "numba": "machine code of graphjit's own helpers"}


def _folder_usage(folder: str) -> tuple[int, int]:
    """(files, bytes) under `folder`, 0 for one that does not exist."""
    files = size = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            try:
                size += os.stat(os.path.join(directory, name)).st_size
            except OSError:  # removed meanwhile by another process
                continue
            files += 1
    return files, size


def _kernel_sources(folder: str) -> int:
    try:
        return sum(name.endswith(".py") for name in os.listdir(folder))
    except OSError:
        return 0


def _where() -> str:
    if os.environ.get("GRAPHJIT_CACHE_DIR"):
        return "GRAPHJIT_CACHE_DIR"
    return "the default; set GRAPHJIT_CACHE_DIR to move it"


def cache_info(args: Namespace, out: Callable[[str], None]) -> int:
    """Where the kernel cache is, how many kernels it holds and how many bytes."""
    from codegen import cache
    root = cache.cache_dir()
    out(f"kernel cache  {root} ({_where()})")
    if cache.caching_disabled():
        out("              not used now: GRAPHJIT_NO_CACHE is set")
    total_files = total_bytes = 0
    for part, holds in CACHE_PARTS.items():
        files, size = _folder_usage(os.path.join(root, part))
        total_files, total_bytes = total_files + files, total_bytes + size
        extra = f", {_kernel_sources(cache.kernels_dir())} kernels" if part == "kernels" else ""
        out(f"  {part + '/':<10}  {files} files{extra}, {human_bytes(size)}: {holds}")
    out(f"  total       {total_files} files, {human_bytes(total_bytes)}")
    return 0


def cache_clear(args: Namespace, out: Callable[[str], None]) -> int:
    """Empty the kernel cache without asking (it only ever saves compile time), saying
    what was removed."""
    from codegen import cache
    root = cache.cache_dir()
    before = {part: _folder_usage(os.path.join(root, part)) for part in CACHE_PARTS}
    kernels = _kernel_sources(cache.kernels_dir())
    cache.clear()
    files = sum(f for f, _ in before.values())
    size = sum(s for _, s in before.values())
    left = sum(_folder_usage(os.path.join(root, part))[0] for part in CACHE_PARTS)
    if left:
        raise Error(f"could not remove {left} of the {files} files in the kernel cache "
                    f"{root} (no write permission?)")
    out(f"removed {files} files ({kernels} kernels, {human_bytes(size)}) from the kernel "
        f"cache {root}")
    return 0
