"""The Numba backend: a loop-IR Kernel becomes readable Python loop source, which is
written to a content-addressed file, imported, and compiled with `numba.njit`.

Writing real files (rather than exec'ing strings) lets Numba's disk cache keep the
machine code between processes (codegen.numba_cache) and gives tracebacks a source line.
codegen.passes decides what a kernel becomes (chunked outer loop, hoisting, which
reductions reassociate, Numba's flags); codegen.render spells each statement and scalar
function; kernels carry no fast-math flag but the one on a reduction's accumulation
(README, "Numerics"). A kernel's parallel outer loop runs in chunks on graphjit's
threads (codegen.parallel); Numba's own `prange` remains only for kernels with several
parallel loops.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from codegen import cache, long_lived, native, parallel, warm_start
from codegen.loopir import (
    EXTERN_FUNCTIONS,
    ArrayView,
    Dim,
    ExternCall,
    Fn,
    Kernel,
    Loop,
    VerifyError,
    is_extern,
    kernel_hash,
    verify,
)
from codegen.passes import CHUNK_PARAMS, Prepared, prepare, shape_expr
from codegen.record import MutableRecord, Record
from codegen.render import Emitter
from codegen.vplan_budget import needs_single_interleave
from codegen.warm_start import WarmStart

# Numba's threading layer is the process's, so graphjit leaves its choice to the user
# (NUMBA_THREADING_LAYER; README, "Numba's settings are the user's"). Its workqueue layer,
# Numba's fallback and the advice beside OpenBLAS, is not re-entrant: hence the lock.
_parallel_lock = threading.Lock()


def _serialized(fn):
    """Parallel kernels run one at a time (workqueue), on the thread budget's threads
    (parallel.num_threads, read each call: graphjit.set_num_threads may change it)."""
    import numba
    limit = numba.config.NUMBA_NUM_THREADS

    def call(*arrays):
        with _parallel_lock:
            numba.set_num_threads(min(parallel.num_threads(), limit))
            fn(*arrays)
    call.dispatcher = fn
    return call


class BackendError(Exception):
    """A kernel failed to compile; carries the generated source."""

    def __init__(self, message: str, source: str):
        super().__init__(message)
        self.source = source


def _view_source(em: Emitter, v: ArrayView) -> str:
    text = v.param
    if v.shape is not None:
        dims = ", ".join(em.expr(d) for d in v.shape) + ("," if len(v.shape) == 1 else "")
        text = f"{text}.reshape(({dims}))"
    return f"{text}.swapaxes(-1, -2)" if v.transposed else text


def _extern_source(kernel: Kernel) -> str:
    em = Emitter()
    lines = []
    for s in kernel.body:
        if not isinstance(s, ExternCall) or s.fn not in EXTERN_FUNCTIONS or s.out.transposed:
            raise TypeError(f"kernel {kernel.name}: an extern kernel holds only extern calls "
                            f"of {', '.join(EXTERN_FUNCTIONS)} into plain outputs, got {s!r}")
        args = ", ".join(_view_source(em, a) for a in s.args)
        lines.append(f"        site.{s.fn}({args}, out={_view_source(em, s.out)})")
    params = ", ".join(p.name for p in kernel.params)
    shapes = "".join(f"{p.name}.shape, " for p in kernel.params if not p.is_output)
    return "\n".join([
        f'"""graphjit kernel {kernel.name} (structural hash {kernel_hash(kernel)}).',
        "", "Extern calls: NumPy runs them with BLAS; there is nothing for Numba to compile.",
        "The site of the operands' shapes runs them within graphjit's thread budget",
        "(codegen.blas).",
        '"""', "import numpy as np", "", "from codegen import blas", "", "",
        f"def {kernel.name}({params}):", f"    with _blas_sites({shapes}) as site:", *lines, "", "",
        "_blas_sites = blas.GemmSites()", f"kernel = {kernel.name}", ""])


def kernel_source(kernel: Kernel | Prepared) -> str:
    """The Python source of a kernel (prepared by codegen.passes unless it is already):
    a module defining it, runnable on its own.

    A kernel whose outer loop is parallel and chunkable is compiled serially with the
    loop bounded by two more arguments, chunk_lo and chunk_hi (see codegen.parallel).
    """
    prepared = kernel if isinstance(kernel, Prepared) else prepare(kernel)
    kernel = prepared.kernel
    if is_extern(kernel):
        return _extern_source(kernel)
    em = Emitter()
    lines = ["    prefer_wide_vectors()  # 512-bit vectors where the CPU has them"]
    em.stmts(prepared.body, 1, lines)
    chunked = prepared.chunked is not None
    params = ", ".join([p.name for p in kernel.params] + (list(CHUNK_PARAMS) if chunked
                                                          else []))
    header = [f'"""graphjit kernel {kernel.name} (structural hash {kernel_hash(kernel)})."""',
              "import math  # noqa: F401", "", "import numpy as np",
              "from numba import prange  # noqa: F401", "",
              "from codegen.numba_cache import njit",
              "from codegen.target import prefer_wide_vectors"]
    vec = sorted(i for i in em.imports if i != "math")
    if vec:
        header.append(f"from codegen.vecmath import {', '.join(vec)}")
    if em.exact:
        header.append(f"from codegen.exact import {', '.join(sorted(em.exact))}")
    if em.tiles:
        header.append("from codegen.microkernel import matmul_tile")
    fastmath = ("{" + ", ".join(repr(f) for f in sorted(prepared.fastmath)) + "}"
                if prepared.fastmath else "False")
    # (no C callback wrapper: graphjit calls a kernel through its dispatcher or native
    # entry; not building one saves a cold compile about a tenth)
    flags = (f"parallel={prepared.parallel}, fastmath={fastmath}, error_model='numpy', "
             "nogil=True, no_cfunc_wrapper=True")
    signature = _signature(kernel, chunked)
    return "\n".join(header + ["", "", f"@njit({signature!r}, {flags})",
                               f"def {kernel.name}({params}):", *lines, "",
                               "", f"kernel = {kernel.name}", ""])


def _signature(kernel: Kernel, chunked: bool) -> str:
    """C-contiguous arrays; inputs typed read-only, which also accepts writeable arrays,
    so a read-only feed (np.load's mmap, onnx.numpy_helper) runs without a copy."""
    def array(p):
        dtype = "boolean" if p.dtype == "bool" else p.dtype
        return f"Array({dtype}, {p.rank}, 'C'{'' if p.is_output else ', readonly=True'})"
    chunk = ", uint64, uint64" if chunked else ""
    return f"void({', '.join(array(p) for p in kernel.params)}{chunk})"


@dataclass(eq=False, repr=False)
class CompiledKernel(MutableRecord):
    """A native kernel and what it came from."""

    kernel: Kernel
    source: str
    path: str
    fn: object  # the numba dispatcher (a plain function for an extern kernel)
    call: object = None  # what the runtime calls: fn itself, or fn under the parallel lock

    @property
    def is_extern(self) -> bool:
        return is_extern(self.kernel)

    @property
    def parallel(self) -> bool:
        """Whether a call runs on several threads: chunked on graphjit's, Numba's prange,
        or BLAS's own (an extern kernel)."""
        return self.is_extern or (self.call is not None and self.call is not self.fn)

    def _inspectable(self):
        """Numba cannot inspect code loaded from its cache: compile a private copy."""
        import numba
        fn = self.fn.dispatcher if isinstance(self.fn, WarmStart) else self.fn
        if not fn.stats.cache_hits:
            return fn
        options = {k: v for k, v in fn.targetoptions.items()
                   if k not in ("cache", "nopython")}
        return numba.njit(list(fn.signatures), **options)(fn.py_func)

    def llvm(self) -> str:
        if self.is_extern:
            return f"; {self.kernel.name}: extern calls into NumPy/BLAS, no LLVM of ours"
        return "\n".join(self._inspectable().inspect_llvm().values())

    def asm(self) -> str:
        if self.is_extern:
            return f"# {self.kernel.name}: extern calls into NumPy/BLAS, no assembly of ours"
        return "\n".join(self._inspectable().inspect_asm().values())


# Kernels by structural hash. A kernel lives as long as a plan holds it (the weak map
# finds it) and the KEEP_RECENT kernels asked for last are held besides, so compiling a
# graph again soon after dropping it costs nothing. A kernel nothing holds is released
# (`_release`): what Numba keeps of it is its machine code, which it never frees.
KEEP_RECENT = 64
_live: weakref.WeakValueDictionary[str, CompiledKernel] = weakref.WeakValueDictionary()
_recent: OrderedDict[str, CompiledKernel] = OrderedDict()
_lock = threading.Lock()
compile_count = 0  # native compiles in this process (tests count them)


# Whether a kernel was compiled and why: a hit, from this process's memory or from the
# disk cache; a miss, for the reason its source or machine code was not cached.
MEMORY, DISK, COMPILED, EXTERN = "memory", "disk", "compiled", "extern"
_MISS_REASONS = {
    cache.NEW: "new kernel structure",
    cache.CACHED: "source cached but not its machine code",
    cache.CORRUPT: "corrupt cache entry, rewritten",
    cache.DISABLED: "GRAPHJIT_NO_CACHE is set",
    cache.UNWRITABLE: "not in the read-only kernel cache",
}


@dataclass(frozen=True, eq=False, repr=False)
class CacheOutcome(Record):
    """How `compile_kernel` got a kernel: `source` MEMORY or DISK (hits), COMPILED (a
    miss, `reason` saying why) or EXTERN (plain Python calling NumPy: nothing compiled)."""

    kernel: str
    source: str
    reason: str = ""

    @property
    def hit(self) -> bool:
        return self.source in (MEMORY, DISK)


_recording = threading.local()


@contextlib.contextmanager
def recording_outcomes():
    """`with recording_outcomes() as outcomes:` appends the CacheOutcome of each kernel
    this thread compiles inside the block (the front end's compile logs read them)."""
    outcomes: list[CacheOutcome] = []
    outer = getattr(_recording, "outcomes", None)
    _recording.outcomes = outcomes
    try:
        yield outcomes
    finally:
        _recording.outcomes = outer


def _report(outcome: CacheOutcome) -> None:
    outcomes = getattr(_recording, "outcomes", None)
    if outcomes is not None:
        outcomes.append(outcome)


def compile_kernel(kernel: Kernel) -> CompiledKernel:
    """Compile (or fetch from memory / disk cache) the native function of a kernel."""
    global compile_count
    key = kernel_hash(kernel)
    with _lock:
        hit = _live.get(key)
        if hit is not None:
            _keep(key, hit)
            _report(CacheOutcome(kernel.name, MEMORY))
            return hit
        verify(kernel)
        prepared = prepare(kernel)
        source = kernel_source(prepared)
        found = cache.source_file(source)
        path = found.path
        reason = (f"compilers or CPU changed: {found.detail}" if found.how == cache.MOVED_ON
                  else _MISS_REASONS.get(found.how, found.how))
        fn = _warm_start(prepared, found, source)
        if fn is None and not is_extern(kernel):
            # (a kernel not in the cache compiles; one in it may load without registries)
            try:
                (long_lived.import_numba if found.how == cache.CACHED
                 else long_lived.load_registries)()
            except Exception:  # noqa: BLE001 - the load below fails alike and reports it
                pass
        if fn is None:
            fn, reason = _load(path, kernel.name, source, reason, is_extern(kernel),
                               needs_single_interleave(kernel))
        if isinstance(fn, WarmStart):
            _report(CacheOutcome(kernel.name, DISK))
        elif is_extern(kernel):
            _report(CacheOutcome(kernel.name, EXTERN))
        elif getattr(getattr(fn, "stats", None), "cache_hits", None):
            _report(CacheOutcome(kernel.name, DISK))
        else:
            compile_count += 1
            _report(CacheOutcome(kernel.name, COMPILED, reason))
        call = _call_of(prepared, fn)
        compiled = CompiledKernel(kernel, source, path, fn, call)
        _live[key] = compiled
        _keep(key, compiled)
        if hasattr(fn, "overloads") or isinstance(fn, WarmStart):
            # (not at exit: the process frees it all)
            weakref.finalize(compiled, _release, fn).atexit = False
        return compiled


def is_loaded_or_cached(kernel: Kernel) -> bool:
    """Whether compiling `kernel` would cost no compile: it is in memory, or in the disk
    cache (checked without writing; the source is rendered, nothing compiled)."""
    with _lock:
        if kernel_hash(kernel) in _live:
            return True
    return cache.is_cached(kernel_source(prepare(kernel)))


def _load(path: str, name: str, source: str, reason: str = "", extern: bool = False,
          single_interleave: bool = False):
    """The kernel through Numba (compiled, or loaded from its disk cache), and the
    reason of a miss. `single_interleave`: see codegen.vplan_budget."""
    try:
        return _import_kernel(path, name, extern, single_interleave), reason
    except Exception:
        # A corrupt Numba cache entry must not be fatal: drop it and compile afresh.
        cache.drop_numba_cache(path)
        try:
            return (_import_kernel(path, name, extern, single_interleave),
                    "corrupt machine code in the cache, dropped")
        except Exception as exc:
            raise BackendError(f"Numba failed to compile kernel {name}: "
                               f"{type(exc).__name__}: {exc}", source) from exc


def _warm_start(prepared: Prepared, found, source: str) -> WarmStart | None:
    """The kernel from its native entry when Numba is not imported yet (or still being
    imported by codegen.warm_start's thread) and the kernel can run without it (cached,
    serial, not an extern call); else None."""
    if (("numba" in sys.modules and not warm_start.settling()) or found.how != cache.CACHED
            or prepared.parallel or is_extern(prepared.kernel)):
        return None
    folder = os.path.dirname(found.path)
    if folder != os.path.abspath(cache.kernels_dir()):
        return None
    entry = native.load_entry(os.path.join(folder, "__pycache__"), found.path,
                              prepared.kernel.name)
    if entry is None:
        return None
    path, name = found.path, prepared.kernel.name
    kernel = prepared.kernel
    return WarmStart(entry, lambda: _load(path, name, source,
                                          single_interleave=needs_single_interleave(kernel))[0],
                     path, name, source)


class KernelCompileError(Exception):
    """A kernel of a batch failed: `index` is its position, `cause` the VerifyError or
    BackendError (whose source is the generated code)."""

    def __init__(self, index: int, cause: Exception):
        super().__init__(str(cause))
        self.index, self.cause = index, cause


def compile_kernels(kernels: list[Kernel]) -> list[CompiledKernel]:
    """The native functions of a program's kernels, in order; identical kernels (one
    structural hash) compile once, and the ones compiled before come from memory or the
    disk cache."""
    compiled = []
    for i, kernel in enumerate(kernels):
        try:
            compiled.append(compile_kernel(kernel))
        except (VerifyError, BackendError) as exc:
            raise KernelCompileError(i, exc) from exc
    return compiled


def _keep(key: str, compiled: CompiledKernel) -> None:
    _recent[key] = compiled
    _recent.move_to_end(key)
    while len(_recent) > KEEP_RECENT:
        _recent.popitem(last=False)


def _release(dispatcher) -> None:
    """Numba registers each compiled overload for calls from other jitted code (which a
    kernel never gets) and unregisters it only when the dispatcher dies, which that very
    registration prevents: unregister it, so the dispatcher and its compile results go.
    (A warm start's kernel: its dispatcher, if it got that far.)"""
    if isinstance(dispatcher, WarmStart):
        dispatcher = dispatcher.settled()
        if dispatcher is None:
            return
    from numba.core.compiler_lock import global_compiler_lock
    with global_compiler_lock:
        for result in list(dispatcher.overloads.values()):
            try:
                dispatcher.targetctx.remove_user_function(result.entry_point)
            except KeyError:
                pass


MAX_SIZES = 64  # the shapes a chunked kernel remembers its loop extent and work for


def _call_of(prepared: Prepared, fn):
    """What the runtime calls: the kernel in chunks on graphjit's threads, under Numba's
    parallel lock, or as it is."""
    loop, kernel = prepared.chunked, prepared.kernel
    if loop is not None:
        # built once per kernel; a call evaluates them on its arrays' shapes
        extent = _extent_fn(loop.stop, kernel)
        inner = _inner_work_fn(loop.body, kernel)
        site = parallel.Site(kernel.name)  # its threads follow its measured work
        warm = fn if isinstance(fn, WarmStart) else None
        if warm is not None:
            warm.chunked = True

        sizes: dict[tuple, tuple[int, int]] = {}  # (extent, work) by the arrays' shapes

        def call(*arrays):
            if warm is not None and warm.settled() is None:
                warm.count_call()
            key = tuple([a.shape for a in arrays])
            size = sizes.get(key)
            if size is None:  # (the bounds are shape expressions: evaluated once a shape)
                n = extent(arrays)
                size = (n, n * inner(arrays))
                if len(sizes) < MAX_SIZES:
                    sizes[key] = size
            parallel.run_chunked(fn, arrays, size[0], size[1], site)
        call.dispatcher = fn
        return call
    return _serialized(fn) if prepared.parallel else fn


def _extent_fn(e, kernel: Kernel):
    """A function of the argument arrays giving the value of a loop bound, or None."""
    if not shape_expr(e):
        return None
    if isinstance(e, int):
        return lambda arrays: e
    if isinstance(e, Dim):
        position = [p.name for p in kernel.params].index(e.param)
        return lambda arrays: arrays[position].shape[e.axis]
    a, b = (_extent_fn(x, kernel) for x in e.args)  # add, mul or floordiv (shape_expr)
    if e.fn == Fn.MUL:
        return lambda arrays: a(arrays) * b(arrays)
    if e.fn == Fn.FLOORDIV:
        return lambda arrays: a(arrays) // b(arrays)
    return lambda arrays: a(arrays) + b(arrays)


def _inner_work_fn(body, kernel: Kernel):
    """A function of the arrays giving the iterations of one pass of `body` (its loops'
    extents multiplied, siblings added; at least 1): chunks are sized by real work, so a
    row loop over a broadcast input is cut as finely as a large array (Ctrl-C between
    chunks)."""
    parts = []
    for s in body:
        if isinstance(s, Loop):
            extent = _extent_fn(s.stop, kernel) if s.start == 0 else None
            below = _inner_work_fn(s.body, kernel)
            if extent is not None:
                parts.append(lambda arrays, e=extent, b=below: e(arrays) * b(arrays))
    return lambda arrays: max(1, sum(p(arrays) for p in parts))


def _module_name(path: str) -> str:
    return "graphjit_kernels." + os.path.splitext(os.path.basename(path))[0]


def _import_kernel(path: str, name: str, extern: bool = False,
                   single_interleave: bool = False):
    """The kernel a generated file defines, holding nothing else alive: its module
    leaves sys.modules, and the module's names for it go (the dispatcher's globals are
    the module's: a cycle only the garbage collector would free). An extern kernel's
    file is plain Python calling NumPy: importing it needs no Numba."""
    module_name = _module_name(path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    if extern:
        compiling = contextlib.nullcontext()
    else:
        from codegen.target import compile_switches
        compiling = compile_switches(single_interleave)
    try:
        with compiling:  # compiles here (the kernel has its signature)
            spec.loader.exec_module(module)
    finally:
        sys.modules.pop(module_name, None)
    fn = module.kernel
    for alias in ("kernel", name):
        vars(module).pop(alias, None)
    return fn
