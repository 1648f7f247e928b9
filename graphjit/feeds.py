"""Fetch structures and feed validation, shared by Session.run and compiled functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from graphjit.errors import FeedError, GraphError
from graphjit.graph import Graph, Operation, Tensor, format_spec


def flatten_fetches(graph: Graph, fetches) -> tuple[list, Callable[[list], object]]:
    """Leaves (Tensors/Operations) of a nested fetch structure, and a function that
    rebuilds the structure from a list of leaf values."""
    leaves: list = []

    def walk(item):
        if isinstance(item, dict):
            keys = list(item)
            builders = [walk(item[k]) for k in keys]
            return lambda vals: type(item)(zip(keys, (b(vals) for b in builders)))
        if isinstance(item, (list, tuple)):
            builders = [walk(x) for x in item]
            if hasattr(item, "_fields"):  # namedtuple
                return lambda vals: type(item)(*(b(vals) for b in builders))
            return lambda vals: type(item)(b(vals) for b in builders)
        if item is None:
            raise GraphError("None is not a valid fetch")
        leaves.append(graph.as_graph_element(item))
        index = len(leaves) - 1
        return lambda vals: vals[index]

    return leaves, walk(fetches)


def _resolve_feed_key(graph: Graph, key) -> Tensor:
    if isinstance(key, str):
        element = graph.as_graph_element(key)
        if isinstance(element, Operation):
            if len(element.outputs) != 1:
                raise FeedError(f"feed key '{key}' names an operation; use a tensor name "
                                f"like '{key}:0'")
            element = element.outputs[0]
        return element
    if isinstance(key, Tensor):
        if key.graph is not graph:
            raise FeedError(f"cannot feed tensor '{key.name}': it belongs to another graph "
                            "than the one this session runs")
        return key
    raise FeedError(f"feed_dict keys must be Tensors or tensor names, got {type(key).__name__}")


def convert_feed(tensor: Tensor, value) -> np.ndarray:
    """Check a fed value against its tensor and return it as a fresh array of its dtype.

    Safe conversions are done (Python floats into float32, ints into floats, and
    whole-number floats into ints, as TF1 programs feed `np.ones([n])` for int labels);
    floats with fractions into ints (TF1 truncates them silently), wrong ranks and wrong
    known dimensions are errors.
    """
    def what() -> str:  # (formatted only for an error: Session.run converts every feed)
        return f"'{tensor.name}' ({format_spec(tensor.shape, tensor.dtype)})"

    if isinstance(value, Tensor):
        raise FeedError(f"the value fed for {what()} is a Tensor; feed a NumPy array or number")
    if tensor.dtype.is_string:
        return _string_feed(tensor, value, what())
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise FeedError(f"cannot convert the value fed for {what()} to an array: {exc}") from None
    if array.dtype == object:  # None, ragged lists, ints beyond int64, other objects
        raise FeedError(f"cannot feed {repr(value)[:60]} ({type(value).__name__}) for {what()}: "
                        f"expected an array, a number or nested lists of {tensor.dtype}")
    target = tensor.dtype.np
    src = array.dtype
    ok = (src == target or (target.kind == "f" and src.kind in "iuf")
          or (target.kind in "iu" and src.kind in "iu") or (target.kind == "b" and src.kind == "b"))
    if not ok and target.kind in "iu" and src.kind == "f":
        if np.all(np.isfinite(array)) and np.array_equal(array, np.trunc(array)):
            ok = True
        else:
            raise FeedError(f"cannot feed a {src} value for {what()}: expected {tensor.dtype} "
                            "(floats are taken only when they are whole numbers)")
    if not ok:
        raise FeedError(f"cannot feed a {src} value for {what()}: expected {tensor.dtype}")
    # C order: kernels take C-contiguous arrays (a Fortran-ordered feed was copied as
    # it was, and no kernel signature matched it)
    with np.errstate(invalid="ignore"):  # a float beyond the int range: refused just below
        converted = np.array(array, dtype=target, copy=True, order="C")  # the user's untouched
    if target.kind in "iu" and src != target and not np.array_equal(converted, array):
        raise FeedError(f"values fed for {what()} do not fit in {tensor.dtype}")
    if not tensor.shape.is_compatible_with(converted.shape):
        raise FeedError(f"cannot feed a value of shape {list(converted.shape)} for {what()}: "
                        f"expected shape {tensor.shape.as_list()} (None = any size)")
    return converted


def _string_feed(tensor: Tensor, value, what: str) -> np.ndarray:
    from graphjit.ops._util import string_array
    array = string_array(value, empty_ok=True)
    if array is None:
        raise FeedError(f"cannot feed {repr(value)[:60]} ({type(value).__name__}) for {what}: "
                        "expected str or bytes, or an array or nested lists of them")
    if not tensor.shape.is_compatible_with(array.shape):
        raise FeedError(f"cannot feed a value of shape {list(array.shape)} for {what}: "
                        f"expected shape {tensor.shape.as_list()} (None = any size)")
    return array


def prepare_feeds(graph: Graph, feed_dict) -> dict[Tensor, np.ndarray]:
    """Resolve feed_dict keys to tensors of `graph` and validate every value."""
    if feed_dict is not None and not isinstance(feed_dict, Mapping):
        raise FeedError(f"feed_dict must be a dict from tensors (or their names) to values, "
                        f"got {type(feed_dict).__name__}")
    feeds: dict[Tensor, np.ndarray] = {}
    for key, value in (feed_dict or {}).items():
        tensor = _resolve_feed_key(graph, key)
        feeds[tensor] = convert_feed(tensor, value)
    return feeds


def as_result(value: np.ndarray | None):
    """What a fetch returns: an array, a NumPy scalar for 0-d, None for operations."""
    if value is None:
        return None
    return value[()] if value.ndim == 0 else value
