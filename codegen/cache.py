"""The on-disk kernel cache: generated sources in content-addressed files.

A kernel's file name is a hash of its generated source, of the graphjit, Numba
and llvmlite versions, of the vectorized math it inlines and of the CPU, so a
file is only ever reused for exactly the code it holds; Numba's `cache=True`
(codegen.numba_cache) then keeps the machine code beside it.
Writes are atomic (write to a temporary file, then rename), so concurrent
processes never see half a file. A cache that can be read but not written (a
container image, a shared folder) is used as it is; only a kernel missing from it
is written to a private temporary folder, removed at exit, with one warning per
cache folder. A file whose content is not what its name promises is rewritten.
`source_file` also says how it found the file (graphjit's compile logs give the reason
of each miss); a small record of the compilers and CPU a source was last written for,
in `kernels/environments/`, tells a miss caused by an upgrade or another CPU from a new
kernel.
"""

from __future__ import annotations

import atexit
import glob
import hashlib
import json
import os
import warnings
from typing import NamedTuple

_FORMAT = "1"  # bump when the generated source format changes
_fallback_dir: str | None = None
_warned: set[str] = set()  # cache folders already reported as not writable


def cache_dir() -> str:
    """GRAPHJIT_CACHE_DIR, else $XDG_CACHE_HOME/graphjit, else ~/.cache/graphjit."""
    explicit = os.environ.get("GRAPHJIT_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphjit")


def kernels_dir() -> str:
    return os.path.join(cache_dir(), "kernels")


def caching_disabled() -> bool:
    return os.environ.get("GRAPHJIT_NO_CACHE", "") not in ("", "0")


# How `source_file` found a kernel's source (its `how`):
CACHED = "cached"  # in the cache, as its name promises
NEW = "new"  # not in the cache: a structure never compiled under these compilers and CPU
CORRUPT = "corrupt"  # in the cache with other content: rewritten
DISABLED = "disabled"  # GRAPHJIT_NO_CACHE: compiled in a private folder
UNWRITABLE = "unwritable"  # missing from a read-only cache: compiled in a private folder
MOVED_ON = "environment"  # cached before for other compilers or another CPU (`detail`)


class SourceFile(NamedTuple):
    path: str
    how: str  # CACHED, NEW, MOVED_ON, CORRUPT, DISABLED or UNWRITABLE
    detail: str = ""  # for MOVED_ON: what changed, e.g. "numba 0.60.0 -> 0.61.0"


def environment() -> dict[str, str]:
    """What compiled code depends on besides its source: the cache format, the versions
    of graphjit, Numba and llvmlite, the CPU and the vectorized math kernels inline.
    Computed without importing Numba (codegen.native: a warm start may not need it)."""
    from codegen import native
    versions, cpu = native.environment()
    return {"format": _FORMAT, "graphjit": versions["graphjit"],
            "numba": versions["numba"], "llvmlite": versions["llvmlite"], "cpu": cpu,
            "vecmath": native.inline_source_hash()}


_ENV: dict[str, str] | None = None


def _current_environment() -> dict[str, str]:
    global _ENV
    if _ENV is None:
        _ENV = environment()
    return _ENV


def file_key(source_hash: str) -> str:
    key = "|".join(_current_environment().values())
    return "k" + hashlib.sha256(f"{source_hash}|{key}".encode()).hexdigest()[:32]


def _environment_record(source_hash: str) -> str:
    return os.path.join(kernels_dir(), "environments", source_hash[:32] + ".json")


def _note_environment(source_hash: str) -> None:
    """Record the environment this source was just written for (best effort)."""
    try:
        atomic_write(_environment_record(source_hash),
                     json.dumps(_current_environment()).encode())
    except OSError:
        pass


def environment_change(source_hash: str) -> str | None:
    """For a source missing from the cache: what differs from the environment it was
    cached for before (`numba 0.60.0 -> 0.61.0`), or None when it never was."""
    try:
        with open(_environment_record(source_hash)) as f:
            before = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(before, dict):
        return None
    changed = [_change(name, before.get(name, "?"), now)
               for name, now in _current_environment().items() if before.get(name) != now]
    return ", ".join(changed) or None


def _change(name: str, before: str, now: str) -> str:
    if name == "cpu":  # (a long feature list: its name is enough)
        return f"CPU {before.split('|')[0]} -> {now.split('|')[0]}"
    if name == "vecmath":
        return "graphjit's vector math changed"
    return f"{name} {before} -> {now}"


def _private_dir() -> str:
    global _fallback_dir
    if _fallback_dir is None:
        import shutil  # (here and below: a warm start never needs them; ~2 ms to import)
        import tempfile
        _fallback_dir = tempfile.mkdtemp(prefix="graphjit-cache-")
        atexit.register(shutil.rmtree, _fallback_dir, ignore_errors=True)
    return _fallback_dir


def private_dir_if_any() -> str | None:
    """This process's private kernel folder, if it made one."""
    return _fallback_dir


def atomic_write(path: str, data: bytes) -> None:
    """Write through a temporary file in the same folder and rename it into place, so a
    crash or a concurrent writer never leaves half a file (used for kernel sources and
    saved graphs; opened normally, not by mkstemp, so the usual umask applies)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_source(source: str) -> str:
    """The path of a file holding exactly `source`, writing it if needed (see
    `source_file`)."""
    return source_file(source).path


def source_file(source: str) -> SourceFile:
    """The path of a file holding exactly `source`, writing it if needed, and how it was
    found (CACHED, NEW, MOVED_ON, CORRUPT, DISABLED or UNWRITABLE).

    The name hashes the source itself (and the compiler versions and CPU), so a
    file whose content differs from its name's promise is corrupt. A file already
    in the cache is used even when the folder is read-only.
    """
    source_hash = hashlib.sha256(source.encode()).hexdigest()
    name = file_key(source_hash) + ".py"
    if caching_disabled():
        return SourceFile(_write_private(name, source), DISABLED)
    directory = kernels_dir()
    path = os.path.join(directory, name)
    how = NEW
    try:
        with open(path) as f:
            if f.read() == source:
                return SourceFile(path, CACHED)
        warnings.warn(f"graphjit: cached kernel {path} was corrupt; rewriting it", stacklevel=3)
        drop_numba_cache(path)
        how = CORRUPT
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError):
        drop_numba_cache(path)
        how = CORRUPT
    try:
        atomic_write(path, source.encode())
    except OSError as exc:
        if directory not in _warned:
            _warned.add(directory)
            warnings.warn(f"graphjit: kernel cache {directory} is not writable ({exc}); kernels "
                          "missing from it are compiled in a temporary folder for this process "
                          "(set GRAPHJIT_CACHE_DIR to a writable folder, or GRAPHJIT_NO_CACHE=1)",
                          stacklevel=3)
        return SourceFile(_write_private(name, source), UNWRITABLE)
    change = environment_change(source_hash) if how == NEW else None
    _note_environment(source_hash)
    return SourceFile(path, MOVED_ON, change) if change else SourceFile(path, how)


def is_cached(source: str) -> bool:
    """Whether `source`'s file and Numba's index of its machine code are in the cache,
    so that compiling it would only load it (looked up, nothing written)."""
    if caching_disabled():
        return False
    stem = file_key(hashlib.sha256(source.encode()).hexdigest())
    directory = kernels_dir()
    return os.path.exists(os.path.join(directory, stem + ".py")) and bool(
        glob.glob(os.path.join(glob.escape(directory), "__pycache__", stem + ".*.nbi")))


def _write_private(name: str, source: str) -> str:
    path = os.path.join(_private_dir(), name)
    if not os.path.exists(path):
        atomic_write(path, source.encode())
    return path


def drop_numba_cache(path: str) -> None:
    """Remove Numba's index/data files for `path` (they may belong to a corrupt source)."""
    pycache = os.path.join(os.path.dirname(path), "__pycache__")
    stem = os.path.splitext(os.path.basename(path))[0]
    if os.path.isdir(pycache):
        for entry in os.listdir(pycache):
            if entry.startswith(stem + "."):
                try:
                    os.unlink(os.path.join(pycache, entry))
                except OSError:
                    pass


def clear() -> None:
    """Delete the whole kernel cache (e.g. after upgrading a compiler by hand)."""
    import shutil
    shutil.rmtree(kernels_dir(), ignore_errors=True)
    shutil.rmtree(os.path.join(cache_dir(), "numba"), ignore_errors=True)
