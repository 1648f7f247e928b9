"""TF1's session configuration messages and behavior switches.

TF1 scripts build a `ConfigProto` (GPU memory growth, thread counts, soft placement,
XLA's jit level) and pass it to `Session(config=...)`, or `RunOptions`/`RunMetadata`
to `run`. graphjit runs on the CPU with its own threads and always compiles, so of
these only a RunOptions trace_level changes anything (the run is traced into the
RunMetadata's step_stats); the rest exist so such scripts run unchanged. Fields are TF's
own (defaults as in TF's protos), nested messages are created with their parent, and an
unknown field is an error, as in protobuf, so a typo is not silently kept.
"""

from __future__ import annotations

import copy

from graphjit.errors import InvalidArgumentError, UnsupportedError


class _Message:
    """A protobuf-like record: keyword fields with defaults, nested messages built fresh."""

    _FIELDS: dict = {}

    def __init__(self, **fields):
        for name, default in self._FIELDS.items():
            value = default() if isinstance(default, type) else copy.copy(default)
            object.__setattr__(self, name, value)
        for name, value in fields.items():
            setattr(self, name, value)

    def __setattr__(self, name, value):
        if name not in self._FIELDS:
            raise InvalidArgumentError(f"protocol message {type(self).__name__} has no "
                                       f"{name!r} field (graphjit accepts TF's fields and "
                                       "ignores them)")
        object.__setattr__(self, name, value)

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self) -> str:
        fresh = type(self)()
        changed = {k: v for k, v in vars(self).items() if getattr(fresh, k) != v}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def CopyFrom(self, other) -> None:  # noqa: N802 - protobuf's name
        for name in self._FIELDS:
            object.__setattr__(self, name, copy.deepcopy(getattr(other, name)))


class GPUOptions(_Message):
    """tf.GPUOptions: ignored (graphjit uses no GPU)."""

    _FIELDS = {"per_process_gpu_memory_fraction": 0.0, "allow_growth": False,
               "allocator_type": "", "deferred_deletion_bytes": 0, "visible_device_list": "",
               "polling_active_delay_usecs": 0, "polling_inactive_delay_msecs": 0,
               "force_gpu_compatible": False, "experimental": None}


class OptimizerOptions(_Message):
    """tf.OptimizerOptions: ignored (graphjit always optimizes and compiles)."""

    L1, L0 = 0, -1
    DEFAULT, OFF, ON_1, ON_2 = 0, -1, 1, 2
    _FIELDS = {"do_common_subexpression_elimination": False, "do_constant_folding": False,
               "max_folded_constant_in_bytes": 0, "do_function_inlining": False,
               "opt_level": 0, "global_jit_level": 0}


class GraphOptions(_Message):
    """tf.GraphOptions: ignored."""

    _FIELDS = {"optimizer_options": OptimizerOptions, "enable_recv_scheduling": False,
               "build_cost_model": 0, "build_cost_model_after": 0, "infer_shapes": False,
               "place_pruned_graph": False, "enable_bfloat16_sendrecv": False,
               "timeline_step": 0, "rewrite_options": None}


class ConfigProto(_Message):
    """tf.ConfigProto: accepted by Session(config=...) and ignored."""

    _FIELDS = {"device_count": dict, "intra_op_parallelism_threads": 0,
               "inter_op_parallelism_threads": 0, "use_per_session_threads": False,
               "session_inter_op_thread_pool": list, "placement_period": 0,
               "device_filters": list, "gpu_options": GPUOptions,
               "allow_soft_placement": False, "log_device_placement": False,
               "graph_options": GraphOptions, "operation_timeout_in_ms": 0,
               "rpc_options": None, "cluster_def": None, "isolate_session_state": False,
               "experimental": None}


class RunOptions(_Message):
    """tf.RunOptions: a trace_level above NO_TRACE, with a run_metadata, records the
    Session.run into run_metadata.step_stats; the other fields are ignored."""

    NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE, FULL_TRACE = 0, 1, 2, 3
    _FIELDS = {"trace_level": 0, "timeout_in_ms": 0, "inter_op_thread_pool": 0,
               "output_partition_graphs": False, "debug_options": None,
               "report_tensor_allocations_upon_oom": False, "experimental": None}


class NodeExecStats(_Message):
    """tf.NodeExecStats: one span of a traced run (a kernel call, an op of the reference
    engine, a parallel kernel's chunk, planning or compiling) on thread `thread_id`.
    `category` and `args` (kernel, fused ops with the user's lines, shapes, bytes) are
    graphjit's own fields, which graphjit.client.timeline puts in the trace."""

    _FIELDS = {"node_name": "", "timeline_label": "", "all_start_micros": 0,
               "op_start_rel_micros": 0, "op_end_rel_micros": 0, "all_end_rel_micros": 0,
               "all_start_nanos": 0, "op_start_rel_nanos": 0, "op_end_rel_nanos": 0,
               "all_end_rel_nanos": 0, "scheduled_micros": 0, "scheduled_nanos": 0,
               "thread_id": 0, "memory": list, "output": list, "referenced_tensor": list,
               "memory_stats": None, "category": "", "args": dict}


class DeviceStepStats(_Message):
    """tf.DeviceStepStats: the spans of one device (graphjit: the CPU) and the names of
    the threads they ran on."""

    _FIELDS = {"device": "", "node_stats": list, "thread_names": dict}


class StepStats(_Message):
    """tf.StepStats: what a traced Session.run recorded, per device."""

    _FIELDS = {"dev_stats": list}


class RunMetadata(_Message):
    """tf.RunMetadata: Session.run(options=RunOptions(trace_level=FULL_TRACE),
    run_metadata=md) fills md.step_stats (graphjit.client.timeline turns it into a
    Chrome trace); the other fields stay empty."""

    _FIELDS = {"step_stats": StepStats, "cost_graph": None, "partition_graphs": list,
               "function_graphs": list}


# -- TF1/TF2 behavior switches ---------------------------------------------------------

def disable_v2_behavior() -> None:
    """A no-op: graphjit always behaves as TF1 (graphs, sessions, placeholders)."""


def disable_eager_execution() -> None:
    """A no-op: graphjit only builds graphs; nothing runs eagerly."""


def enable_v2_behavior() -> None:
    raise UnsupportedError("graphjit does not support TF2 behavior (eager execution, "
                           "tf.function): it runs TF1 graphs")


def enable_eager_execution(config=None, device_policy=None, execution_mode=None) -> None:
    raise UnsupportedError("graphjit does not support eager execution: build a graph and "
                           "run it in a Session (or graphjit.compile / graphjit.jit)")


def executing_eagerly() -> bool:
    """Always False: graphjit builds graphs."""
    return False


__all__ = ["ConfigProto", "GPUOptions", "GraphOptions", "OptimizerOptions", "RunOptions",
           "RunMetadata", "disable_v2_behavior", "disable_eager_execution",
           "enable_v2_behavior", "enable_eager_execution", "executing_eagerly"]
