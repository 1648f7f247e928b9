"""An ONNX backend (onnx.backend.base) that runs models through graphjit's compiler,
used like `onnxruntime.backend`:

    rep = graphjit.onnx.backend.prepare(model)
    outputs = rep.run([x])          # or rep.run({"x": x})

graphjit needs shapes, axes and slice bounds at build time. When a model computes
one from its inputs (a Reshape whose shape is an input, a Range of input bounds),
the rep specializes: it imports the model again with those inputs' values (or
only their shapes, when the value came through Shape/Size) as constants, compiles,
and caches the result per specialized values. Compiled functions are
shape-generic, so the other inputs never cause a new compilation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from onnx import ModelProto, NodeProto, helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from graphjit.errors import FeedError, UnsupportedError
from graphjit.onnx.convert import StaticValueRequired
from graphjit.onnx.importer import (
    check_model,
    import_model,
    input_names,
    model_opset,
    upgrade_opset,
)
from graphjit.onnx.importer import load as load_model
from graphjit.onnx.values import unflatten

MAX_SPECIALIZATIONS = 32  # compiled variants kept per rep (least recently used dropped)


class GraphjitRep(BackendRep):
    """A prepared model: call `run(inputs)` with a list in input order or a dict by name."""

    def __init__(self, model: ModelProto, check: bool = False, passes=None):
        self.model = model
        self.input_names = input_names(model)
        self.output_names = [o.name for o in model.graph.output]
        self._overridable = {t.name for t in model.graph.initializer}
        self._passes = passes
        # model input -> "value" | "shape": what run() specializes on (found by importing)
        self.specialized_on: dict[str, str] = {}
        self.compiled: OrderedDict = OrderedDict()  # specialization key -> CompiledFunction
        self._lock = threading.Lock()
        if check:
            check_model(model)
        try:
            self._build({})
        except StaticValueRequired as exc:
            self._learn(exc)  # which inputs: known now; their values: at run time

    def _learn(self, exc: StaticValueRequired) -> None:
        new = {name: kind for name, kind in exc.needs
               if self.specialized_on.get(name) not in ("value", kind)}
        if not new or any(name not in self.input_names for name in new):
            raise exc
        for name, kind in new.items():
            if self.specialized_on.get(name) != "value":
                self.specialized_on[name] = kind

    def _key(self, values: dict) -> tuple:
        key = []
        for name in sorted(self.specialized_on):
            array = values[name]
            if self.specialized_on[name] == "structure":
                key.append((name, repr(_structure(array))))
            elif self.specialized_on[name] == "value":
                key.append((name, array.dtype.str, array.shape, array.tobytes()))
            else:
                key.append((name, array.shape))
        for name in sorted(set(values) & self._overridable):
            array = values[name]
            key.append((name, "initializer", array.dtype.str, array.shape, array.tobytes()))
        return tuple(key)

    def _build(self, values: dict):
        """Import (specialized on `values`' entries as far as needed) and compile."""
        while True:
            static = {n: values[n] for n, kind in self.specialized_on.items() if kind == "value"}
            static.update({n: values[n] for n in set(values) & self._overridable})
            shapes = {n: values[n].shape for n, kind in self.specialized_on.items()
                      if kind == "shape"}
            shapes.update({n: _structure(values[n]) for n, kind in self.specialized_on.items()
                           if kind == "structure"})
            try:
                graph = import_model(self.model, static, shapes, check=False)
            except StaticValueRequired as exc:
                if not values:
                    raise
                self._learn(exc)
                continue
            fn = graph.compile(passes=self._passes)
            key = self._key(values)
            self.compiled[key] = (fn, graph.input_names, graph.output_layouts)
            while len(self.compiled) > MAX_SPECIALIZATIONS:
                self.compiled.popitem(last=False)
            return self.compiled[key]

    def _bind(self, inputs) -> dict:
        if isinstance(inputs, dict):
            unknown = set(inputs) - set(self.input_names) - self._overridable
            if unknown:
                raise FeedError(f"the model has no input '{sorted(unknown)[0]}' (inputs: "
                                f"{', '.join(self.input_names)})")
            values = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray) or np.isscalar(inputs):
                inputs = [inputs]
            inputs = list(inputs)
            if len(inputs) != len(self.input_names):
                raise FeedError(f"the model takes {len(self.input_names)} input(s) ("
                                f"{', '.join(self.input_names)}), got {len(inputs)}")
            values = dict(zip(self.input_names, inputs))
        missing = [n for n in self.input_names if n not in values]
        if missing:
            raise FeedError(f"missing input '{missing[0]}' (inputs: "
                            f"{', '.join(self.input_names)})")
        return values

    def run(self, inputs, **kwargs) -> tuple:
        """The model's outputs, in order (a namedtuple, also indexable by output name)."""
        values = self._bind(inputs)
        key = self._key(values)
        entry = self.compiled.get(key)
        if entry is None:
            with self._lock:
                entry = self.compiled.get(key) or self._build(values)
        else:
            self.compiled.move_to_end(key)
        fn, feeds, layouts = entry
        flat = dict(values)
        for name, kind in self.specialized_on.items():  # sequences and optionals
            if kind == "structure":
                flat.update(_flat_feeds(name, values[name]))
        results = [_onnx_strings(np.asarray(r)) for r in fn(*[flat[name] for name in feeds])]
        outputs = [unflatten(layout, results) for layout in layouts]
        return namedtupledict("Outputs", self.output_names)(*outputs)


def _onnx_strings(array: np.ndarray) -> np.ndarray:
    """A string result as ONNX runtimes give it: an object array of str (graphjit's
    string tensors hold UTF-8 bytes, as TF's; a 0-d one may come back as NumPy bytes)."""
    if array.dtype.kind == "S":
        array = array.astype(object)
    if array.dtype != object or not any(isinstance(v, bytes) for v in array.reshape(-1)):
        return array
    flat = [v.decode("utf-8") if isinstance(v, bytes) else v for v in array.reshape(-1)]
    out = np.empty(array.shape, object)
    out.reshape(-1)[:] = flat
    return out


def _structure(value):
    """What the importer needs of a sequence or optional input's value: a list of its
    elements' shapes, None (empty optional) or a tensor's shape (as a tuple)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [tuple(np.shape(v)) for v in value]
    return tuple(np.shape(value))


def _flat_feeds(name: str, value) -> dict:
    """A sequence or optional input's arrays, by the names the importer gives their
    placeholders."""
    if value is None:
        return {}
    if isinstance(value, (list, tuple)):
        return {f"{name}[{i}]": np.asarray(v) for i, v in enumerate(value)}
    return {name: np.asarray(value)}


class GraphjitBackend(Backend):
    """graphjit as an ONNX backend (CPU only)."""

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            return Device(device).type == DeviceType.CPU
        except (AttributeError, ValueError):
            return False

    @classmethod
    def prepare(cls, model, device: str = "CPU", passes=None, check: bool = False,
                **kwargs) -> GraphjitRep:
        """Import and compile `model` (a ModelProto, path or bytes). Raises
        graphjit.UnsupportedError (a NotImplementedError) for what graphjit cannot run.
        `passes` goes to graphjit.compile; `check=True` runs onnx.checker first. Extra
        keyword arguments of the ONNX backend API (tolerances, ...) are ignored."""
        if not cls.supports_device(device):
            raise UnsupportedError(f"graphjit runs ONNX models on the CPU only, not {device}")
        model = upgrade_opset(load_model(model))  # opsets 7-12: converted to 13 once
        model_opset(model)
        return GraphjitRep(model, check=check, passes=passes)

    @classmethod
    def run_model(cls, model, inputs, device: str = "CPU", **kwargs) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: NodeProto, inputs, device: str = "CPU", outputs_info=None,
                 **kwargs) -> tuple:
        """Run one node on `inputs` (a list matching its non-empty inputs, or a dict);
        `opset_version` picks the opset (default: the newest onnx knows)."""
        import onnx
        opset = kwargs.pop("opset_version", onnx.defs.onnx_opset_version())
        names = [n for n in node.input if n]
        arrays = ([np.asarray(inputs[n]) for n in names] if isinstance(inputs, dict)
                  else [np.asarray(v) for v in inputs])
        infos = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype),
                                               a.shape) for n, a in zip(names, arrays)]
        outputs = []
        for i, name in enumerate(o for o in node.output if o):
            if outputs_info and i < len(outputs_info):
                dtype, shape = outputs_info[i]
                outputs.append(helper.make_tensor_value_info(
                    name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape))
            else:
                outputs.append(onnx.ValueInfoProto(name=name))
        graph = helper.make_graph([node], "run_node", infos, outputs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        return cls.prepare(model, device, check=False, **kwargs).run(arrays)


prepare = GraphjitBackend.prepare
run_model = GraphjitBackend.run_model
run = GraphjitBackend.run_model
run_node = GraphjitBackend.run_node
supports_device = GraphjitBackend.supports_device
is_compatible = GraphjitBackend.is_compatible
