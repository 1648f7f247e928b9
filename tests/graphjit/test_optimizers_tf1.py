"""RMSProp, Adagrad, Adadelta, Ftrl and ProximalGradientDescent against NumPy
transcriptions of TF 1.15's kernels (ApplyRMSProp, ApplyCenteredRMSProp,
ApplyAdagrad, ApplyAdadelta, ApplyFtrl/ApplyFtrlV2, ApplyProximalGradientDescent).

Each case trains a small TF1 program (linear or logistic regression fed batch by
batch through placeholders, `minimize(loss, global_step)`, `sess.run(train)`)
in both engines and checks the weights after every step, and the slots at the
end, against the same program in float64 NumPy with gradients by hand. Also:
TF's constructor signatures and defaults, slot names, argument checks,
hyperparameters given as tensors, and one fused kernel per variable update.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphjit as tf

ENGINES = ["compiled", "reference"]
STEPS = 6
RNG = np.random.default_rng(13)
TRUE_W = np.array([[1.5], [0.0], [-2.0]])  # the zero weight is where l1 makes zeros
W0 = np.array([[0.5], [-0.3], [0.2]], np.float32)
B0 = np.array([0.1], np.float32)
BATCHES = [RNG.standard_normal((16, 3)).astype(np.float32) for _ in range(STEPS)]
TARGETS = {
    "linear": [(x @ TRUE_W + 0.3 + 0.1 * RNG.standard_normal((16, 1))).astype(np.float32)
               for x in BATCHES],
    "logistic": [(x @ TRUE_W + 0.3 > 0).astype(np.float32) for x in BATCHES],
}


def _train(make_optimizer, engine, problem, feed_extra=None):
    """Run the TF1 program for STEPS steps; return the (w, b) after each step, the
    slots' final values {name: (w's, b's)}, the optimizer and the graph."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.placeholder(tf.float32, [None, 1], name="y")
        w = tf.Variable(W0, name="w")
        b = tf.Variable(B0, name="b")
        logits = tf.matmul(x, w) + b
        if problem == "linear":
            loss = tf.reduce_mean(tf.square(logits - y))
        else:
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y,
                                                                          logits=logits))
        step = tf.train.create_global_step()
        opt = make_optimizer()
        train = opt.minimize(loss, global_step=step)
        init = tf.global_variables_initializer()
    trace = []
    with tf.Session(graph=graph, engine=engine) as sess:
        sess.run(init)
        for i, (xd, yd) in enumerate(zip(BATCHES, TARGETS[problem])):
            feed = {x: xd, y: yd, **(feed_extra(i) if feed_extra else {})}
            assert sess.run(train, feed) is None
            trace.append(sess.run([w, b]))
        assert sess.run(step) == STEPS
        slots = {name: tuple(sess.run(opt.get_slot(v, name)) for v in (w, b))
                 for name in opt.get_slot_names()}
    return trace, slots, opt, graph


def _numpy_train(update, slot_init, problem):
    """The same program in float64: `update(var, grad, slots, step)` returns the new var
    and updates the var's slots (a dict starting at `slot_init`) in place."""
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    slots = [{k: np.full_like(p, v) for k, v in slot_init.items()} for p in params]
    trace = []
    for i, (x, y) in enumerate(zip(BATCHES, TARGETS[problem])):
        x, y = x.astype(np.float64), y.astype(np.float64)
        z = x @ params[0] + params[1]
        # d(loss)/d(logits): mean squared error, or mean sigmoid cross-entropy.
        dz = (2 * (z - y) if problem == "linear" else 1 / (1 + np.exp(-z)) - y) / len(x)
        grads = [x.T @ dz, dz.sum(0)]
        params = [update(p, g, s, i) for p, g, s in zip(params, grads, slots)]
        trace.append(params)
    return trace, {k: (slots[0][k], slots[1][k]) for k in slot_init}


# -- TF 1.15's kernels in NumPy: (update, initial slot values) ------------------------

def rmsprop(lr, decay=0.9, momentum=0.0, epsilon=1e-10, centered=False):
    def update(var, g, s, _):
        s["rms"] += (g * g - s["rms"]) * (1 - decay)
        denom = s["rms"] + epsilon
        if centered:
            s["mg"] += (g - s["mg"]) * (1 - decay)
            denom = s["rms"] - s["mg"] ** 2 + epsilon
        s["momentum"] = momentum * s["momentum"] + lr * g / np.sqrt(denom)
        return var - s["momentum"]
    return update, {"rms": 1.0, "momentum": 0.0, **({"mg": 0.0} if centered else {})}


def adagrad(lr, initial_accumulator_value=0.1):
    def update(var, g, s, step):
        s["accumulator"] += g * g
        return var - lr(step) * g / np.sqrt(s["accumulator"])
    if not callable(lr):
        lr = (lambda value: lambda step: value)(lr)
    return update, {"accumulator": initial_accumulator_value}


def adadelta(lr=0.001, rho=0.95, epsilon=1e-8):
    def update(var, g, s, _):
        s["accum"] = rho * s["accum"] + (1 - rho) * g * g
        delta = np.sqrt(s["accum_update"] + epsilon) / np.sqrt(s["accum"] + epsilon) * g
        s["accum_update"] = rho * s["accum_update"] + (1 - rho) * delta * delta
        return var - lr * delta
    return update, {"accum": 0.0, "accum_update": 0.0}


def ftrl(lr, lr_power=-0.5, initial_accumulator_value=0.1, l1=0.0, l2=0.0, shrinkage=0.0):
    def update(var, g, s, _):
        g_shrunk = g + 2 * shrinkage * var
        new_accum = s["accum"] + g * g  # the plain gradient, not g_shrunk
        s["linear"] += g_shrunk - (new_accum ** -lr_power - s["accum"] ** -lr_power) / lr * var
        quadratic = new_accum ** -lr_power / lr + 2 * l2
        s["accum"] = new_accum
        # Branch margins: float32 and float64 must take the same side of |linear| > l1.
        assert np.all(np.abs(np.abs(s["linear"]) - l1) > 1e-4)
        return np.where(np.abs(s["linear"]) > l1,
                        (l1 * np.sign(s["linear"]) - s["linear"]) / quadratic, 0.0)
    return update, {"accum": initial_accumulator_value, "linear": 0.0}


def proximal(lr, l1=0.0, l2=0.0):
    def update(var, g, s, _):
        prox = var - lr * g
        return np.sign(prox) * np.maximum(np.abs(prox) - lr * l1, 0) / (1 + lr * l2)
    return update, {}


CASES = {
    "rmsprop": (lambda: tf.train.RMSPropOptimizer(0.01), rmsprop(0.01), "linear"),
    "rmsprop-momentum-eps": (lambda: tf.train.RMSPropOptimizer(0.01, momentum=0.9, epsilon=0.5),
                             rmsprop(0.01, momentum=0.9, epsilon=0.5), "linear"),
    "rmsprop-centered": (
        lambda: tf.train.RMSPropOptimizer(0.05, decay=0.8, momentum=0.5, epsilon=0.1,
                                          centered=True),
        rmsprop(0.05, decay=0.8, momentum=0.5, epsilon=0.1, centered=True), "logistic"),
    "adagrad": (lambda: tf.train.AdagradOptimizer(0.1), adagrad(0.1), "linear"),
    "adagrad-accum": (lambda: tf.train.AdagradOptimizer(0.5, initial_accumulator_value=2.0),
                      adagrad(0.5, 2.0), "logistic"),
    "adadelta": (lambda: tf.train.AdadeltaOptimizer(1.0), adadelta(1.0), "linear"),
    "adadelta-rho-eps": (lambda: tf.train.AdadeltaOptimizer(0.5, rho=0.5, epsilon=1e-2),
                         adadelta(0.5, 0.5, 1e-2), "logistic"),
    "ftrl": (lambda: tf.train.FtrlOptimizer(0.1), ftrl(0.1), "linear"),
    "ftrl-l1-l2": (
        lambda: tf.train.FtrlOptimizer(0.5, l1_regularization_strength=1.5,
                                       l2_regularization_strength=0.2),
        ftrl(0.5, l1=1.5, l2=0.2), "linear"),
    "ftrl-shrinkage": (
        lambda: tf.train.FtrlOptimizer(0.5, l1_regularization_strength=0.05,
                                       l2_regularization_strength=0.1,
                                       l2_shrinkage_regularization_strength=0.4),
        ftrl(0.5, l1=0.05, l2=0.1, shrinkage=0.4), "logistic"),
    "ftrl-lr-power": (
        lambda: tf.train.FtrlOptimizer(0.2, learning_rate_power=-0.25,
                                       initial_accumulator_value=0.0),
        ftrl(0.2, lr_power=-0.25, initial_accumulator_value=0.0), "linear"),
    "proximal": (lambda: tf.train.ProximalGradientDescentOptimizer(0.1), proximal(0.1),
                 "linear"),
    "proximal-l1": (lambda: tf.train.ProximalGradientDescentOptimizer(0.1, 1.0),
                    proximal(0.1, l1=1.0), "linear"),
    "proximal-l1-l2": (lambda: tf.train.ProximalGradientDescentOptimizer(0.2, 0.1, 0.5),
                       proximal(0.2, l1=0.1, l2=0.5), "logistic"),
    "proximal-l2": (lambda: tf.train.ProximalGradientDescentOptimizer(0.1, 0.0, 1.0),
                    proximal(0.1, l2=1.0), "linear"),
}


def _check(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES)
def test_training_matches_tf_kernel_step_by_step(case, engine):
    make, (update, slot_init), problem = CASES[case]
    trace, slots, opt, _ = _train(make, engine, problem)
    expected, expected_slots = _numpy_train(update, slot_init, problem)
    for step, ((w, b), (ew, eb)) in enumerate(zip(trace, expected)):
        assert w.dtype == np.float32
        _check(w, ew), _check(b, eb)
        if case in ("ftrl-l1-l2", "proximal-l1") and step >= 2:
            assert w[1, 0] == 0 and np.all(w[[0, 2]] != 0), w  # l1 zeroes the unused weight
    assert sorted(slots) == sorted(expected_slots) == opt.get_slot_names()
    for name, (sw, sb) in slots.items():
        _check(sw, expected_slots[name][0]), _check(sb, expected_slots[name][1])
    w_moved = np.abs(trace[-1][0] - W0).max()
    assert w_moved > 1e-3, f"{case}: the weights hardly moved ({w_moved}); a weak check"


def test_hyperparameters_as_tensors():
    """A fed learning rate, and other hyperparameters given as tensors (Ftrl's lr_power
    then takes pow rather than sqrt, proximal's l1 its l1 > 0 branch): TF's results."""
    holder = {}

    def adagrad_fed():
        holder["lr"] = tf.placeholder(tf.float32, [], name="lr")
        return tf.train.AdagradOptimizer(holder["lr"])

    rates = [0.3, 0.2, 0.1, 0.1, 0.05, 0.05]
    update, slot_init = adagrad(lambda step: rates[step])
    expected, _ = _numpy_train(update, slot_init, "linear")
    for engine in ENGINES:
        trace, *_ = _train(adagrad_fed, engine, "linear", lambda i: {holder["lr"]: rates[i]})
        for (w, b), (ew, eb) in zip(trace, expected):
            _check(w, ew), _check(b, eb)

    tensor_cases = [
        (lambda: tf.train.FtrlOptimizer(0.5, learning_rate_power=tf.constant(-0.5),
                                        l1_regularization_strength=tf.constant(0.3),
                                        l2_regularization_strength=0.2),
         ftrl(0.5, l1=0.3, l2=0.2)),
        (lambda: tf.train.ProximalGradientDescentOptimizer(0.1, tf.constant(1.0),
                                                           tf.constant(0.5)),
         proximal(0.1, l1=1.0, l2=0.5)),
        (lambda: tf.train.RMSPropOptimizer(tf.constant(0.01), momentum=tf.constant(0.9)),
         rmsprop(0.01, momentum=0.9)),
    ]
    for make, (update, slot_init) in tensor_cases:
        expected, _ = _numpy_train(update, slot_init, "linear")
        for engine in ENGINES:
            trace, *_ = _train(make, engine, "linear")
            for (w, b), (ew, eb) in zip(trace, expected):
                _check(w, ew), _check(b, eb)


# TF 1.15's signatures, defaults included (tf.compat.v1.train.*Optimizer.__init__).
TF_SIGNATURES = {
    "RMSPropOptimizer": "(learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, "
                        "use_locking=False, centered=False, name='RMSProp')",
    "AdagradOptimizer": "(learning_rate, initial_accumulator_value=0.1, use_locking=False, "
                        "name='Adagrad')",
    "AdadeltaOptimizer": "(learning_rate=0.001, rho=0.95, epsilon=1e-08, use_locking=False, "
                         "name='Adadelta')",
    "FtrlOptimizer": "(learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1, "
                     "l1_regularization_strength=0.0, l2_regularization_strength=0.0, "
                     "use_locking=False, name='Ftrl', accum_name=None, linear_name=None, "
                     "l2_shrinkage_regularization_strength=0.0)",
    "ProximalGradientDescentOptimizer": "(learning_rate, l1_regularization_strength=0.0, "
                                        "l2_regularization_strength=0.0, use_locking=False, "
                                        "name='ProximalGradientDescent')",
}


@pytest.mark.parametrize("cls", TF_SIGNATURES)
def test_constructor_signature_is_tf_1_15s(cls):
    params = inspect.signature(getattr(tf.train, cls)).parameters.values()
    plain = [p.replace(annotation=inspect.Parameter.empty) for p in params]
    assert str(inspect.Signature(plain)) == TF_SIGNATURES[cls]


def _slots_of(make):
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(W0, name="w")
        gw = tf.placeholder(tf.float32, [3, 1], name="gw")
        opt = make()
        train = opt.apply_gradients([(gw, w)])
    return opt, w, graph, train


@pytest.mark.parametrize("make, slots", [
    (lambda: tf.train.RMSPropOptimizer(0.1), {"rms": "w/RMSProp", "momentum": "w/RMSProp_1"}),
    (lambda: tf.train.RMSPropOptimizer(0.1, centered=True),
     {"rms": "w/RMSProp", "mg": "w/RMSProp_1", "momentum": "w/RMSProp_2"}),
    (lambda: tf.train.AdagradOptimizer(0.1), {"accumulator": "w/Adagrad"}),
    (lambda: tf.train.AdadeltaOptimizer(), {"accum": "w/Adadelta",
                                            "accum_update": "w/Adadelta_1"}),
    (lambda: tf.train.FtrlOptimizer(0.1), {"accum": "w/Ftrl", "linear": "w/Ftrl_1"}),
    (lambda: tf.train.FtrlOptimizer(0.1, accum_name="acc", linear_name="lin"),
     {"accum": "w/acc", "linear": "w/lin"}),
    (lambda: tf.train.ProximalGradientDescentOptimizer(0.1), {}),
], ids=["rmsprop", "rmsprop-centered", "adagrad", "adadelta", "ftrl", "ftrl-named",
        "proximal"])
def test_slot_names_and_initial_values(make, slots):
    opt, w, graph, _ = _slots_of(make)
    assert opt.get_slot_names() == sorted(slots)
    assert {k: opt.get_slot(w, k).op.name for k in slots} == slots
    assert all(not opt.get_slot(w, k).trainable for k in slots)
    assert tf.trainable_variables(graph=graph) == [w]
    initial = {"rms": 1.0, "accumulator": 0.1, "accum": 0.1 if "Ftrl" in opt.get_name() else 0}
    with tf.Session(graph=graph) as sess:
        sess.run(tf.variables_initializer(opt.variables()))
        for k in slots:
            value = sess.run(opt.get_slot(w, k))
            assert value.dtype == np.float32 and value.shape == (3, 1)
            np.testing.assert_array_equal(value, np.float32(initial.get(k, 0.0)))


@pytest.mark.parametrize("make, match", [
    (lambda: tf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0), "must be positive"),
    (lambda: tf.train.FtrlOptimizer(0.1, initial_accumulator_value=-0.1),
     "initial_accumulator_value -0.1 needs to be positive or zero"),
    (lambda: tf.train.FtrlOptimizer(0.1, learning_rate_power=0.5), "negative or zero"),
    (lambda: tf.train.FtrlOptimizer(0.1, l1_regularization_strength=-1.0), "l1_reg"),
    (lambda: tf.train.FtrlOptimizer(0.1, l2_regularization_strength=-1.0), "l2_reg"),
    (lambda: tf.train.FtrlOptimizer(0.1, l2_shrinkage_regularization_strength=-1.0),
     "l2_shrinkage"),
])
def test_bad_hyperparameters_are_refused_as_tf_does(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make", [
    lambda: tf.train.RMSPropOptimizer(0.1, momentum=0.9, centered=True),
    lambda: tf.train.AdagradOptimizer(0.1),
    lambda: tf.train.AdadeltaOptimizer(1.0),
    lambda: tf.train.FtrlOptimizer(0.1, l1_regularization_strength=0.1,
                                   l2_shrinkage_regularization_strength=0.1),
], ids=["rmsprop-centered", "adagrad", "adadelta", "ftrl-shrinkage"])
def test_update_of_each_variable_is_one_kernel(make):
    opt, w, graph, train = _slots_of(make)
    fn = tf.compile(train)
    stores = {}
    for step in fn.kernels:
        for name in step.ops:
            op = graph.get_operation_by_name(name)
            if op.type == "Assign":
                stores.setdefault(step.name, []).append(op.inputs[0].op.name)
    targets = sorted([opt.get_slot(w, k).op.name for k in opt.get_slot_names()] + ["w"])
    assert [sorted(t) for t in stores.values()] == [targets], fn.kernels


@pytest.mark.parametrize("make", [lambda: tf.train.RMSPropOptimizer(0.1),
                                  lambda: tf.train.AdamOptimizer(0.1)])
def test_slots_made_under_update_dependencies_initialize_without_feeds(make):
    """The batch-norm pattern: minimize() under control_dependencies(UPDATE_OPS), whose
    updates read a placeholder. TF creates slots in an init scope, free of those
    dependencies, so global_variables_initializer() needs no feed."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        w = tf.Variable(np.ones((2, 1), np.float32), name="w")
        moving = tf.Variable(np.zeros(2, np.float32), trainable=False, name="moving")
        update = tf.assign(moving, tf.reduce_mean(x, 0))
        loss = tf.reduce_mean(tf.matmul(x, w) ** 2)
        with tf.control_dependencies([update]):
            train = make().minimize(loss)
        init = tf.global_variables_initializer()
    with tf.Session(graph=graph) as sess:
        sess.run(init)  # no feed
        sess.run(train, {x: np.ones((3, 2), np.float32)})
        np.testing.assert_array_equal(sess.run(moving), [1.0, 1.0])  # the update ran
