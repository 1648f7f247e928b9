"""graphjit.lower.partition on its own: which ops share a region, of which kind and domain.

Graphs are built with the public API and fully static shapes, so every tensor's shape is
known without running the planner's shape propagation; the ops handed to `partition` are
those the planner hands it: the ops the fetches need, in graph order, without constants
and placeholders. Nothing here compiles a kernel.
"""

from __future__ import annotations

import graphjit as tf
from graphjit.graph_queries import ops_needed
from graphjit.lower import partition as partition_module
from graphjit.lower.partition import MAX_REGION_OPS, partition


def _partition(fetches, feeds):
    """(regions, region_of) for `fetches` computed from the placeholders `feeds`."""
    fed = set(feeds)
    ops = [op for op in ops_needed([f.op for f in fetches], fed)
           if op.outputs and op.type not in ("Const", "Placeholder")]
    graph = fetches[0].graph
    shapes = {t: tuple(t.shape) for op in graph.get_operations() for t in op.outputs}
    assert all(None not in s for s in shapes.values()), "tests use static shapes only"
    regions = partition(ops, shapes, fed)
    region_of = {op: r for r in regions for op in r.ops}
    assert set(region_of) == set(ops), "every op is placed in exactly one region"
    assert sum(len(r.ops) for r in regions) == len(ops)
    _assert_dependency_order(regions, fed)
    return regions, region_of


def _assert_dependency_order(regions, fed) -> None:
    """Every region reads only feeds, constants and values of regions before it."""
    done: set = set()
    for region in regions:
        members = {t for op in region.ops for t in op.outputs}
        for op in region.ops:
            for t in op.inputs:
                if t in fed or t in members or t.op.type in ("Const", "Placeholder"):
                    continue
                assert t in done, (f"region {region.id} ({[o.name for o in region.ops]}) "
                                   f"reads {t.name} before the region computing it")
        done |= members


def _types(region) -> list[str]:
    return [op.type for op in region.ops]


def test_an_elementwise_chain_is_one_region_over_its_shape():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 5])
        y = tf.exp(tf.tanh(x) + 1.0) * 2.0 - x
    regions, _ = _partition([y], [x])
    assert len(regions) == 1
    (region,) = regions
    assert region.kind == "fused" and not region.is_row
    assert region.domain == (3, 5)
    assert _types(region) == ["Tanh", "Add", "Exp", "Mul", "Sub"]


def test_independent_chains_meeting_in_an_op_merge_into_one_region():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4])
        y = tf.placeholder(tf.float32, [4])
        z = tf.tanh(x) + tf.exp(y)  # two regions until the add reads both
    regions, _ = _partition([z], [x, y])
    assert [sorted(_types(r)) for r in regions] == [["Add", "Exp", "Tanh"]]


def test_a_broadcast_operand_fuses_but_a_different_output_shape_does_not():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 4])
        b = tf.placeholder(tf.float32, [4])
        small = tf.exp(b)  # over (4,): a domain of its own
        y = x * small
    regions, region_of = _partition([y], [x, b])
    assert region_of[small.op].domain == (4,)
    assert region_of[y.op].domain == (3, 4)
    # a (4,) region cannot join a (3, 4) one: different loop nests
    assert region_of[small.op] is not region_of[y.op]


def test_a_reduction_over_trailing_axes_makes_a_row_region():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3, 4])
        s = tf.reduce_sum(tf.square(x), axis=[1, 2], keepdims=True)
        y = tf.sqrt(s) + 1.0  # per-row value: joins at row level
    regions, _ = _partition([y], [x])
    assert len(regions) == 1
    (region,) = regions
    assert region.is_row and region.split == 1  # reductions cover domain[1:]
    assert region.domain == (2, 3, 4)
    assert _types(region) == ["Square", "Sum", "Sqrt", "Add"]


def test_softmax_is_one_row_region():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8])
        y = tf.nn.softmax(x)
    regions, _ = _partition([y], [x])
    assert len(regions) == 1
    (region,) = regions
    assert region.kind == "fused" and region.split == 1 and region.domain == (4, 8)
    assert {"Max", "Exp", "Sum", "RealDiv"} <= set(_types(region))


def test_layer_norm_is_one_row_region():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8])
        y = tf.nn.layer_normalization(x)
    regions, _ = _partition([y], [x])
    assert len(regions) == 1 and regions[0].split == 1


def test_a_reduction_over_a_leading_axis_gets_a_region_of_its_own():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8])
        e = tf.exp(x)
        s = tf.reduce_sum(e, axis=0)
        y = s * 2.0
    regions, region_of = _partition([y], [x])
    reduce_region = region_of[s.op]
    assert reduce_region.kind == "reduce" and _types(reduce_region) == ["Sum"]
    assert reduce_region.domain == (4, 8)  # a reduce region's domain is its input's shape
    assert region_of[e.op] is not reduce_region
    assert region_of[y.op] is not reduce_region and region_of[y.op].domain == (8,)
    assert len(regions) == 3


def test_a_reduction_over_a_middle_axis_is_not_a_row_reduction():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3, 4])
        s = tf.reduce_max(tf.abs(x), axis=1)
    _, region_of = _partition([s], [x])
    assert region_of[s.op].kind == "reduce"
    assert region_of[s.op] is not region_of[s.op.inputs[0].op]


def test_rows_of_different_split_do_not_share_a_region():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3, 4])
        e = tf.exp(x)
        a = tf.reduce_sum(e, axis=[2])  # split 2
        b = tf.reduce_sum(e, axis=[1, 2])  # split 1
    _, region_of = _partition([a, b], [x])
    assert region_of[a.op].split == 2 and region_of[a.op] is region_of[e.op]
    assert region_of[b.op] is not region_of[a.op] and region_of[b.op].split == 1


def test_matmul_is_a_standalone_region_and_its_epilogue_a_fused_one():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 3])
        w = tf.placeholder(tf.float32, [3, 5])
        m = tf.matmul(tf.tanh(x), w)
        y = tf.nn.relu(m + 1.0)
    regions, region_of = _partition([y], [x, w])
    assert region_of[m.op].kind == "standalone" and region_of[m.op].ops == [m.op]
    assert region_of[y.op].kind == "fused" and region_of[y.op] is not region_of[m.op]
    assert [r.kind for r in regions] == ["fused", "standalone", "fused"]


def test_reshapes_of_materialized_buffers_are_views():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 6])
        fed = tf.reshape(x, [24])  # of a feed
        m = tf.matmul(x, tf.transpose(x))
        of_matmul = tf.reshape(m, [2, 8])  # of an extern's output
        of_fused = tf.reshape(tf.exp(x), [6, 4])  # of a fused region's output
    _, region_of = _partition([fed, of_matmul, of_fused], [x])
    for t in (fed, of_matmul, of_fused):
        assert region_of[t.op].kind == "view" and region_of[t.op].ops == [t.op]
        assert region_of[t.op].domain == tuple(t.shape)


def test_elementwise_ops_after_a_view_start_a_new_region():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 6])
        r = tf.reshape(tf.exp(x), [24])
        y = tf.tanh(r)
    _, region_of = _partition([y], [x])
    assert region_of[r.op].kind == "view"
    assert region_of[y.op].kind == "fused" and region_of[y.op].domain == (24,)
    assert region_of[y.op] is not region_of[r.op.inputs[0].op]


def test_a_per_row_unit_reshape_joins_the_row_region():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8])
        s = tf.reduce_sum(x, axis=-1)  # (4,)
        e = tf.expand_dims(s, -1)  # (4, 1): only a unit dim changes
        y = x / e
    regions, region_of = _partition([y], [x])
    assert len(regions) == 1
    assert region_of[e.op] is region_of[s.op] is region_of[y.op]


def test_max_region_ops_bounds_a_region():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3])
        y = x
        for _ in range(MAX_REGION_OPS + 10):
            y = tf.negative(y)
    regions, _ = _partition([y], [x])
    assert [len(r.ops) for r in regions] == [MAX_REGION_OPS, 10]
    assert all(r.kind == "fused" for r in regions)


def test_max_region_ops_also_bounds_row_regions_and_sibling_merges(monkeypatch):
    monkeypatch.setattr(partition_module, "MAX_REGION_OPS", 3)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 5])
        y = tf.exp(tf.tanh(tf.abs(x)))  # three ops: full
        s = tf.reduce_sum(y, axis=-1)  # may not join
        z = tf.negative(tf.negative(x))
        sin = tf.sin(x)
        w = z + sin  # merging sin's region into z's would make 4 ops
    regions, region_of = _partition([s, w], [x])
    assert all(len(r.ops) <= 3 for r in regions)
    assert region_of[s.op] is not region_of[y.op]
    assert len(region_of[y.op].ops) == 3
    assert region_of[w.op] is region_of[z.op] and region_of[sin.op] is not region_of[w.op]


def test_fusion_refuses_a_cycle_through_another_member_of_a_region():
    """`add` joins Sign's row region and reads Sum, so that region runs after Sum's;
    NotEqual reads Sign and would fit Sum's region by shape, but joining it would make
    Sum's region read Sign's region, which reads Sum's: a cycle (fuzzer F8)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [5])
        column = x[::-1, None]
        pair = tf.concat([column, column], -1)
        sign = tf.sign(column)
        total = tf.reduce_sum(pair)
        add = tf.reduce_mean(sign) + total
        ne = tf.not_equal(sign, pair)
    regions, region_of = _partition([ne, add], [x])  # asserts dependency order
    assert region_of[add.op] is region_of[sign.op]
    assert region_of[total.op] is region_of[pair.op]  # the concat fused into Sum's rows
    assert region_of[ne.op] is not region_of[total.op]
    assert region_of[ne.op] is not region_of[sign.op]
    order = [r.id for r in regions]
    assert order.index(region_of[total.op].id) < order.index(region_of[add.op].id) \
        < order.index(region_of[ne.op].id)


def test_fusion_refuses_a_cycle_with_gradients_in_the_graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [5])
        column = x[::-1, None]
        pair = tf.concat([column, column], -1)
        sign = tf.sign(column)
        loss = tf.reduce_mean(sign) + tf.reduce_sum(pair)
        grad, = tf.gradients(loss, [x])
        ne = tf.not_equal(sign, pair)
    regions, region_of = _partition([ne, grad, loss], [x])  # asserts dependency order
    assert region_of[ne.op] is not region_of[loss.op.inputs[1].op]


def test_a_row_value_without_its_kept_dims_is_not_a_row_scalar():
    """(n,) * (n, n) broadcasts the per-row sums along the rows' *columns* (t[j], not
    t[i]): it cannot be computed as a row scalar times the row."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 4])
        s = tf.reduce_sum(x, axis=-1)  # (4,)
        y = s * x
        kept = tf.reduce_sum(x, axis=-1, keepdims=True)  # (4, 1): a true row scalar
        z = kept * x
    _, region_of = _partition([y], [x])
    assert region_of[y.op] is not region_of[s.op]
    _, region_of = _partition([z], [x])
    assert region_of[z.op] is region_of[kept.op]


def test_a_square_row_of_shape_n_by_n_with_per_row_scalar_of_shape_n_by_1_still_fuses():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3, 3])
        m = tf.reduce_max(x, axis=1, keepdims=True)
        y = tf.exp(x - m)
    regions, _ = _partition([y], [x])
    assert len(regions) == 1 and regions[0].split == 1


def test_float16_ops_run_on_the_host_one_per_region():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float16, [4])
        y = tf.exp(x) + x
    regions, _ = _partition([y], [x])
    assert [(r.kind, _types(r)) for r in regions] == [("host", ["Exp"]), ("host", ["Add"])]


def test_standalone_ops_get_their_own_kind():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4, 8])
        a = tf.argmax(tf.exp(x), axis=1)
    _, region_of = _partition([a], [x])
    assert region_of[a.op].kind == "standalone" and region_of[a.op].ops == [a.op]
