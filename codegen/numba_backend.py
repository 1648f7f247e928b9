"""The Numba backend: a loop-IR Kernel becomes readable Python loop source, which is
written to a content-addressed file, imported, and compiled with `numba.njit`.

Writing real files (rather than exec'ing strings) lets Numba's disk cache keep the
machine code between processes (codegen.numba_cache) and gives tracebacks a source line.
Transcendental functions come from `codegen.vecmath`, whose polynomial forms
LLVM can vectorize; libm calls would keep the loops scalar. Operations whose
Numba spelling differs from NumPy on special values come from `codegen.exact`;
kernels carry no fast-math flag but the one on a reduction's accumulation
(README, "Numerics"). A kernel's parallel
outer loop runs in chunks on graphjit's threads (codegen.parallel); Numba's own
`prange` remains only for kernels with several parallel loops.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numba
from numba.core.compiler_lock import global_compiler_lock

from codegen import cache, parallel, vecmath
from codegen.licm import hoist_invariants
from codegen.loopir import (
    EXTERN_FUNCTIONS,
    PARALLEL,
    ArrayView,
    Assign,
    Call,
    Const,
    Dim,
    ExternCall,
    Kernel,
    Load,
    Loop,
    Store,
    Var,
    kernel_hash,
    verify,
)

CHUNK_PARAMS = ("chunk_lo", "chunk_hi")

# Numba's threading layer is the process's, so graphjit leaves its choice to the user
# (NUMBA_THREADING_LAYER; README, "Numba's settings are the user's"). Its workqueue layer,
# Numba's fallback and the advice beside OpenBLAS, is not re-entrant: hence the lock.
_parallel_lock = threading.Lock()


def _serialized(fn):
    """Parallel kernels run one at a time (workqueue), with GRAPHJIT_NUM_THREADS threads."""
    threads = min(parallel.num_threads(), numba.config.NUMBA_NUM_THREADS)

    def call(*arrays):
        with _parallel_lock:
            numba.set_num_threads(threads)
            fn(*arrays)
    call.dispatcher = fn
    return call


_VECMATH = vecmath.VECMATH
KERNEL_FASTMATH = vecmath.KERNEL_FASTMATH


class BackendError(Exception):
    """A kernel failed to compile; carries the generated source."""

    def __init__(self, message: str, source: str):
        super().__init__(message)
        self.source = source


_INFIX = {"add": "+", "sub": "-", "mul": "*", "realdiv": "/", "equal": "==",
          "notequal": "!=", "less": "<", "lessequal": "<=", "greater": ">",
          "greaterequal": ">=", "logicaland": "&", "logicalor": "|"}

# NumPy spellings that Numba lowers to LLVM intrinsics (vectorizable) or cheap code.
_NP_UNARY = {"sqrt": "np.sqrt", "floor": "np.floor", "ceil": "np.ceil", "round": "np.rint",
             "exp": "np.exp", "log": "np.log", "log1p": "np.log1p", "expm1": "np.expm1",
             "sin": "np.sin", "cos": "np.cos", "tanh": "np.tanh", "abs": "abs"}
_VECMATH_FNS = ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "erf", "sin", "cos")
# A float accumulator updated by one of these is a reduction: codegen.exact's versions
# carry the one flag each needs to vectorize (see there).
_ACCUMULATE = {"add": "reduce_add", "mul": "reduce_mul", "maximum": "reduce_max",
               "minimum": "reduce_min"}
_WRAPPING = {"add": "wrap_add", "sub": "wrap_sub", "mul": "wrap_mul"}
# Numba computes these in int64: a local of one of them is cut back to its width, so the
# next op sees NumPy's wrapped value (int8 100 + 100 is -56, not 200).
_NARROW_INTS = ("int8", "int16", "int32", "uint8")


class _Emitter:
    """Turns expressions and statements into Python source lines."""

    def __init__(self):
        self.imports: set[str] = set()
        self.exact: set[str] = set()  # from codegen.exact
        # Locals holding values read from arrays (not index arithmetic): integer math on
        # them wraps as NumPy's, while index math keeps Numba's no-overflow flags, which
        # LLVM uses to see strides.
        self.data: set[str] = set()
        # Loop variable -> its unsigned twin, used where it indexes an array directly:
        # Numba wraps negative indices, and for a loop from a run-time start LLVM cannot
        # drop that check, which cost a chunked gelu loop 13.3 ms against 8.4 ms.
        self.unsigned: dict[str, str] = {}

    def const(self, c: Const) -> str:
        if c.dtype == "bool":
            return "True" if c.value else "False"
        value = repr(float(c.value)) if c.dtype.startswith("float") else repr(int(c.value))
        if value in ("inf", "-inf", "nan"):
            value = f"np.{value.lstrip('-')}" if value[0] != "-" else "-np.inf"
        return f"np.{c.dtype}({value})"

    def expr(self, e) -> str:
        if isinstance(e, Var):
            return e.name
        if isinstance(e, Const):
            return self.const(e)
        if isinstance(e, int):
            return str(e)
        if isinstance(e, Dim):
            return f"{e.param}.shape[{e.axis}]"
        if isinstance(e, Load):
            return f"{e.param}[{self.index(e.index)}]"
        if isinstance(e, Call):
            return self.call(e)
        raise TypeError(f"cannot emit {e!r}")

    def index(self, index: tuple) -> str:
        if not index:
            return "()"
        return ", ".join(self.unsigned.get(i.name, i.name) if isinstance(i, Var)
                         else self.expr(i) for i in index)

    def helper(self, name: str, args: list[str]) -> str:
        """A call of codegen.exact's `name`."""
        self.exact.add(name)
        return f"{name}({', '.join(args)})"

    def accumulate(self, target: str, value) -> str | None:
        """`target = fn(target, x)` for a float accumulator: the reduction's own combine."""
        if not (isinstance(value, Call) and value.fn in _ACCUMULATE
                and value.dtype.startswith("float") and len(value.args) == 2
                and Var(target) in value.args):
            return None
        x = value.args[1] if value.args[0] == Var(target) else value.args[0]
        return self.helper(_ACCUMULATE[value.fn], [target, self.expr(x)])

    def is_data(self, e) -> bool:
        if isinstance(e, Load):
            return True
        if isinstance(e, Var):
            return e.name in self.data
        return isinstance(e, Call) and any(self.is_data(x) for x in e.args)

    def call(self, c: Call) -> str:
        a = [self.expr(x) for x in c.args]
        fn, dt = c.fn, c.dtype
        is_float = dt.startswith("float")
        if dt.startswith(("int", "uint")) and self.is_data(c):
            if fn in _WRAPPING:
                return self.helper(_WRAPPING[fn], a)
            if fn in ("neg", "square"):
                args = ["0", a[0]] if fn == "neg" else [a[0], a[0]]
                return self.helper("wrap_sub" if fn == "neg" else "wrap_mul", args)
        if fn == "realdiv" and not is_float:  # TF's integer Mean truncates
            return self.helper("int_truncdiv", a)
        if fn in _INFIX:
            return f"({a[0]} {_INFIX[fn]} {a[1]})"
        if fn == "identity":
            return a[0]
        if fn == "neg":
            return f"(-{a[0]})"
        if fn == "logicalnot":
            return f"(not {a[0]})"
        if fn == "square":
            return f"({a[0]} * {a[0]})"
        if fn == "reciprocal":
            return f"(np.{dt}(1) / {a[0]})"
        if fn == "rsqrt":
            return f"(np.{dt}(1) / np.sqrt({a[0]}))"
        if fn in ("maximum", "minimum") and not is_float:
            return f"{fn[:3]}({a[0]}, {a[1]})"  # integers have no NaN to propagate
        if fn in ("maximum", "minimum"):  # NaN-propagating, ties as NumPy; vectorizes
            return self.helper(f"np_{fn}", a)
        if fn == "relu":
            if not is_float:
                return f"max({a[0]}, 0)"
            return self.helper("np_maximum", [a[0], f"np.{dt}(0)"])  # relu(-0.0) = 0.0
        if fn == "sign":
            return self.helper("np_sign", a)
        if fn == "select":
            return f"({a[1]} if {a[0]} else {a[2]})"
        if fn == "cast":
            if dt == "bool":
                return f"({a[0]} != 0)"
            if is_float:
                return f"np.{dt}({a[0]})"
            return self.helper(f"to_{dt}", a)  # defined out of range
        if fn == "floordiv":
            if is_float:
                return f"np.floor({a[0]} / {a[1]})"
            return self.helper("int_floordiv", a)
        if fn == "floormod":
            return f"({a[0]} % {a[1]})" if is_float else self.helper("int_floormod", a)
        if fn == "pow":
            return f"({a[0]} ** {a[1]})" if is_float else self.helper("int_pow", a)
        if fn in _VECMATH_FNS and (fn, dt) in _VECMATH:
            name = f"{fn}_{'f32' if dt == 'float32' else 'f64'}"
            self.imports.add(name)
            return f"{name}({a[0]})"
        if fn == "sigmoid":
            return f"(np.{dt}(1) / (np.{dt}(1) + np.exp(-{a[0]})))"
        if fn == "erf":
            self.imports.add("math")
            return f"np.{dt}(math.erf({a[0]}))"
        if fn in _NP_UNARY:
            return f"{_NP_UNARY[fn]}({a[0]})"
        raise TypeError(f"the Numba backend has no scalar function '{fn}'")

    def stmts(self, body, indent: int, lines: list[str]) -> None:
        pad = "    " * indent
        for s in body:
            if isinstance(s, Loop):
                rng = "prange" if s.kind == PARALLEL else "range"
                # prange(n) schedules measurably better than prange(0, n) (W1: 18 -> 11 ms)
                bounds = self.expr(s.stop) if s.start == 0 else \
                    f"{self.expr(s.start)}, {self.expr(s.stop)}"
                lines.append(f"{pad}for {s.var} in {rng}({bounds}):")
                if s.kind == PARALLEL:  # Numba compiles a prange body as its own function
                    lines.append(f"{pad}    prefer_wide_vectors()")
                self.stmts(s.body, indent + 1, lines)
            elif isinstance(s, Assign):
                value = self.accumulate(s.target, s.value) or self.expr(s.value)
                if self.is_data(s.value):
                    self.data.add(s.target)
                    if s.dtype in _NARROW_INTS and isinstance(s.value, Call):
                        value = f"np.{s.dtype}({value})"
                lines.append(f"{pad}{s.target} = {value}")
            elif isinstance(s, Store):
                lines.append(f"{pad}{s.param}[{self.index(s.index)}] = {self.expr(s.value)}")
            else:
                raise TypeError(f"cannot emit {s!r}")


def is_extern(kernel: Kernel) -> bool:
    """A kernel of library calls: plain Python calling NumPy (BLAS), nothing to compile."""
    return any(isinstance(s, ExternCall) for s in kernel.body)


def _view_source(em: _Emitter, v: ArrayView) -> str:
    text = v.param
    if v.shape is not None:
        dims = ", ".join(em.expr(d) for d in v.shape) + ("," if len(v.shape) == 1 else "")
        text = f"{text}.reshape(({dims}))"
    return f"{text}.swapaxes(-1, -2)" if v.transposed else text


def _extern_source(kernel: Kernel) -> str:
    em = _Emitter()
    lines = []
    for s in kernel.body:
        if not isinstance(s, ExternCall) or s.fn not in EXTERN_FUNCTIONS or s.out.transposed:
            raise TypeError(f"kernel {kernel.name}: an extern kernel holds only extern calls "
                            f"of {', '.join(EXTERN_FUNCTIONS)} into plain outputs, got {s!r}")
        args = ", ".join(_view_source(em, a) for a in s.args)
        lines.append(f"    np.{s.fn}({args}, out={_view_source(em, s.out)})")
    params = ", ".join(p.name for p in kernel.params)
    return "\n".join([
        f'"""graphjit kernel {kernel.name} (structural hash {kernel_hash(kernel)}).',
        "", "Extern calls: NumPy runs them with BLAS; there is nothing for Numba to compile.",
        '"""', "import numpy as np", "", "",
        f"def {kernel.name}({params}):", *lines, "", "", f"kernel = {kernel.name}", ""])


def _has_parallel(body) -> bool:
    return any(isinstance(s, Loop) and (s.kind == PARALLEL or _has_parallel(s.body))
               for s in body)


def _chunkable_loop(kernel: Kernel) -> Loop | None:
    """The kernel's one outer parallel loop when graphjit's runtime can run it in chunks
    (codegen.parallel): a loop from 0 to an extent computable from the array shapes."""
    if len(kernel.body) != 1:
        return None
    loop = kernel.body[0]
    if not (isinstance(loop, Loop) and loop.kind == PARALLEL and loop.start == 0):
        return None
    return loop if _extent_fn(loop.stop, kernel) is not None else None


def _extent_fn(e, kernel: Kernel):
    """A function of the argument arrays giving the value of a loop bound, or None."""
    if isinstance(e, int):
        return lambda arrays: e
    if isinstance(e, Dim):
        position = [p.name for p in kernel.params].index(e.param)
        return lambda arrays: arrays[position].shape[e.axis]
    if isinstance(e, Call) and e.fn in ("mul", "add") and len(e.args) == 2:
        a, b = (_extent_fn(x, kernel) for x in e.args)
        if a is None or b is None:
            return None
        if e.fn == "mul":
            return lambda arrays: a(arrays) * b(arrays)
        return lambda arrays: a(arrays) + b(arrays)
    return None


def kernel_source(kernel: Kernel) -> str:
    """The Python source of a kernel: a module defining it, runnable on its own.

    A kernel whose outer loop is parallel and chunkable is compiled serially with the
    loop bounded by two more arguments, chunk_lo and chunk_hi (see codegen.parallel).
    """
    if is_extern(kernel):
        return _extern_source(kernel)
    em = _Emitter()
    lines: list[str] = []
    loop = _chunkable_loop(kernel)
    body = kernel.body
    if loop is not None:
        unsigned = em.unsigned[loop.var] = loop.var + "_u"
        signed = Assign(loop.var, Call("cast", (Var(unsigned),), "int64"), "int64")
        body = (Loop(unsigned, Var(CHUNK_PARAMS[0]), Var(CHUNK_PARAMS[1]),
                     (signed,) + loop.body),)
    body = hoist_invariants(body, {p.name for p in kernel.params if p.is_output})
    lines.append("    prefer_wide_vectors()  # 512-bit vectors where the CPU has them")
    em.stmts(body, 1, lines)
    params = ", ".join([p.name for p in kernel.params] + ([] if loop is None else
                                                          list(CHUNK_PARAMS)))
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
    parallel = _has_parallel(body)
    fastmath = ("{" + ", ".join(repr(f) for f in sorted(KERNEL_FASTMATH)) + "}"
                if KERNEL_FASTMATH else "False")
    flags = f"parallel={parallel}, fastmath={fastmath}, error_model='numpy', nogil=True"
    signature = _signature(kernel, chunked=loop is not None)
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


@dataclass
class CompiledKernel:
    """A native kernel and what it came from."""

    kernel: Kernel
    source: str
    path: str
    fn: object  # the numba dispatcher (a plain function for an extern kernel)
    call: object = None  # what the runtime calls: fn itself, or fn under the parallel lock

    @property
    def is_extern(self) -> bool:
        return is_extern(self.kernel)

    def _inspectable(self):
        """Numba cannot inspect code loaded from its cache: compile a private copy."""
        if not self.fn.stats.cache_hits:
            return self.fn
        options = {k: v for k, v in self.fn.targetoptions.items()
                   if k not in ("cache", "nopython")}
        return numba.njit(list(self.fn.signatures), **options)(self.fn.py_func)

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


def compile_kernel(kernel: Kernel) -> CompiledKernel:
    """Compile (or fetch from memory / disk cache) the native function of a kernel."""
    global compile_count
    key = kernel_hash(kernel)
    with _lock:
        hit = _live.get(key)
        if hit is not None:
            _keep(key, hit)
            return hit
        verify(kernel)
        source = kernel_source(kernel)
        path = cache.write_source(source)
        try:
            fn = _import_kernel(path, kernel.name)
        except Exception:
            # A corrupt Numba cache entry must not be fatal: drop it and compile afresh.
            cache.drop_numba_cache(path)
            try:
                fn = _import_kernel(path, kernel.name)
            except Exception as exc:
                raise BackendError(f"Numba failed to compile kernel {kernel.name}: "
                                   f"{type(exc).__name__}: {exc}", source) from exc
        if not is_extern(kernel) and not fn.stats.cache_hits:
            compile_count += 1
        call = _call_of(kernel, fn)
        compiled = CompiledKernel(kernel, source, path, fn, call)
        _live[key] = compiled
        _keep(key, compiled)
        if hasattr(fn, "overloads"):  # (not at exit: the process frees it all)
            weakref.finalize(compiled, _release, fn).atexit = False
        return compiled


def _keep(key: str, compiled: CompiledKernel) -> None:
    _recent[key] = compiled
    _recent.move_to_end(key)
    while len(_recent) > KEEP_RECENT:
        _recent.popitem(last=False)


def _release(dispatcher) -> None:
    """Numba registers each compiled overload for calls from other jitted code (which a
    kernel never gets) and unregisters it only when the dispatcher dies, which that very
    registration prevents: unregister it, so the dispatcher and its compile results go."""
    with global_compiler_lock:
        for result in list(dispatcher.overloads.values()):
            try:
                dispatcher.targetctx.remove_user_function(result.entry_point)
            except KeyError:
                pass


def _call_of(kernel: Kernel, fn):
    """What the runtime calls: the kernel in chunks on graphjit's threads, under Numba's
    parallel lock, or as it is."""
    loop = _chunkable_loop(kernel)
    if loop is not None:
        extent = _extent_fn(loop.stop, kernel)
        inner = _inner_work_fn(loop.body, kernel)

        def call(*arrays):
            n = extent(arrays)
            parallel.run_chunked(fn, arrays, n, n * inner(arrays))
        call.dispatcher = fn
        return call
    return _serialized(fn) if _has_parallel(kernel.body) else fn


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


def _import_kernel(path: str, name: str):
    """The kernel a generated file defines, holding nothing else alive: its module
    leaves sys.modules, and the module's names for it go (the dispatcher's globals are
    the module's: a cycle only the garbage collector would free)."""
    module_name = _module_name(path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(module_name, None)
    fn = module.kernel
    for alias in ("kernel", name):
        vars(module).pop(alias, None)
    return fn
