"""Optional systems: JAX jit, PyTorch (native ops) and ONNX Runtime, each only when it can be
imported. `available()` says which; `systems(wid, threads)` gives their (name, builder)
pairs for a workload, in the form `workloads.py` uses.
"""

from __future__ import annotations

import importlib.util

import numpy as np
from workloads import EPS, GELU_C, GELU_K


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available() -> dict[str, bool]:
    return {"jax": _importable("jax"), "torch": _importable("torch"),
            "onnxruntime": _importable("onnxruntime") and _importable("onnx")}


def systems(wid: str, threads: int) -> list:
    have = available()
    out = []
    if have["jax"]:
        out.append(("JAX jit (XLA)", _jax(wid)))
    if have["torch"]:
        out.append(("PyTorch, native ops", _torch(wid, threads)))
    if have["onnxruntime"] and wid != "W5":
        out.append(("ONNX Runtime", _ort(wid, threads)))
    return out


# -- JAX ----------------------------------------------------------------------------------

def _jax_fn(wid):
    import jax
    import jax.numpy as jnp

    def mlp_loss(x, labels, w1, b1, w2, b2, w3, b3):
        h = jax.nn.relu(x @ w1 + b1)
        h = jax.nn.relu(h @ w2 + b2)
        log_p = jax.nn.log_softmax(h @ w3 + b3, axis=-1)
        return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))

    def layernorm(x, gamma, beta):
        mean = x.mean(-1, keepdims=True)
        var = jnp.square(x - mean).mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + EPS) * gamma + beta

    def loss_and_grads(*args):
        loss, grads = jax.value_and_grad(mlp_loss, argnums=(2, 3, 4, 5, 6, 7))(*args)
        return (loss, *grads)

    return {
        "W1": lambda x: 0.5 * x * (1 + jnp.tanh(GELU_K * (x + GELU_C * x * x * x))),
        "W2": lambda x: jax.nn.softmax(x, axis=-1),
        "W3": layernorm,
        "W4": mlp_loss,
        "W5": loss_and_grads,
        "W6": lambda a, b, c: a * b + c,
    }[wid]


def _jax(wid):
    def build(*inputs):
        import jax

        f = jax.jit(_jax_fn(wid))
        args = [jax.device_put(a) for a in inputs]
        return None, lambda: jax.block_until_ready(f(*args))
    return build


# -- PyTorch ------------------------------------------------------------------------------

def _torch(wid, threads):
    def build(*inputs):
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)
        t = [torch.from_numpy(a) for a in inputs]

        def forward(x, labels, w1, b1, w2, b2, w3, b3):
            h = F.relu(torch.addmm(b1, x, w1))
            h = F.relu(torch.addmm(b2, h, w2))
            return F.cross_entropy(torch.addmm(b3, h, w3), labels)

        if wid in ("W4", "W5"):
            t[1] = t[1].long()
        if wid == "W5":
            params = [p.clone().requires_grad_(True) for p in t[2:]]

            def step():
                loss = forward(t[0], t[1], *params)
                grads = torch.autograd.grad(loss, params)
                return tuple(v.detach().numpy() for v in (loss, *grads))
            return None, step
        fn = {
            "W1": lambda x: F.gelu(x, approximate="tanh"),
            "W2": lambda x: torch.softmax(x, -1),
            "W3": lambda x, g, b: F.layer_norm(x, (x.shape[-1],), g, b, EPS),
            "W4": forward,
            "W6": lambda a, b, c: torch.addcmul(c, a, b),
        }[wid]

        def call():
            with torch.inference_mode():
                return fn(*t).numpy()
        return None, call
    return build


# -- ONNX Runtime -------------------------------------------------------------------------

def _onnx_graph(wid, inputs):
    """(nodes, initializers, opset) of the workload: a primitive graph for gelu, the standard
    Softmax / LayerNormalization / SoftmaxCrossEntropyLoss ops elsewhere."""
    from onnx import helper, numpy_helper

    def const(name, value):
        return numpy_helper.from_array(np.asarray(value, np.float32), name)

    n = helper.make_node
    if wid == "W1":
        inits = [const("c", GELU_C), const("k", GELU_K), const("one", 1.0),
                 const("half", 0.5)]
        nodes = [n("Mul", ["x", "x"], ["x2"]), n("Mul", ["x2", "x"], ["x3"]),
                 n("Mul", ["x3", "c"], ["cx3"]), n("Add", ["x", "cx3"], ["s"]),
                 n("Mul", ["s", "k"], ["u"]), n("Tanh", ["u"], ["t"]),
                 n("Add", ["t", "one"], ["t1"]), n("Mul", ["x", "t1"], ["xt"]),
                 n("Mul", ["xt", "half"], ["y"])]
        return nodes, inits, 13
    if wid == "W2":
        return [n("Softmax", ["x"], ["y"], axis=-1)], [], 13
    if wid == "W3":
        return [n("LayerNormalization", ["x", "gamma", "beta"], ["y"], axis=-1,
                  epsilon=EPS)], [], 17
    if wid == "W4":
        nodes = [n("MatMul", ["x", "W1"], ["m1"]), n("Add", ["m1", "b1"], ["a1"]),
                 n("Relu", ["a1"], ["h1"]), n("MatMul", ["h1", "W2"], ["m2"]),
                 n("Add", ["m2", "b2"], ["a2"]), n("Relu", ["a2"], ["h2"]),
                 n("MatMul", ["h2", "W3"], ["m3"]), n("Add", ["m3", "b3"], ["z"]),
                 n("SoftmaxCrossEntropyLoss", ["z", "labels"], ["y"], reduction="mean")]
        return nodes, [], 13
    if wid == "W6":
        return [n("Mul", ["a", "b"], ["ab"]), n("Add", ["ab", "c"], ["y"])], [], 13
    raise KeyError(wid)


_ORT_INPUTS = {"W1": ["x"], "W2": ["x"], "W3": ["x", "gamma", "beta"],
               "W4": ["x", "labels", "W1", "b1", "W2", "b2", "W3", "b3"], "W6": ["a", "b", "c"]}


def _ort(wid, threads):
    def build(*inputs):
        import onnxruntime as ort
        from onnx import TensorProto, helper

        names = _ORT_INPUTS[wid]
        arrays = [a.astype(np.int64) if a.dtype.kind == "i" else a for a in inputs]
        nodes, inits, opset = _onnx_graph(wid, arrays)
        kinds = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}
        graph = helper.make_graph(
            nodes, f"graphjit_bench_{wid}",
            [helper.make_tensor_value_info(nm, kinds[a.dtype], list(a.shape))
             for nm, a in zip(names, arrays)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Its threads would otherwise spin after each run and take the cores from the
        # system timed next (measured: graphjit's W4 1.36 -> 4.2 ms, Numba's alike).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        feeds = dict(zip(names, arrays))
        return None, lambda: session.run(None, feeds)[0]
    return build
