"""Cached kernels loaded with llvmlite alone: a warm start's first calls without Numba.

Importing Numba and setting up its runtime costs a fresh process about 0.2 s of CPU,
more than NumPy needs for a whole small forward pass. A kernel's machine code needs
none of it: when Numba saves a serial kernel to the disk cache (codegen.numba_cache),
`save_entry` writes beside it a *native entry*: the object code, the symbol of its
nopython entry point, its argument layout, the external symbols it references, the
hash of its source and the environment it was compiled in (`environment_key`, computed
without importing Numba). `load_entry` links that object with llvmlite's MCJIT
(through codegen.llvm_direct, without importing llvmlite.binding either) and returns
a `NativeKernel` called through ctypes with Numba's calling convention (status, return
slot, exception slot, then each array as meminfo, parent, size, itemsize, data, shape,
strides; each integer as itself).

Any doubt is a miss (None, logged on the graphjit.cache logger) and the caller uses
Numba: a missing, truncated or foreign entry, another environment or source, a
parallel kernel (its code calls Numba's thread pool), or an external symbol that
neither the process exports nor is known to be unreachable. Two symbols are known:
Numba's NRT array destructor (reached only for arrays that carry a meminfo; arrays
passed here carry none) and the Python-to-array conversion (used only by Numba's
Python wrapper, which is not called): both are bound to a function that aborts with
a message, so a wrong belief fails loudly instead of linking by luck. Nothing here
imports Numba.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import logging
import os
import sys
import threading

import numpy as np

from codegen import llvm_direct

_log = logging.getLogger("graphjit.cache")
_MAGIC = b"graphjit-native-1\n"
SUFFIX = ".native"
_SUPPORTED_INTS = ("int64", "uint64")

# Referenced by Numba's object code, never reached through the nopython entry point
# with meminfo-free arrays: bound to `_unreachable` (see the module docstring).
UNREACHABLE = ("NRT_MemInfo_call_dtor", "NRT_adapt_ndarray_from_python")


def environment() -> tuple[dict[str, str], str]:
    """The Numba, llvmlite and graphjit versions (package metadata) and the CPU name and
    features code is compiled for (Numba's overrides NUMBA_CPU_NAME and
    NUMBA_CPU_FEATURES first, as Numba reads them), without importing Numba."""
    global _ENV
    if _ENV is None:
        versions = distribution_versions(("numba", "llvmlite", "graphjit"))
        name = os.environ.get("NUMBA_CPU_NAME")
        features = os.environ.get("NUMBA_CPU_FEATURES")
        lib = llvm_direct.library(versions["llvmlite"])
        if lib is not None:
            name = name or llvm_direct.host_cpu_name(lib)
            features = features or llvm_direct.host_cpu_features(lib)
        else:
            from llvmlite import binding
            name = name or binding.get_host_cpu_name()
            features = features or binding.get_host_cpu_features().flatten()
        _ENV = versions, name + "|" + features
    return _ENV


_ENV: tuple[dict[str, str], str] | None = None


def distribution_version(name: str) -> str:
    """The version of the installed distribution `name`, as importlib.metadata.version
    gives it ("unknown" where none is: a source checkout of graphjit)."""
    return distribution_versions((name,))[name]


def distribution_versions(names: tuple[str, ...]) -> dict[str, str]:
    """`distribution_version` of each of `names`, read in one pass over sys.path from the
    first `<name>-<version>.dist-info` folder of each: importing importlib.metadata
    alone costs a warm start 25 ms of CPU. A name met first as anything else (an egg,
    a zip) or not found asks importlib.metadata."""
    found: dict[str, str | None] = {}  # (None: importlib.metadata decides)
    for entry in sys.path:
        if len(found) == len(names):
            break
        try:
            listed = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in listed:
            if not folder.endswith((".dist-info", ".egg-info")):
                continue
            dist, _, rest = folder.partition("-")
            if rest.endswith(".dist-info"):
                name = dist.lower().replace(".", "_")
                if name in names and name not in found:
                    found[name] = rest[:-len(".dist-info")]
            elif rest.endswith(".egg-info") and dist.lower() in names:
                found.setdefault(dist.lower(), None)  # (importlib.metadata reads those)
    versions = {}
    for name in names:
        versions[name] = found.get(name) or _metadata_version(name)
    return versions


def _metadata_version(name: str) -> str:
    import importlib.metadata as md
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "unknown"


def environment_key() -> str:
    """What a kernel's machine code depends on besides its source: the versions, CPU
    (`environment`) and the hash of the vector math kernels inline."""
    versions, cpu = environment()
    return "|".join([*versions.values(), inline_source_hash(), cpu])


@functools.cache
def inline_source_hash() -> str:
    """Hash of codegen.vecmath and the intrinsics kernels inline (_bitcast, exact,
    target, microkernel), read as files: importing them imports Numba. Read once a
    process, as those modules are imported once."""
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("vecmath.py", "_bitcast.py", "exact.py", "target.py", "microkernel.py",
                 "tile_shape.py"):
        with open(os.path.join(here, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def entry_path(folder: str, py_file: str) -> str:
    stem = os.path.splitext(os.path.basename(py_file))[0]
    return os.path.join(folder, stem + SUFFIX)


def _source_hash(py_file: str) -> str:
    with open(py_file, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def argument_layout(signature) -> list | None:
    """["array", ndim, dtype, writes] or ["int", name] per argument of a Numba signature;
    None when an argument is anything else (no native entry for such a kernel)."""
    layout = []
    for t in signature.args:
        ndim = getattr(t, "ndim", None)
        if ndim is not None and getattr(t, "layout", "") == "C":
            layout.append(["array", ndim, str(t.dtype), bool(t.mutable)])
        elif str(t) in _SUPPORTED_INTS:
            layout.append(["int", str(t)])
        else:
            return None
    return layout


def save_entry(folder: str, py_file: str, *, symbol: str, layout: list, externals: list,
               object_code: bytes) -> None:
    """Write the native entry of the kernel defined in `py_file` (atomically)."""
    header = {"env": environment_key(), "source": _source_hash(py_file), "symbol": symbol,
              "args": layout, "externals": externals}
    path = entry_path(folder, py_file)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "wb") as f:
        f.write(_MAGIC + json.dumps(header).encode() + b"\n" + object_code)
    os.replace(tmp, path)


@ctypes.CFUNCTYPE(None)
def _unreachable():
    os.write(2, b"graphjit: a natively loaded kernel reached a Numba runtime routine "
                b"it was believed never to call; aborting\n")
    os.abort()


_engine_lock = threading.Lock()
_process = ctypes.CDLL(None)
_initialized = False


def _direct_library():
    return llvm_direct.library(environment()[0]["llvmlite"])


def _initialize() -> None:
    """Initialize LLVM's native target and bind the unreachable symbols (once)."""
    global _initialized
    if _initialized:
        return
    symbols = dict.fromkeys(UNREACHABLE, ctypes.cast(_unreachable, ctypes.c_void_p).value)
    lib = _direct_library()
    if lib is not None:
        llvm_direct.initialize(lib, symbols)
    else:
        from llvmlite import binding as ll
        ll.initialize_native_target()
        ll.initialize_native_asmprinter()
        for name, address in symbols.items():
            if not ll.address_of_symbol(name):
                ll.add_symbol(name, address)
    _initialized = True


class _BindingEngine:
    """An engine made through llvmlite.binding: where codegen.llvm_direct does not know
    the installed llvmlite, or the process imported the binding before it opened."""

    def __init__(self, code: bytes):
        from llvmlite import binding as ll
        machine = ll.Target.from_default_triple().create_target_machine(
            cpu=ll.get_host_cpu_name(), features=ll.get_host_cpu_features().flatten(),
            opt=3, codemodel="jitdefault")
        module = ll.parse_assembly("")
        self._engine = ll.create_mcjit_compiler(module, machine)
        self._engine.remove_module(module)  # (see llvm_direct.Engine: not compiled)
        self._engine.add_object_file(ll.ObjectFileRef.from_data(code))
        self._engine.finalize_object()

    def function_address(self, symbol: str) -> int:
        return self._engine.get_function_address(symbol)


def _execution_engine(code: bytes):
    """An MCJIT engine of its own for each kernel (two kernels' objects may define the
    same helper symbols) holding `code`."""
    lib = _direct_library()
    if lib is None:
        return _BindingEngine(code)
    return llvm_direct.Engine(lib, code, llvm_direct.host_cpu_name(lib),
                              llvm_direct.host_cpu_features(lib))


def _resolvable(name: str) -> bool:
    lib = _direct_library()
    if lib is not None:
        found = llvm_direct.address_of_symbol(lib, name)
    else:
        from llvmlite import binding as ll
        found = ll.address_of_symbol(name)
    return bool(found) or hasattr(_process, name)


def read_entry(path: str, py_file: str) -> tuple[dict, bytes] | None:
    """The header and object code of a native entry, or None (logged) when it is
    missing, unreadable or was written for another source or environment."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        if not data.startswith(_MAGIC):
            raise ValueError("not a native entry")
        end = data.index(b"\n", len(_MAGIC))
        header = json.loads(data[len(_MAGIC):end])
        code = data[end + 1:]
        if not code:
            raise ValueError("no object code")
    except ValueError as exc:
        _log.info("%s: unreadable native entry (%s); using Numba", path, exc)
        return None
    if header.get("env") != environment_key():
        _log.info("%s: native entry of another environment; using Numba", path)
        return None
    if header.get("source") != _source_hash(py_file):
        _log.info("%s: native entry of another source; using Numba", path)
        return None
    return header, code


class NativeKernel:
    """A kernel's nopython entry point loaded by llvmlite, called with NumPy arrays (C
    contiguous, of the compiled dtypes: the caller's plan guarantees both) and ints."""

    def __init__(self, address: int, layout: list, name: str, engine=None):
        self._engine = engine  # owns the machine code
        P, I = ctypes.c_void_p, ctypes.c_int64
        argtypes = [P, P]
        for kind, detail, *_ in layout:
            argtypes += [P, P, I, I, P] + [I] * (2 * detail) if kind == "array" else [I]
        self._fn = ctypes.CFUNCTYPE(ctypes.c_int32, *argtypes)(address)
        self._layout = layout
        self.name = name

    def accepts(self, args) -> bool:
        """Whether `args` are what the code was compiled for: C-contiguous arrays of its
        ranks and dtypes (writeable where it writes) and integers. Numba's dispatcher
        checks this itself; the native call would read the wrong memory."""
        if len(args) != len(self._layout):
            return False
        for spec, a in zip(self._layout, args):
            if spec[0] == "array":
                if not (isinstance(a, np.ndarray) and a.ndim == spec[1]
                        and a.dtype.name == spec[2] and a.flags.c_contiguous
                        and (a.flags.writeable or not spec[3])):
                    return False
            elif not isinstance(a, (int, np.integer)):
                return False
        return True

    def __call__(self, *args):
        """Call with `args` that `accepts` (chunked kernels: from several threads)."""
        fields = [ctypes.byref(ctypes.c_int64()), ctypes.byref(ctypes.c_void_p())]
        for (kind, *_), a in zip(self._layout, args, strict=True):
            if kind == "array":
                fields += [None, None, a.size, a.itemsize, a.ctypes.data, *a.shape,
                           *a.strides]
            else:
                fields.append(int(a))
        status = self._fn(*fields)
        if status != 0:
            raise RuntimeError(f"kernel {self.name}: native call returned status {status}")


def load_entry(folder: str, py_file: str, name: str) -> NativeKernel | None:
    """The kernel `py_file` defines, linked from its native entry in `folder`; None
    (logged) when there is none usable: the caller then loads it through Numba."""
    path = entry_path(folder, py_file)
    found = read_entry(path, py_file)
    if found is None:
        return None
    header, code = found
    try:
        with _engine_lock:
            _initialize()
            missing = [n for n in header["externals"] if not _resolvable(n)]
            if missing:  # (linking would abort the process)
                _log.info("%s: native code calls %s, which nothing provides yet; using "
                          "Numba", path, ", ".join(missing))
                return None
            engine = _execution_engine(code)
            address = engine.function_address(header["symbol"])
        if not address:
            _log.info("%s: symbol %s not in the native entry; using Numba", path,
                      header["symbol"])
            return None
        return NativeKernel(address, header["args"], name, engine)
    except Exception as exc:  # a corrupt object, a layout we cannot read
        _log.info("%s: native entry failed to load (%s: %s); using Numba", path,
                  type(exc).__name__, exc)
        return None
