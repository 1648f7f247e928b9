"""A CPython entry point for a compiled Numba function over arrays of fixed shapes and
dtypes, which checks its arguments natively and unboxes them without Numba's wrapper.

Numba's entry point unboxes each array through its runtime (a reference-counted
MemInfo allocated and freed per array, the GIL taken again to drop it): about 0.05 us an
array, and the caller must first check from Python what Numba's typing would have (type,
dtype, rank) and what it does not (shape, contiguity): 0.04-0.08 us more an array. This
entry point is a METH_FASTCALL builtin function compiled by LLVM (an MCJIT engine of its
own) that reads each argument's PyArrayObject fields itself: exactly an ndarray (no
subclass), this rank, this dtype object, this shape, C-contiguous (as NumPy's flag
says). Where all hold, it builds Numba's array structs (no MemInfo: the caller holds the
arrays for the call), releases the GIL where the function was compiled `nogil` (as
Numba's entry does), calls it and returns its boolean result (True where it returns
None); where one does not hold, it returns False, having run nothing.
W6 (`a*b + c` on 8 float32, a plan driver of four arrays): 0.27 us a call through
Numba's entry point, 0.07 us through this one, all checks included.

The field offsets of PyArrayObject (NumPy's stable ABI) are checked against a live array
before any entry is built; where they differ (another layout, a free-threaded build),
there is none (NotAvailable) and the caller keeps Numba's entry point.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import math

import numpy as np

# PyArrayObject_fields: offsets of ob_type, data, nd, dimensions, strides, descr
_OFFSETS = {"type": 8, "data": 16, "nd": 24, "dims": 32, "strides": 40, "descr": 56}
_METH_FASTCALL = 0x80
_ARRAY_FIELDS = ("meminfo", "parent", "nitems", "itemsize", "data", "shape", "strides")
_names = itertools.count()


class NotAvailable(Exception):
    """Why a function gets no fast entry point."""


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


class _Owner:
    """What a fast entry needs alive as long as it is: its method definition, its compiled
    code (engine), the dtypes whose addresses it compares and the Numba function it
    calls. The builtin function holds it (as its `self`), so nothing outlives what it
    points at."""

    def __init__(self, method: _MethodDef, engine, keep: tuple):
        self.method, self.engine, self.keep = method, engine, keep


@functools.cache
def _offsets_hold() -> bool:
    """Whether this process's ndarrays have their fields where _OFFSETS says (64-bit
    pointers and sizes; the pointers read are followed only once the plain fields
    matched)."""
    x = np.zeros((3, 5), np.float32)[:, ::2]
    if ctypes.sizeof(ctypes.c_void_p) != 8 or ctypes.sizeof(ctypes.c_ssize_t) != 8 \
            or np.ndarray.__basicsize__ < _OFFSETS["descr"] + 8:
        return False

    def read(offset: int, kind=ctypes.c_void_p):
        return kind.from_address(id(x) + offset).value
    if not (read(_OFFSETS["type"]) == id(np.ndarray) and read(_OFFSETS["data"]) == x.ctypes.data
            and read(_OFFSETS["nd"], ctypes.c_int) == 2 and read(_OFFSETS["descr"]) == id(x.dtype)):
        return False
    dims, strides = read(_OFFSETS["dims"]), read(_OFFSETS["strides"])
    return [ctypes.c_ssize_t.from_address(dims + 8 * i).value for i in (0, 1)] == [3, 3] \
        and [ctypes.c_ssize_t.from_address(strides + 8 * i).value for i in (0, 1)] == [20, 8]


def _c_api(name: str) -> int:
    """The address of a C API function (`pythonapi[name]`: a private function object,
    so ctypes.pythonapi's shared ones keep their restype and argtypes)."""
    return ctypes.cast(ctypes.pythonapi[name], ctypes.c_void_p).value


# PyCFunction_NewEx(method, self, module) -> a builtin function holding `self`
_new_function = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.py_object,
                                  ctypes.c_void_p)(("PyCFunction_NewEx", ctypes.pythonapi))


def _engine(source: str):
    """An MCJIT engine of its own holding the compiled IR `source`: no IR passes (the
    code is straight-line loads and compares around one call, whose callee Numba
    optimized): a fast entry takes ~9 ms to build this way, ~35 ms through Numba's."""
    from llvmlite import binding as ll
    module = ll.parse_assembly(source)
    module.verify()
    machine = ll.Target.from_default_triple().create_target_machine(  # (the engine's own)
        cpu=ll.get_host_cpu_name(), features=ll.get_host_cpu_features().flatten(), opt=2,
        codemodel="jitdefault")
    engine = ll.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    return engine


def c_strides(shape: tuple, itemsize: int) -> list[int]:
    """The strides of a C-contiguous array of `shape`."""
    strides, step = [], itemsize
    for d in reversed(shape):
        strides.insert(0, step)
        step *= d
    return strides


def contiguous_strides(shape: tuple, itemsize: int) -> list[tuple[int, int]]:
    """(dimension, stride) for each stride NumPy's C-contiguity flag looks at in an
    array of `shape`: none of a dimension of 1, none at all where a dimension is 0."""
    if 0 in shape:
        return []
    return [(j, s) for j, (d, s) in enumerate(zip(shape, c_strides(shape, itemsize)))
            if d > 1]


def build_fast_entry(dispatcher, specs: list[tuple[tuple, np.dtype]]):
    """The fast entry point of `dispatcher` (a Numba dispatcher with one compiled
    signature, of arrays of these shapes' ranks and these dtypes, returning None or a
    bool): `entry(*arrays) -> bool`. Raises NotAvailable saying why there is none."""
    from llvmlite import ir
    from numba import types
    from numba.core.compiler_lock import global_compiler_lock
    from numba.np.numpy_support import as_dtype

    if not _offsets_hold():
        raise NotAvailable("ndarray's fields are not where this NumPy build was expected "
                           "to keep them")
    if len(dispatcher.overloads) != 1:
        raise NotAvailable("the function has several compiled signatures")
    (compiled,) = dispatcher.overloads.values()
    fndesc, context = compiled.fndesc, compiled.target_context
    argtypes, restype = fndesc.argtypes, fndesc.restype
    if len(argtypes) != len(specs) or not all(
            isinstance(t, types.Array) and t.ndim == len(shape) and as_dtype(t.dtype) == dtype
            for t, (shape, dtype) in zip(argtypes, specs)):
        raise NotAvailable("the function takes other arguments than the arrays given")
    if not isinstance(restype, (types.NoneType, types.Boolean)):
        raise NotAvailable(f"the function returns {restype}, not None or a bool")
    dtypes = tuple(np.dtype(dtype) for _, dtype in specs)

    i8p, i32, i64 = ir.IntType(8).as_pointer(), ir.IntType(32), ir.IntType(64)
    module = ir.Module("graphjit_fast_entry")
    name = f"graphjit_fast_entry_{next(_names)}"
    fn = ir.Function(module, ir.FunctionType(i8p, [i8p, i8p.as_pointer(), i64]), name)
    _, args, nargs = fn.args
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    refuse = fn.append_basic_block("refuse")

    def const(value: int):
        return ir.Constant(i64, value)

    def field(obj, offset: str, kind):
        return builder.load(builder.bitcast(builder.gep(obj, [const(_OFFSETS[offset])]),
                                            kind.as_pointer()))

    def require(ok) -> None:  # go on where `ok` holds, else refuse
        after = fn.append_basic_block()
        builder.cbranch(ok, after, refuse)
        builder.position_at_end(after)

    def pointer(address: int, kind):
        return builder.inttoptr(const(address), kind)

    require(builder.icmp_unsigned("==", nargs, const(len(specs))))
    values = []
    for k, ((shape, _), dtype, numba_type) in enumerate(zip(specs, dtypes, argtypes)):
        obj = builder.load(builder.gep(args, [const(k)]))
        require(builder.icmp_unsigned("==", builder.ptrtoint(field(obj, "type", i8p), i64),
                                      const(id(np.ndarray))))
        require(builder.icmp_unsigned("==", field(obj, "nd", i32), ir.Constant(i32, len(shape))))
        require(builder.icmp_unsigned("==", builder.ptrtoint(field(obj, "descr", i8p), i64),
                                      const(id(dtype))))
        dims = field(obj, "dims", i64.as_pointer())
        strides = field(obj, "strides", i64.as_pointer())
        for j, d in enumerate(shape):
            require(builder.icmp_unsigned("==", builder.load(builder.gep(dims, [const(j)])),
                                          const(d)))
        for j, stride in contiguous_strides(tuple(shape), dtype.itemsize):
            found = builder.load(builder.gep(strides, [const(j)]))
            require(builder.icmp_unsigned("==", found, const(stride)))
        # Numba's array struct, by hand (its make_array would load every typing and
        # lowering registry Numba has: 0.2 s in a process that only loaded kernels)
        model = context.data_model_manager[numba_type]
        if tuple(model._fields) != _ARRAY_FIELDS:
            raise NotAvailable(f"Numba's arrays have the fields {model._fields}")
        struct = model.get_value_type()
        members = dict(zip(_ARRAY_FIELDS, struct.elements))
        value = ir.Constant(struct, ir.Undefined)
        for position, member in enumerate((
                ir.Constant(members["meminfo"], None), builder.bitcast(obj, members["parent"]),
                const(math.prod(shape)), const(dtype.itemsize),
                builder.bitcast(field(obj, "data", i8p), members["data"]),
                ir.Constant(members["shape"], [const(d) for d in shape]),
                ir.Constant(members["strides"],
                            [const(s) for s in c_strides(tuple(shape), dtype.itemsize)]))):
            value = builder.insert_value(value, member, position)
        values.append(value)

    nogil = bool(dispatcher.targetoptions.get("nogil"))
    if nogil:
        state = builder.call(pointer(_c_api("PyEval_SaveThread"),
                                     ir.FunctionType(i8p, []).as_pointer()), [])
    callee = pointer(compiled.library.get_pointer_to_function(fndesc.llvm_func_name),
                     context.call_conv.get_function_type(restype, argtypes).as_pointer())
    status, result = context.call_conv.call_function(builder, callee, restype, argtypes, values)
    if nogil:
        builder.call(pointer(_c_api("PyEval_RestoreThread"),
                             ir.FunctionType(ir.VoidType(), [i8p]).as_pointer()), [state])
    ran, failed = fn.append_basic_block("ran"), fn.append_basic_block("failed")
    builder.cbranch(status.is_ok, ran, failed)
    builder.position_at_end(failed)  # (the general path runs it again and says why)
    builder.call(pointer(_c_api("PyErr_Clear"), ir.FunctionType(ir.VoidType(), []).as_pointer()),
                 [])
    builder.branch(refuse)
    builder.position_at_end(ran)
    incref = ir.FunctionType(ir.VoidType(), [i8p]).as_pointer()
    if isinstance(restype, types.Boolean):
        answer = builder.select(builder.icmp_unsigned("!=", result, ir.Constant(result.type, 0)),
                                pointer(id(True), i8p), pointer(id(False), i8p))
    else:
        answer = pointer(id(True), i8p)
    builder.call(pointer(_c_api("Py_IncRef"), incref), [answer])
    builder.ret(answer)
    builder.position_at_end(refuse)
    builder.call(pointer(_c_api("Py_IncRef"), incref), [pointer(id(False), i8p)])
    builder.ret(pointer(id(False), i8p))

    with global_compiler_lock:  # (llvmlite's global context, shared with Numba)
        engine = _engine(str(module))
    method = _MethodDef(name.encode(), engine.get_function_address(name), _METH_FASTCALL,
                        None)
    owner = _Owner(method, engine, (dtypes, compiled))
    return _new_function(ctypes.addressof(method), owner, None)
