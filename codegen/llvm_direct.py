"""The few LLVM calls a warm start makes, through ctypes on llvmlite's own library,
without importing `llvmlite.binding`.

A warm start needs the host CPU's name and features (cache keys) and an MCJIT engine
per cached kernel (codegen.native). Importing `llvmlite.binding` for them costs a fresh
process about 0.03 s of CPU (its Python modules, `llvmlite.ir` among them, and
importlib.resources), against 4 ms to open the library itself. The functions called
here are llvmlite's C layer (`LLVMPY_*`), which is not a public API: their signatures
are written for the llvmlite versions in `ABI_VERSIONS`, and any other version (or a
missing symbol) goes through `llvmlite.binding` instead, as does a process that
imported it already. Results are the same either way: `host_cpu_features` flattens
as `FeatureMap.flatten` does, so cache keys do not depend on the path taken.

Each engine gets an LLVM context of its own, so its set-up never shares state with
Numba compiling on another thread; llvmlite's lock is held as well once it exists.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading

# llvmlite versions (major.minor) whose C layer has the signatures written below.
ABI_VERSIONS = ("0.50",)

_P, _S = ctypes.c_void_p, ctypes.c_char_p
_SIGNATURES = {  # name: (restype, argtypes)
    "LLVMPY_GetHostCPUName": (None, [ctypes.POINTER(_S)]),
    "LLVMPY_GetHostCPUFeatures": (ctypes.c_int, [ctypes.POINTER(_S)]),
    "LLVMPY_GetDefaultTargetTriple": (None, [ctypes.POINTER(_S)]),
    "LLVMPY_DisposeString": (None, [_S]),
    "LLVMPY_InitializeNativeTarget": (None, []),
    "LLVMPY_InitializeNativeAsmPrinter": (None, []),
    "LLVMPY_SearchAddressOfSymbol": (_P, [_S]),
    "LLVMPY_AddSymbol": (None, [_S, _P]),
    "LLVMPY_GetTargetFromTriple": (_P, [_S, ctypes.POINTER(_S)]),
    "LLVMPY_CreateTargetMachine": (_P, [_P, _S, _S, _S, ctypes.c_int, _S, _S,
                                        ctypes.c_int, ctypes.c_int, _S]),
    "LLVMPY_ContextCreate": (_P, []),
    "LLVMPY_ContextDispose": (None, [_P]),
    "LLVMPY_ParseAssembly": (_P, [_P, _S, ctypes.POINTER(_S)]),
    "LLVMPY_CreateMCJITCompiler": (_P, [_P, _P, ctypes.c_bool, ctypes.POINTER(_S)]),
    "LLVMPY_RemoveModule": (ctypes.c_bool, [_P, _P, ctypes.POINTER(_S)]),
    "LLVMPY_DisposeModule": (None, [_P]),
    "LLVMPY_DisposeExecutionEngine": (None, [_P]),
    "LLVMPY_CreateObjectFile": (_P, [_S, ctypes.c_size_t]),
    "LLVMPY_DisposeObjectFile": (None, [_P]),
    "LLVMPY_MCJITAddObjectFile": (None, [_P, _P]),
    "LLVMPY_FinalizeObject": (None, [_P]),
    "LLVMPY_GetFunctionAddress": (ctypes.c_uint64, [_P, _S]),
}

_lib = None  # the library with _SIGNATURES set, once opened; False: use llvmlite.binding
_open_lock = threading.Lock()
_own_lock = threading.RLock()


def library(version: str):
    """llvmlite's library with the signatures above set, or None where this module does
    not know `version`'s C layer or the library lacks a symbol (use llvmlite.binding)."""
    global _lib
    if _lib is None:
        with _open_lock:
            if _lib is None:
                _lib = _open(version) or False
    return _lib or None


def knows(version: str) -> bool:
    """Whether the C layer of llvmlite `version` has the signatures written here."""
    return ".".join(version.split(".")[:2]) in ABI_VERSIONS


def _open(version: str):
    if "llvmlite.binding" in sys.modules or not knows(version):
        return None
    try:
        import llvmlite  # (its package module alone: the version, no binding)
        from llvmlite.utils import get_library_name
        lib = ctypes.CDLL(os.path.join(os.path.dirname(llvmlite.__file__), "binding",
                                       get_library_name()))
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
    except (OSError, AttributeError, ImportError):
        return None
    return lib


def _lock():
    """llvmlite's own lock once llvmlite.binding is loaded (Numba's calls hold it),
    else this module's."""
    ffi = sys.modules.get("llvmlite.binding.ffi")
    return ffi.lib._lock if ffi is not None else _own_lock


def _string(lib, fn, *args) -> tuple[object, str]:
    out = _S()
    result = fn(*args, ctypes.byref(out))
    text = (out.value or b"").decode()
    if out.value is not None:
        lib.LLVMPY_DisposeString(out)
    return result, text


@functools.cache
def host_cpu_name(lib) -> str:
    with _lock():
        return _string(lib, lib.LLVMPY_GetHostCPUName)[1]


@functools.cache
def host_cpu_features(lib) -> str:
    """The host's features as llvmlite's `get_host_cpu_features().flatten()` gives them:
    sorted by name, the last mention of a feature deciding it. (Asked once a process:
    LLVM parses /proc/cpuinfo for them.)"""
    with _lock():
        found, content = _string(lib, lib.LLVMPY_GetHostCPUFeatures)
    features: dict[str, bool] = {}
    if found:
        for feature in content.split(","):
            if feature:
                features[feature[1:]] = feature[0] == "+"
    return ",".join(("+" if on else "-") + name for name, on in sorted(features.items()))


def address_of_symbol(lib, name: str) -> int:
    with _lock():
        return lib.LLVMPY_SearchAddressOfSymbol(name.encode()) or 0


_initialized = False


def initialize(lib, symbols: dict[str, int]) -> None:
    """Initialize LLVM's native target once and bind each of `symbols` (name: address)
    that the process does not provide."""
    global _initialized
    with _lock():
        if _initialized:
            return
        lib.LLVMPY_InitializeNativeTarget()
        lib.LLVMPY_InitializeNativeAsmPrinter()
        for name, address in symbols.items():
            if not lib.LLVMPY_SearchAddressOfSymbol(name.encode()):
                lib.LLVMPY_AddSymbol(name.encode(), address)
        _initialized = True


class Engine:
    """An MCJIT engine holding one object file's code, in a context of its own; the
    code lives as long as the engine."""

    def __init__(self, lib, code: bytes, cpu: str, features: str):
        self._lib, self._code = lib, code  # (the object file may point into `code`)
        self._engine = None
        with _lock():
            self._context = lib.LLVMPY_ContextCreate()
            _, triple = _string(lib, lib.LLVMPY_GetDefaultTargetTriple)
            error = _S()
            target = lib.LLVMPY_GetTargetFromTriple(triple.encode(), ctypes.byref(error))
            if not target:
                raise RuntimeError(f"no LLVM target for {triple}")
            machine = lib.LLVMPY_CreateTargetMachine(
                target, triple.encode(), cpu.encode(), features.encode(), 3, b"default",
                b"jitdefault", 0, 0, b"")
            if not machine:
                raise RuntimeError("LLVM could not create a target machine")
            module = lib.LLVMPY_ParseAssembly(self._context, b"", ctypes.byref(error))
            if not module:
                raise RuntimeError("LLVM could not create an empty module")
            engine = lib.LLVMPY_CreateMCJITCompiler(module, machine, False,
                                                    ctypes.byref(error))
            if not engine:  # (the module and machine are leaked: a failure, rare)
                raise RuntimeError(f"LLVM could not create an MCJIT engine: "
                                   f"{(error.value or b'').decode()}")
            self._engine = engine  # (owns the module and the target machine now)
            # MCJIT is made with a module, and finalizing an engine that holds one runs
            # LLVM's code generator over it, empty as it is: 0.6-0.8 ms an engine, most
            # of linking a kernel. The module leaves before the object comes in.
            if lib.LLVMPY_RemoveModule(engine, module, ctypes.byref(error)):
                raise RuntimeError(f"LLVM could not detach the empty module: "
                                   f"{(error.value or b'').decode()}")
            lib.LLVMPY_DisposeModule(module)
            obj = lib.LLVMPY_CreateObjectFile(code, len(code))
            try:
                lib.LLVMPY_MCJITAddObjectFile(engine, obj)  # (moves the binary out)
            finally:
                lib.LLVMPY_DisposeObjectFile(obj)
            lib.LLVMPY_FinalizeObject(engine)

    def function_address(self, symbol: str) -> int:
        with _lock():
            return self._lib.LLVMPY_GetFunctionAddress(self._engine, symbol.encode())

    def __del__(self):
        if sys.is_finalizing():
            return  # (the process ends: its memory goes anyway)
        with contextlib.suppress(Exception), _lock():
            if self._engine:
                self._lib.LLVMPY_DisposeExecutionEngine(self._engine)
            self._lib.LLVMPY_ContextDispose(self._context)
