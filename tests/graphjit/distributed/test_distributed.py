"""graphjit.distributed against one process: every result equals the single-process
compiled one, for row-wise fetches, each batch reduction over uneven chunks, fetches
mixing both, training steps; and the errors for row-mixing ops and worker failures."""

import numpy as np
import pytest

import graphjit as tf

da = pytest.importorskip("dask.array")
gjd = pytest.importorskip("graphjit.distributed")

UNEVEN = ((40, 7, 33, 23), (5,))  # 103 rows in chunks of different sizes


def _check(got, want, rtol=1e-5, atol=1e-6):
    got = got.compute() if hasattr(got, "compute") else got
    np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def model():
    """A graph with row-wise fetches, every reduction kind, moments and what follows them."""
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 5], name="x")
        w = tf.constant(rng.standard_normal((5, 3)).astype(np.float32), name="w")
        probs = tf.nn.softmax(tf.matmul(x, w), name="probs")
        mean, var = tf.nn.moments(x, [0])
        fetches = {
            "probs": probs,
            "label": tf.argmax(probs, 1),
            "sum": tf.reduce_sum(x, 0),
            "mean_all": tf.reduce_mean(probs),
            "max": tf.reduce_max(x, 0, keepdims=True),
            "min": tf.reduce_min(x),
            "mean": mean,
            "variance": var,
            "normalized": (x - mean) / tf.sqrt(var + 1e-3),  # rows after reductions
            "finished": tf.reduce_mean(probs) * 3.0 + tf.reduce_sum(w),
        }
    names = list(fetches)
    xv = rng.standard_normal((103, 5)).astype(np.float32)
    want = tf.compile(g, fetches=list(fetches.values()))(xv)
    return g, names, list(fetches.values()), xv, dict(zip(names, want))


@pytest.fixture(scope="module")
def results(model, client):
    g, names, fetches, xv, _ = model
    dfn = gjd.compile(g, fetches=fetches, client=client)
    return dfn, dict(zip(names, dfn(x=da.from_array(xv, chunks=UNEVEN))))


def test_row_wise_fetches_are_dask_arrays_chunked_like_the_input(model, results):
    _, want = model[0], model[4]
    dfn, got = results
    for name in ("probs", "label"):
        assert isinstance(got[name], da.Array)
        assert got[name].chunks[0] == UNEVEN[0]
        _check(got[name], want[name])


@pytest.mark.parametrize("name", ["sum", "mean_all", "max", "min", "mean", "variance"])
def test_each_reduction_over_uneven_chunks(model, results, name):
    got = results[1][name]
    assert isinstance(got, np.ndarray) and got.shape == model[4][name].shape
    _check(got, model[4][name])


@pytest.mark.parametrize("name", ["normalized", "finished"])
def test_fetches_mixing_rows_and_reductions(model, results, name):
    _check(results[1][name], model[4][name])


def test_explain_shows_the_split(results):
    text = results[0].explain()
    assert "level 1" in text and "level 2" in text  # the variance needs the mean first
    assert "sum of partials / sum of row counts" in text
    assert "finishing graph" in text and "rows: probs:0" in text


def test_workers_compile_each_function_once(model, client):
    g, _, fetches, xv, want = model
    dfn = gjd.compile(g, fetches=[fetches[0], fetches[2]], client=client)

    def stats():
        return client.run(lambda: __import__("graphjit.distributed.worker").distributed
                          .worker.stats())

    before = stats()
    for _ in range(3):
        probs, total = dfn(x=da.from_array(xv, chunks=UNEVEN))
        _check(probs, want["probs"])
        _check(total, want["sum"], rtol=1e-4)
    after = stats()
    calls = sum(after[w]["calls"] - before[w]["calls"] for w in after)
    assert calls == 3 * 2 * len(UNEVEN[0])  # 3 calls, 2 stages (partials, rows), 4 chunks
    for w in after:  # each worker loaded the graph at most once, each stage's function too
        assert after[w]["graphs"] - before[w]["graphs"] <= 1
        assert after[w]["functions"] - before[w]["functions"] <= 2


def test_row_mixing_op_is_an_error_naming_it():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        flipped = tf.transpose(x, name="flip")  # the batch axis moves
    with pytest.raises(gjd.BatchAxisError, match=r"Transpose 'flip'.*test_distributed\.py:\d+"):
        gjd.compile(g, fetches=[flipped], client=object())  # fails before using a cluster


def test_worker_failure_comes_back_as_the_graphjit_error(client):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        v = tf.placeholder(tf.float32, [None], name="v")
        y = x + v  # shapes meet only when the worker plans the chunk
        total = tf.reduce_sum(y, 0, name="total")
    dfn = gjd.compile(g, fetches=[total], client=client, batch_inputs=["x"])
    with pytest.raises(tf.ShapeError, match=r"Add 'add'.*test_distributed\.py:\d+"):
        dfn(x=da.ones((10, 3), chunks=5, dtype=np.float32), v=np.ones(5, np.float32))


def _mlp(seed=0):
    rng = np.random.default_rng(seed)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 64], name="x")
        y = tf.placeholder(tf.int64, [None], name="y")
        h = tf.nn.relu(tf.matmul(x, tf.Variable(
            (rng.standard_normal((64, 32)) * 0.1).astype(np.float32), name="w1"))
            + tf.Variable(np.zeros(32, np.float32), name="b1"))
        logits = tf.matmul(h, tf.Variable(
            (rng.standard_normal((32, 10)) * 0.1).astype(np.float32), name="w2")) \
            + tf.Variable(np.zeros(10, np.float32), name="b2")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=logits))
    return g, loss


def _one_process_step(g, loss, optimizer, feeds=None):
    """The single-process baseline: (a compiled training step returning [loss, None], the
    state holding its variables, initialized)."""
    with g.as_default():
        train = optimizer.minimize(loss)
        init = tf.global_variables_initializer()
    state: dict = {}
    tf.compile(init, state=state)()
    return tf.compile(g, fetches=[loss, train], feeds=feeds, state=state), state


def test_data_parallel_adam_matches_one_process(client):
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((100, 64)).astype(np.float32)  # digits-shaped: 8x8 pixels
    ys = rng.integers(0, 10, 100)
    g, loss = _mlp()
    step, state = _one_process_step(g, loss, tf.train.AdamOptimizer(0.01))
    want = [float(step(xs[i:i + 25], ys[i:i + 25])[0]) for i in range(0, 100, 25)]
    g2, loss2 = _mlp()
    dp = gjd.DataParallel(loss2, tf.train.AdamOptimizer(0.01), client)
    got = dp.epoch({"x": xs[:75], "y": ys[:75]}, batch_size=25)  # NumPy batches: 2 shards
    got.append(dp.step(x=da.from_array(xs[75:], chunks=9), y=da.from_array(ys[75:], chunks=9)))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # Adam divides by the gradients' root mean square: on a weight whose gradient is near
    # zero, float rounding of the shard sums moves the update by up to a few 1e-6 (steps
    # are 1e-2 here)
    for name in ("w1", "b1", "w2", "b2"):
        np.testing.assert_allclose(dp.state[name], state[name], rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("form", ["square", "max"])
def test_data_parallel_refuses_a_loss_that_is_not_a_batch_mean(client, form):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        w = tf.Variable(np.ones((2, 1), np.float32), name="w")
        m = tf.reduce_mean(tf.matmul(x, w))
        # per-shard gradients of these do not add up to the batch's
        loss = m * m if form == "square" else m + tf.reduce_max(x)
    with pytest.raises(gjd.BatchAxisError, match="mean or a sum over examples"):
        gjd.DataParallel(loss, tf.train.GradientDescentOptimizer(0.1), client)


def test_data_parallel_feeds_non_batch_placeholders_whole(client):
    """A fed learning rate (the optimizer's) and a fed scalar in the loss (a logits scale)
    have no batch axis: every shard gets them whole; steps equal one process's."""
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((60, 64)).astype(np.float32)
    ys = rng.integers(0, 10, 60)
    rates = [0.02, 0.01, 0.005]

    def build():
        g, loss = _mlp()
        with g.as_default():
            lr = tf.placeholder(tf.float32, [], name="lr")
            scale = tf.placeholder(tf.float32, name="scale")  # unknown rank: not a batch
            loss = loss * scale
        return g, loss, lr

    g, loss, lr = build()
    step, state = _one_process_step(g, loss, tf.train.AdamOptimizer(lr), ["x", "y", "lr", "scale"])
    want = [float(step(xs[i * 20:i * 20 + 20], ys[i * 20:i * 20 + 20], r, 1.5)[0])
            for i, r in enumerate(rates)]
    g2, loss2, lr2 = build()
    dp = gjd.DataParallel(loss2, tf.train.AdamOptimizer(lr2), client)
    assert [t.name for t in dp.batch_inputs] == ["x:0", "y:0"]
    got = [dp.step(x=xs[:20], y=ys[:20], lr=rates[0], scale=np.float32(1.5))]
    got += [dp.step({"x": xs[i * 20:i * 20 + 20], "y": ys[i * 20:i * 20 + 20], lr2: r,
                     "scale": 1.5}) for i, r in list(enumerate(rates))[1:]]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for name in ("w1", "b1", "w2", "b2"):
        np.testing.assert_allclose(dp.state[name], state[name], rtol=1e-4, atol=2e-5)
    with pytest.raises(tf.FeedError, match="missing input lr:0"):
        dp.step(x=xs[:20], y=ys[:20], scale=1.5)
    with pytest.raises(tf.FeedError, match=r"'y:0' has 10 rows.*batch_inputs="):
        dp.step(x=xs[:20], y=ys[:10], lr=0.1, scale=1.5)


def _dropout_model():
    rng = np.random.default_rng(5)
    g = tf.Graph()
    g.seed = 7
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 16], name="x")
        y = tf.placeholder(tf.int64, [None], name="y")
        keep_prob = tf.placeholder(tf.float32, name="keep_prob")
        w1 = tf.Variable((rng.standard_normal((16, 12)) * 0.3).astype(np.float32), name="w1")
        w2 = tf.Variable((rng.standard_normal((12, 4)) * 0.3).astype(np.float32), name="w2")
        h = tf.nn.dropout(tf.nn.relu(tf.matmul(x, w1)), keep_prob)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=tf.matmul(h, w2)))
    return g, loss


def test_data_parallel_with_a_fed_keep_prob(client):
    """Dropout's keep_prob is fed whole to every shard: fed 1.0, steps equal one process's;
    fed 0.5, each shard draws its own masks, the same again for the same graph seed."""
    rng = np.random.default_rng(6)
    xs = rng.standard_normal((40, 16)).astype(np.float32)
    ys = rng.integers(0, 4, 40)
    g, loss = _dropout_model()
    step, state = _one_process_step(g, loss, tf.train.GradientDescentOptimizer(0.5),
                                    ["x", "y", "keep_prob"])
    want = [float(step(xs[i:i + 20], ys[i:i + 20], 1.0)[0]) for i in (0, 20)]

    def run(keep_prob):
        dp = gjd.DataParallel(_dropout_model()[1], tf.train.GradientDescentOptimizer(0.5),
                              client)
        return dp.epoch({"x": xs, "y": ys, "keep_prob": keep_prob}, batch_size=20)

    np.testing.assert_allclose(run(1.0), want, rtol=1e-5)
    dropped = run(0.5)
    assert dropped == run(0.5)  # the same graph seed draws the same masks
    assert np.all(np.isfinite(dropped)) and not np.allclose(dropped, want)
