"""Data-parallel training on a Dask cluster: per-shard gradients, one optimizer update.

Each step, every shard of the batch computes the loss and the gradients of the
variables on its rows (a worker task with the current variable values, and the fed
values of placeholders without a batch axis, such as a `keep_prob`, whole); the driver
combines them as a batch reduction does (a mean loss: each shard weighted by its rows,
divided by the batch's rows), applies the optimizer's update once to its own variables
(with the placeholders it needs fed, a learning rate), and sends the new values with the
next step's tasks. Random draws (dropout's masks) use a generator per shard and step,
spawned from one the driver keeps (seeded by the op's seed, if the graph has one), so
shards draw independent masks and a seeded run draws the same ones again. Without
draws, the result equals one process training on the same batches, within float rounding.
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np

from graphjit.api import compile as compile_graph
from graphjit.autodiff import gradients
from graphjit.distributed import dask_runner
from graphjit.distributed.batch_axis import REDUCED, BatchAxisError, classify, needed_ops
from graphjit.distributed.function import _batch_and_const
from graphjit.distributed.saved import to_bytes
from graphjit.errors import FeedError
from graphjit.graph import Tensor
from graphjit.ops.core import placeholder
from graphjit.ops.state_ops import _DRAWS
from graphjit.variables import global_variables_initializer

_LINEAR = {"Add", "AddV2", "AddN", "Sub", "Mul", "Identity", "Neg", "RealDiv"}


def _weighting(loss: Tensor, batch: list[Tensor]) -> str:
    """"mean" or "sum": how per-shard losses combine into the batch's loss."""
    analysis = classify([loss], batch)
    if analysis.kind(loss) != REDUCED:
        raise BatchAxisError(f"the loss {loss.name} is not a reduction over the batch axis: "
                             f"data-parallel training needs a mean or sum over examples")
    kinds = {r.kind for r in analysis.reductions.values()}
    levels = {r.level for r in analysis.reductions.values()}
    if len(kinds) != 1 or kinds - {"mean", "sum"} or levels != {1}:
        raise BatchAxisError(f"the loss {loss.name} combines batch reductions "
                             f"{sorted(kinds)}: per-shard gradients add up only for a loss "
                             f"that is a mean or a sum over examples")
    for op in needed_ops([loss]):
        reduced = [analysis.kind(x) == REDUCED for x in op.inputs]
        if op.name in analysis.reductions or not any(reduced):
            continue
        # affine in the batch reductions: sums of them, times or over constants
        if op.type not in _LINEAR or (op.type in ("Mul", "RealDiv") and sum(reduced) > 1) \
                or (op.type == "RealDiv" and reduced[1]):
            raise BatchAxisError(f"the loss {loss.name} is not affine in its batch "
                                 f"reductions ({op.describe()}): per-shard gradients add up "
                                 f"only for a loss that is a mean or a sum over examples")
    return kinds.pop()


class DataParallel:
    """`DataParallel(loss, optimizer, client).step(feed)`: one data-parallel training step.

    Variables live in the driver's `state` (a dict, or pass `state=sess.state`); with
    no state given, they are initialized by the graph's initializers. `shards` (default:
    the cluster's worker count) is how many tasks a NumPy batch is split into; a dask
    batch keeps its own row chunks unless it has fewer. Batch inputs are the placeholders
    whose axis 0 is None (or `batch_inputs=[...]`); every other placeholder the loss or
    the optimizer needs (a learning rate, a keep_prob) is fed whole, to every shard.
    """

    def __init__(self, loss: Tensor, optimizer, client, var_list=None, state: dict | None = None,
                 shards: int | None = None, batch_inputs=None):
        graph = loss.graph
        self.client = client
        self.loss = loss
        self.var_list = list(var_list or graph.get_collection("trainable_variables"))
        batch, const = _batch_and_const(graph, [loss], batch_inputs)
        self.batch_inputs = batch
        self.const_inputs = const  # fed whole to every shard
        self.weighting = _weighting(loss, batch)
        with graph.as_default():
            grads = gradients(loss, self.var_list)
            self._grad_inputs = [placeholder(v.dtype, v.shape, name="distributed_grad")
                                 for v in self.var_list]
            update = optimizer.apply_gradients(list(zip(self._grad_inputs, self.var_list)))
            init = global_variables_initializer() if state is None else None
        self.state: dict = {} if state is None else state
        if init is not None:
            compile_graph(init, state=self.state)()
        grad_names = {t.name for t in self._grad_inputs}
        self.update_inputs = [op.outputs[0] for op in needed_ops([update])
                              if op.type == "Placeholder" and op.outputs[0].name not in grad_names
                              and op.outputs[0] not in batch]  # a fed learning rate
        self._update = compile_graph(update, feeds=self._grad_inputs + self.update_inputs,
                                     state=self.state)
        self._fetches = [loss.name] + [g.name for g in grads]
        self._names = [v.op.name for v in self.var_list]
        self.key, data = to_bytes(graph, [loss, *grads], batch + const)
        self._draws = {op.name: np.random.SeedSequence(
            None if op.attrs["seed"] is None else [op.attrs["seed"], op.attrs["seed2"] or 0])
            for op in needed_ops([loss, *grads]) if op.type in _DRAWS}
        self._shipped = dask_runner.ShippedGraph(client, self.key, data)
        self.shards = shards or max(1, len(client.scheduler_info()["workers"]))

    @staticmethod
    def _given(feed_dict) -> dict:
        return {(k.name if isinstance(k, Tensor) else k): v for k, v in feed_dict.items()}

    @staticmethod
    def _value(given: dict, t: Tensor, what: str):
        value = given.get(t.name, given.get(t.op.name))
        if value is None:
            raise FeedError(f"missing {what} {t.name}")
        return value

    def _whole(self, given: dict, inputs: list[Tensor]) -> list[np.ndarray]:
        """The fed values of non-batch placeholders, as they are (not split into shards)."""
        return [np.asarray(self._value(given, t, "input"), dtype=t.dtype.np) for t in inputs]

    def _batch(self, given: dict) -> dict:
        batch = {}
        for t in self.batch_inputs:
            value = self._value(given, t, "batch input")
            shard = math.ceil(len(value) / self.shards)
            if not isinstance(value, da.Array):
                value = np.asarray(value, dtype=t.dtype.np)
                value = da.from_array(value, chunks=(shard,) + value.shape[1:])
            elif len(value.chunks[0]) < self.shards:  # a batch sliced from one big chunk
                value = value.rechunk({0: shard})
            batch[t.name] = value
        return dask_runner.row_chunks(batch)

    def step(self, feed_dict=None, **kwargs) -> float:
        """One step on this batch; returns the batch's loss before the update."""
        given = self._given({**(feed_dict or {}), **kwargs})
        batch = self._batch(given)
        rows = next(iter(batch.values())).chunks[0]
        variables = {n: self.state[n] for n in self._names}
        if self._draws:  # each shard its own generator for each random draw, this step
            seeds = {name: seq.spawn(len(rows)) for name, seq in self._draws.items()}
            variables = [{**variables, **{("rng", name): np.random.default_rng(s[i])
                                          for name, s in seeds.items()}}
                         for i in range(len(rows))]
        update_values = self._whole(given, self.update_inputs)  # missing ones fail first
        feeds = list(batch) + [t.name for t in self.const_inputs]
        results = dask_runner.compute(self.loss.graph, self._shipped, self._fetches, feeds,
                                      batch, self._whole(given, self.const_inputs), variables)
        weights = rows if self.weighting == "mean" else (1,) * len(rows)
        total = sum(weights) if self.weighting == "mean" else 1
        combined = [sum(np.float64(w) * r[j] for w, r in zip(weights, results)) / total
                    for j in range(len(self._fetches))]
        self._update(*[g.astype(v.dtype.np) for g, v in zip(combined[1:], self.var_list)],
                     *update_values)
        return float(combined[0])

    def epoch(self, feed_dict: dict, batch_size: int) -> list[float]:
        """Steps over consecutive batches of `batch_size` rows of the batch inputs (other
        inputs fed whole to each step); the losses, in order."""
        given = self._given(feed_dict)
        names = {n for t in self.batch_inputs for n in (t.name, t.op.name)}
        n = len(next(v for k, v in given.items() if k in names))
        return [self.step({k: v[i:i + batch_size] if k in names else v
                           for k, v in given.items()})
                for i in range(0, n, batch_size)]
