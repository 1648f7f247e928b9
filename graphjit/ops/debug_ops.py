"""Debugging ops: check_numerics (an error when NaN or inf appear) and printing
(TF1's tf.Print, which passes its input through, and tf.print, an op to run).

CheckNumerics is its input, fused into the kernel that computes it; a host step after
that kernel checks the input (as a gather's indices are checked), so the compiled
engine raises what the reference raises: InvalidArgumentError (tf.errors' name)
naming the op, the user's line and the message.

Print runs on the host each time a run needs it (a side effect: never folded, merged or
dropped as unused by the plan, though like TF's it only runs when a fetch depends on
it). Its first input is passed through; the others are formatted into `template` (a
str.format string with one {} per tensor) and written to stderr or stdout.
"""

from __future__ import annotations

import sys

import numpy as np

from graphjit.errors import InvalidArgumentError, UnsupportedError
from graphjit.graph import Operation, Tensor
from graphjit.lower import rules, standalone
from graphjit.ops._util import (
    FLOAT,
    check_dtype,
    convert_to_tensor,
    graph_of,
    make,
    op_errors,
)
from graphjit.registry import (
    Attr,
    AttrKind,
    ElementRule,
    Fusion,
    Host,
    Onnx,
    OpDef,
    register,
)

# -- check_numerics --------------------------------------------------------------------


def find_bad_numbers(x: np.ndarray, message: str) -> None:
    """TF's CheckNumerics error: `message : Tensor had NaN values` (or Inf, or both)."""
    if x.dtype.kind != "f" or np.isfinite(x).all():
        return
    nan, inf = bool(np.isnan(x).any()), bool(np.isinf(x).any())
    what = "Inf and NaN" if nan and inf else "NaN" if nan else "Inf"
    raise InvalidArgumentError(f"{message} : Tensor had {what} values")


def _check_numerics_infer(specs, attrs):
    (shape, dtype), = specs
    check_dtype(dtype, FLOAT)
    return tuple(shape), dtype


def _check_numerics_reference(x, *, message):
    find_bad_numbers(x, message)
    return x.copy()


def _check_numerics_grad(op, grads):
    return [check_numerics(grads[0], "Not a number (NaN) or infinity (Inf) values detected "
                           f"in gradient. {op.attrs['message']}")]


register(OpDef("CheckNumerics", _check_numerics_infer, _check_numerics_reference,
               Fusion.INDEX, ElementRule(rules.first_input, check=standalone.numerics_check,
                                         checked_input=0),
               attrs={"message": Attr(AttrKind.STR)}, grad=_check_numerics_grad,
               onnx=Onnx(None)))  # exported as its input: ONNX has no check (as tf2onnx)


def check_numerics(tensor, message, name: str | None = None) -> Tensor:
    """`tensor`, or an InvalidArgumentError naming `message` when a run finds NaN or inf
    in it (float dtypes), as TF's tf.debugging.check_numerics."""
    x = convert_to_tensor(tensor)
    with op_errors("CheckNumerics", name, "CheckNumerics", [x]):
        if not isinstance(message, str):
            raise InvalidArgumentError(f"message must be a string, got {message!r}")
    return make("CheckNumerics", [x], {"message": message}, name=name,
                default_name="CheckNumerics")


# -- printing --------------------------------------------------------------------------

def _number(v) -> str:
    """TF's number formatting: the shortest of %.6g/%.9g (float32) or %.15g/%.17g that
    reads back as the same value; ints and bools as themselves."""
    if isinstance(v, (float, np.floating)):
        short, long = (6, 9) if np.asarray(v).dtype.itemsize <= 4 else (15, 17)
        text = f"{v:.{short}g}"
        return text if np.asarray(v).dtype.type(text) == v or v != v else f"{v:.{long}g}"
    return str(v)


def _summary(x: np.ndarray, summarize: int, v2: bool) -> str:
    """tf.Print's flat "1 2 3..." (the first `summarize` values), or tf.print's nested
    NumPy-like "[[1 2] [3 4]]" (the first and last `summarize` per axis, -1: all)."""
    if not v2:
        flat = x.ravel()
        n = flat.size if summarize < 0 else min(summarize, flat.size)
        return " ".join(_number(v) for v in flat[:n]) + ("..." if n < flat.size else "")
    if x.ndim == 0:
        return _number(x.item())
    return np.array2string(x, separator=" ", formatter={"all": _number},
                           threshold=sys.maxsize if summarize < 0 else 0,
                           edgeitems=max(summarize, 1)).replace("\n", "")


def _print_infer(specs, attrs):
    return specs[0]


def _print_reference(x, *data, template, summarize, v2, stream):
    out = sys.stdout if stream == "stdout" else sys.stderr  # (looked up now: redirections)
    out.write(template.format(*[_summary(d, summarize, v2) for d in data]))
    out.flush()
    return x.copy()


def _print_grad(op, grads):
    return [grads[0]] + [None] * (len(op.inputs) - 1)


register(OpDef("Print", _print_infer, _print_reference, Fusion.HOST,
               Host("writes to stderr/stdout from the host each time it runs"),
               attrs={"template": Attr(AttrKind.STR), "summarize": Attr(AttrKind.INT),
                      "v2": Attr(AttrKind.BOOL), "stream": Attr(AttrKind.STR)},
               side_effect=True, grad=_print_grad,
               onnx=Onnx(None)))  # exported as its input: the printing is dropped


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _summarize(summarize) -> int:
    if summarize is None:
        return 3
    if not isinstance(summarize, (int, np.integer)) or isinstance(summarize, bool):
        raise InvalidArgumentError(f"summarize must be an int, got {summarize!r}")
    return int(summarize)


def Print(input_, data, message=None, first_n=None, summarize=None,  # noqa: N802 - TF's name
          name: str | None = None) -> Tensor:
    """TF1's tf.Print: `input_`, and when a run computes it, `message` followed by each
    tensor of `data` as "[first values...]" (`summarize` of them, default 3) on stderr."""
    graph = graph_of(input_, data)
    x = convert_to_tensor(input_, graph=graph)
    with op_errors("Print", name, "Print", [x]):
        if first_n not in (None, -1):
            raise UnsupportedError("first_n (print only the first n runs) is not supported")
        tensors = [convert_to_tensor(d, graph=graph)
                   for d in (data if isinstance(data, (list, tuple)) else [data])]
        template = _literal("" if message is None else str(message)) + "[{}]" * len(tensors)
        attrs = {"template": template + "\n", "summarize": _summarize(summarize),
                 "v2": False, "stream": "stderr"}
    return make("Print", [x, *tensors], attrs, name=name, default_name="Print")


def print(*inputs, output_stream=None, summarize=3, sep=" ", end="\n",  # noqa: A001
          name: str | None = None) -> Operation:
    """TF's tf.print: an op that, when run (fetch it, or make other ops depend on it with
    control_dependencies), writes its inputs, tensors formatted as NumPy arrays
    (`summarize` first and last values per axis), separated by `sep`, to stderr."""
    graph = graph_of(list(inputs))
    tensors = [t for t in inputs if isinstance(t, Tensor)]
    with op_errors("Print", name, "print", tensors):
        if output_stream is None or output_stream is sys.stderr:
            stream = "stderr"
        elif output_stream is sys.stdout:
            stream = "stdout"
        else:
            raise UnsupportedError(f"output_stream {output_stream!r}: graphjit prints to "
                                   "sys.stderr or sys.stdout")
        parts = []
        for item in inputs:
            if isinstance(item, Tensor):
                parts.append("{}")
            elif isinstance(item, (list, tuple, dict)) and any(
                    isinstance(v, Tensor) for v in (item.values() if isinstance(item, dict)
                                                    else item)):
                raise UnsupportedError("tensors inside a list or dict are not supported: "
                                       "pass them as separate arguments")
            else:
                parts.append(_literal(str(item)))
        attrs = {"template": _literal(sep).join(parts) + _literal(end),
                 "summarize": _summarize(summarize), "v2": True, "stream": stream}
        first = tensors[0] if tensors else convert_to_tensor(0, graph=graph)
    return make("Print", [first, *tensors], attrs, name=name, default_name="PrintV2").op


__all__ = ["check_numerics", "Print", "print"]
