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


_COMPARES = {0: gj.less_equal, 1: gj.less, 2: gj.greater_equal, 3: gj.greater,
             4: gj.equal, 5: gj.not_equal}
_MEMBER = 6
_TREE_ATTRS = ("aggregate_function", "leaf_targetids", "leaf_weights", "membership_values",
               "n_targets", "nodes_falseleafs", "nodes_falsenodeids", "nodes_featureids",
               "nodes_hitrates", "nodes_missing_value_tracks_true", "nodes_modes",
               "nodes_splits", "nodes_trueleafs", "nodes_truenodeids", "post_transform",
               "tree_roots")


def _tree_paths(ctx: NodeContext, a: dict) -> list[tuple[list, int]]:
    """Every root-to-leaf path, as ([(node, took_true_branch)], leaf index)."""
    paths: list[tuple[list, int]] = []
    nodes = len(a["nodes_modes"])

    def walk(node: int, steps: list) -> None:
        if len(steps) > nodes:
            raise ctx.invalid("its trees have a cycle")
        for branch, ids, leafs in ((True, "nodes_truenodeids", "nodes_trueleafs"),
                                   (False, "nodes_falsenodeids", "nodes_falseleafs")):
            target = int(a[ids][node])
            here = steps + [(node, branch)]
            if a[leafs][node]:
                paths.append((here, target))
                if len(paths) > MAX_PATHS:
                    raise ctx.unsupported(f"more than {MAX_PATHS} root-to-leaf paths")
            else:
                walk(target, here)

    for root in a["tree_roots"]:
        root = int(root)
        if (a["nodes_trueleafs"][root] and a["nodes_falseleafs"][root]
                and a["nodes_truenodeids"][root] == a["nodes_falsenodeids"][root]):
            paths.append(([], int(a["nodes_truenodeids"][root])))  # a one-leaf tree
        else:
            walk(root, [])
    return paths


def _member_sets(a: dict) -> dict[int, list[float]]:
    """Each BRANCH_MEMBER node's set: membership_values split at its NaNs, in node order."""
    values = list(np.asarray(a["membership_values"] if a["membership_values"] is not None
                             else [], np.float64))
    sets: dict[int, list[float]] = {}
    for node, mode in enumerate(a["nodes_modes"]):
        if int(mode) == _MEMBER:
            end = next((i for i, v in enumerate(values) if np.isnan(v)), len(values))
            sets[node], values = values[:end], values[end + 1:]
    return sets


@converter("TreeEnsemble", attrs=_TREE_ATTRS, domain=ML)
def convert_tree_ensemble(ctx: NodeContext) -> Tensor:
    """[N, n_targets]: per row, the sum (or mean) over trees of the weight of the leaf
    the row reaches, on that leaf's target."""
    x = ctx.inputs[0]
    a = {k: ctx.attr(k) for k in _TREE_ATTRS}
    if x.ndim != 2:
        raise ctx.invalid(f"X must be [N, features], got shape {x.shape}")
    aggregate, post = ctx.attr("aggregate_function", 1), ctx.attr("post_transform", 0)
    if aggregate not in (0, 1):
        raise ctx.unsupported(f"aggregate_function={aggregate}; graphjit does AVERAGE (0) "
                              "and SUM (1)")
    if post != 0:
        raise ctx.unsupported(f"post_transform={post}; graphjit does NONE (0)")
    modes = [int(m) for m in a["nodes_modes"]]
    if any(m not in _COMPARES and m != _MEMBER for m in modes):
        raise ctx.invalid(f"nodes_modes {sorted(set(modes))} has a mode outside 0..6")
    splits = np.asarray(a["nodes_splits"], x.dtype.np)
    tracks = a["nodes_missing_value_tracks_true"] or [0] * len(modes)
    sets = _member_sets(a)
    columns: dict[int, Tensor] = {}
    tests: dict[int, Tensor] = {}

    def test(node: int) -> Tensor:
        if node not in tests:
            f = int(a["nodes_featureids"][node])
            if f not in columns:
                columns[f] = gj.gather(x, np.array(f, np.int64), axis=1)
            col = columns[f]
            if modes[node] == _MEMBER:
                hits = [gj.equal(col, np.asarray(v, x.dtype.np)) for v in sets[node]]
                t = hits[0] if hits else gj.not_equal(col, col)
                for h in hits[1:]:
                    t = gj.logical_or(t, h)
            else:
                t = _COMPARES[modes[node]](col, splits[node])
            tests[node] = gj.logical_or(t, gj.is_nan(col)) if tracks[node] else t
        return tests[node]

    paths = _tree_paths(ctx, a)
    n_targets = int(a["n_targets"])
    targets, weights = np.asarray(a["leaf_targetids"]), np.asarray(a["leaf_weights"])
    table = np.zeros((len(paths), n_targets), x.dtype.np)
    held = []
    for p, (steps, leaf) in enumerate(paths):
        if not 0 <= targets[leaf] < n_targets:
            raise ctx.invalid(f"leaf {leaf} has target {targets[leaf]}, not in [0, {n_targets})")
        table[p, targets[leaf]] = weights[leaf]
        hold = None
        for node, branch in steps:
            t = test(node) if branch else gj.logical_not(test(node))
            hold = t if hold is None else gj.logical_and(hold, t)
        if hold is None:  # a one-leaf tree: every row reaches it
            hold = gj.ones_like(gj.gather(x, np.array(0, np.int64), axis=1), dtype=dtypes.bool_)
        held.append(hold)
    indicators = gj.cast(gj.stack(held, axis=1), x.dtype)
    out = gj.matmul(indicators, table)
    if aggregate == 0:
        out = out / np.asarray(len(a["tree_roots"]), x.dtype.np)
    return gj.identity(out, name=ctx.name)
