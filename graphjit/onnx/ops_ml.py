"""ONNX converters for the 'ai.onnx.ml' domain (classic ML preprocessing and tree
models): Binarizer, ArrayFeatureExtractor, LabelEncoder and TreeEnsemble, each built
from graphjit's elementwise ops, so they compile like any other node.

LabelEncoder becomes one select per key (default where no key matches): maps of a
few hundred keys, as preprocessing uses. TreeEnsemble becomes one indicator per
root-to-leaf path (the AND of its node tests, each a compare of one feature column),
stacked and multiplied by a [paths, targets] weight table: every leaf's weight
lands on its target where its path holds.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit import dtypes
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter

ML = "ai.onnx.ml"
MAX_KEYS = 1024  # LabelEncoder keys (one select each)
MAX_PATHS = 4096  # TreeEnsemble root-to-leaf paths (one indicator each)


@converter("Binarizer", attrs=("threshold",), domain=ML)
def convert_binarizer(ctx: NodeContext) -> Tensor:
    """1 where x > threshold, else 0, in x's dtype."""
    x = ctx.inputs[0]
    threshold = np.asarray(ctx.attr("threshold", 0.0), x.dtype.np)
    return gj.cast(gj.greater(x, threshold), x.dtype, name=ctx.name)


@converter("ArrayFeatureExtractor", domain=ML)
def convert_array_feature_extractor(ctx: NodeContext) -> Tensor:
    """x's last axis at the (flattened) indices; a 1-D x gives one row, as onnxruntime."""
    x, indices = ctx.inputs
    if x.ndim == 0:
        raise ctx.invalid("the input must have rank >= 1, got a scalar")
    picked = gj.gather(x, gj.reshape(indices, [-1]), axis=x.ndim - 1)
    if x.ndim == 1:
        return gj.reshape(picked, [1, -1], name=ctx.name)
    return gj.identity(picked, name=ctx.name)


def _label_map(ctx: NodeContext):
    """(keys, values, default) as NumPy arrays from whichever attributes the node uses
    (LabelEncoder-1: classes_strings, each string's value its index, or back)."""
    if ctx.attr("classes_strings") is not None:
        classes = np.array(ctx.attr("classes_strings"), object)
        if not ctx.inputs[0].dtype.is_string:
            raise ctx.unsupported("int64 to string (string values: graphjit's select "
                                  "does not take strings)")
        return classes, np.arange(classes.size, dtype=np.int64), \
            np.asarray(ctx.attr("default_int64", -1), np.int64)
    keys = next((np.asarray(ctx.attr(k)) for k in ("keys_tensor", "keys_floats",
                 "keys_int64s", "keys_strings") if ctx.attr(k) is not None), None)
    values = None
    for name, default_name, dtype, fallback in (
            ("values_tensor", "default_tensor", None, None),
            ("values_floats", "default_float", np.float32, -0.0),
            ("values_int64s", "default_int64", np.int64, -1),
            ("values_strings", "default_string", object, "_Unused")):
        if ctx.attr(name) is not None:
            values = np.asarray(ctx.attr(name), dtype)
            default = ctx.attr(default_name)
            if name == "values_tensor":
                if default is None:
                    raise ctx.unsupported("values_tensor without default_tensor")
                default = np.asarray(default).reshape(-1)[0]
            default = np.asarray(fallback if default is None else default, values.dtype)
            break
    if keys is None or values is None:
        raise ctx.invalid("needs one keys_* and one values_* attribute")
    if keys.shape != values.shape or keys.ndim != 1:
        raise ctx.invalid(f"{keys.size} keys for {values.size} values")
    return keys, values, default


@converter("LabelEncoder", domain=ML,
           attrs=("classes_strings", "keys_tensor", "keys_floats", "keys_int64s", "keys_strings",
                  "values_tensor", "values_floats", "values_int64s", "values_strings",
                  "default_tensor", "default_float", "default_int64", "default_string"))
def convert_label_encoder(ctx: NodeContext) -> Tensor:
    """Each element's value for its key, the default where none matches (a NaN key
    matches NaN)."""
    x = ctx.inputs[0]
    keys, values, default = _label_map(ctx)
    if values.dtype == object or values.dtype.kind in "SU":
        raise ctx.unsupported("string values: graphjit's select does not take strings")
    if keys.size > MAX_KEYS:
        raise ctx.unsupported(f"{keys.size} keys, more than the {MAX_KEYS} it unrolls")
    out_dtype = dtypes.as_dtype(values.dtype)
    if x.dtype.is_string:
        keys = np.array([k if isinstance(k, bytes) else str(k).encode() for k in keys], object)
    distinct = len(set(keys.tolist())) if keys.dtype == object else np.unique(keys).size
    if distinct != keys.size:
        raise ctx.invalid("its keys repeat, so a key's value is not defined")
    result = None
    for key, value in zip(keys, values):
        if x.dtype.is_string:
            hit = gj.equal(x, np.array(key, object))
        else:
            key = np.asarray(key, x.dtype.np)
            hit = gj.is_nan(x) if np.isnan(key) else gj.equal(x, key)
        result = gj.where(hit, np.asarray(value, out_dtype.np),
                          np.asarray(default, out_dtype.np) if result is None else result)
    if result is None:
        raise ctx.unsupported("an empty map")
    return gj.identity(result, name=ctx.name)
