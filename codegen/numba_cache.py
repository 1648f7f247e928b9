"""Numba's on-disk cache for graphjit's own functions, kept under GRAPHJIT_CACHE_DIR.

Numba's ``cache=True`` stores machine code in the first writable folder among
NUMBA_CACHE_DIR, the module's ``__pycache__`` and ``~/.cache/numba``, and raises "no
locator available" when none is: a read-only install without a writable home could
not even import graphjit, a read-only warm cache was skipped, and a user's
NUMBA_CACHE_DIR took graphjit's files. ``njit`` here is ``numba.njit`` with a cache
that instead

- keeps a kernel's machine code beside its source file, in
  ``<cache>/kernels/__pycache__``, and that of graphjit's helpers (codegen.vecmath) in
  ``<cache>/numba/``;
- loads from those folders even when they are read-only, and saves where it can;
- treats every read or write failure as a miss: the cache only ever saves time;
- loads without refreshing Numba's typing and lowering registries (about 0.3 s of CPU
  and 250 module imports in a fresh process, needed to compile, not to link machine
  code): each entry records the external symbols its code calls, and only an entry
  calling one that nothing has registered yet pays for the refresh (or, still missing,
  is a miss: compiled again), so a warm start never aborts in LLVM's linker.

The folder is looked up at each load and save, so GRAPHJIT_CACHE_DIR and
GRAPHJIT_NO_CACHE apply when a function compiles, not when its module was imported.
"""

from __future__ import annotations

import ctypes
import inspect
import logging
import os
import re
import sys

import numba
from llvmlite import binding
from numba.core.caching import (
    CompileResultCacheImpl,
    FunctionCache,
    IndexDataCacheFile,
    _CacheLocator,
    _SourceFileBackedLocatorMixin,
)
from numba.core.dispatcher import Dispatcher
from numba.core.runtime import rtsys

from codegen import cache, native

_log = logging.getLogger("graphjit.cache")
_FORMAT = "graphjit-numba-1"  # the payload: {"format", "symbols", "numba"}
_DECLARED = re.compile(r'^declare[^@\n]*@"?([^"(\s]+)', re.M)
_EXTERNAL_GLOBAL = re.compile(r'^@"?([^"\s=]+)"? = external ', re.M)
_process = ctypes.CDLL(None)


def external_symbols(llvm: str) -> list[str]:
    """The functions a compiled library (its LLVM text) calls but does not define (LLVM
    intrinsics aside): what the linker must find when the library is loaded again."""
    names = set(_DECLARED.findall(llvm))
    return sorted(n for n in names if not n.startswith("llvm."))


def missing_symbols(names) -> list[str]:
    """Those of `names` neither registered with LLVM nor exported by the process."""
    return [n for n in names
            if not binding.address_of_symbol(n) and not hasattr(_process, n)]


def cache_folder(py_file: str) -> str | None:
    """Where the machine code of functions defined in `py_file` is cached; None for no
    disk cache (caching disabled, or a kernel in this process's private folder)."""
    if cache.caching_disabled():
        return None
    folder = os.path.dirname(os.path.abspath(py_file))
    if folder == cache.private_dir_if_any():
        return None  # thrown away at exit: not worth writing
    if folder == os.path.abspath(cache.kernels_dir()):
        return os.path.join(folder, "__pycache__")  # where cache.drop_numba_cache looks
    # A hash of the folder, as Numba's own user-wide locator does: two installs of
    # graphjit keep separate entries instead of overwriting each other's.
    return os.path.join(cache.cache_dir(), "numba",
                        _CacheLocator.get_suitable_cache_subpath(py_file))


class _Locator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """Numba's view of where a function is cached; unlike Numba's own locators, a folder
    that does not exist or cannot be written is accepted (loading needs neither)."""

    def __init__(self, py_func, py_file: str):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno

    def get_cache_path(self) -> str | None:
        return cache_folder(self._py_file)


class _Impl(CompileResultCacheImpl):
    def __init__(self, py_func):
        # CacheImpl.__init__ would search Numba's locators (or NUMBA_CACHE_LOCATOR_CLASSES)
        # and raise when none can write; the name of the files is Numba's.
        self._lineno = py_func.__code__.co_firstlineno
        py_file = inspect.getfile(py_func)
        self._locator = _Locator(py_func, py_file)
        module = os.path.splitext(os.path.basename(py_file))[0]
        self._filename_base = self.get_filename_base(
            f"{module}.{py_func.__qualname__}", getattr(sys, "abiflags", ""))


class _Cache(FunctionCache):
    """Numba's index and data files, in the folder `cache_folder` names at each use."""

    def __init__(self, py_func):  # Numba's would fix the folder now
        self._name = repr(py_func)
        self._py_func = py_func
        self._py_file = os.path.abspath(inspect.getfile(py_func))
        self._impl = _Impl(py_func)
        self.enable()

    @property
    def cache_path(self) -> str | None:
        return self._impl.locator.get_cache_path()

    def _files(self) -> IndexDataCacheFile | None:
        folder = self.cache_path
        if folder is None or not self._enabled:
            return None
        return IndexDataCacheFile(folder, self._impl.filename_base,
                                  self._impl.locator.get_source_stamp())

    def load_overload(self, sig, target_context):
        try:
            files = self._files()
            if files is None:
                return None
            entry = files.load(self._index_key(sig, target_context.codegen()))
            if not (isinstance(entry, dict) and entry.get("format") == _FORMAT):
                return None  # none, or written by Numba itself or an older graphjit
            payload = entry["numba"]
            if not self._linkable(entry["symbols"], payload, target_context):
                return None
            return self._impl.rebuild(target_context, payload)
        except Exception:  # unreadable, truncated or foreign: compile instead
            return None

    def _linkable(self, symbols, payload, target_context) -> bool:
        """Register what the entry's code calls, refreshing Numba's registries only when
        the cheap registrations leave a symbol missing (a missing symbol at link time
        aborts the process)."""
        rtsys.initialize(target_context)  # NRT: what refresh() would register first
        for init in payload[7]:  # reload_init (parallel kernels: the thread pool's symbols)
            init()
        missing = missing_symbols(symbols)
        if missing:
            _log.debug("%s: %s not registered yet; loading Numba's registries", self._name,
                       ", ".join(missing))
            target_context.refresh()
            missing = missing_symbols(symbols)
        if missing:
            _log.info("%s: cached code calls %s, which nothing provides; compiling it again",
                      self._name, ", ".join(missing))
            return False
        return True

    def save_overload(self, sig, data):
        try:
            files = self._files()
            if files is None or not self._impl.check_cachable(data):
                return
            os.makedirs(self.cache_path, exist_ok=True)
            llvm = data.library.get_llvm_str()  # (printed once: a few ms a kernel)
            entry = {"format": _FORMAT, "symbols": external_symbols(llvm),
                     "numba": self._impl.reduce(data)}
            files.save(self._index_key(sig, data.codegen), entry)
            self._save_native(data, entry, llvm)
        except OSError:  # a read-only warm cache, a full disk: keep what is there
            pass

    def _save_native(self, data, entry, llvm: str) -> None:
        """Beside Numba's entry, the native one (codegen.native) a warm start loads
        without Numba: only for serial kernels with array and integer arguments whose
        code needs no Numba environment or thread pool."""
        layout = native.argument_layout(data.signature)
        payload = entry["numba"]
        if (layout is None or payload[7] or data.objectmode
                or not self._py_file.startswith(os.path.abspath(cache.kernels_dir()))):
            return
        externals = sorted(set(entry["symbols"]) | set(_EXTERNAL_GLOBAL.findall(llvm)))
        native.save_entry(self.cache_path, self._py_file, symbol=data.fndesc.mangled_name,
                          layout=layout, externals=externals,
                          object_code=data.library._get_compiled_object())

    def flush(self):
        try:
            files = self._files()
            if files is not None:
                files.flush()
        except OSError:
            pass


def njit(signature: str | None = None, **options):
    """``numba.njit(signature, **options)`` cached by graphjit (there is no ``cache``
    option): the generated kernels and codegen.vecmath compile through this."""
    def wrap(fn):
        dispatcher = numba.njit(**options)(fn)
        if not isinstance(dispatcher, Dispatcher):  # NUMBA_DISABLE_JIT: plain Python
            return dispatcher
        dispatcher._cache = _Cache(fn)  # what Dispatcher.enable_caching does, with ours
        if signature is not None:  # as numba.njit(signature): compile now, and only this
            dispatcher.compile(signature)
            dispatcher.disable_compile()
        return dispatcher
    return wrap
