"""TF1's device placement (`tf.device`, `tf.DeviceSpec`), recorded but not acted on.

graphjit runs every op on the CPU, so a device scope changes no result. It is kept
anyway, as `op.device`, because TF1 scripts build under `with tf.device(...)` and
read, print or save the placement; nested scopes merge as TF's device specs do (the
inner scope's job, task or device wins, the outer fills in what it leaves out), a
device function is called with each new op, and `tf.device(None)` clears the outer
scopes. `colocate_with` and `container` are accepted and do nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from graphjit.errors import InvalidArgumentError, user_source_line

_DEVICE_TYPES = ("CPU", "GPU", "TPU", "XLA_CPU", "XLA_GPU")


class DeviceSpec:
    """A (partial) device name: `/job:ps/replica:0/task:1/device:GPU:0` (TF's DeviceSpec).
    Fields left None are unspecified and taken from an enclosing scope when merged."""

    __slots__ = ("job", "replica", "task", "device_type", "device_index")

    def __init__(self, job=None, replica=None, task=None, device_type=None, device_index=None):
        self.job = job
        self.replica = None if replica is None else int(replica)
        self.task = None if task is None else int(task)
        self.device_type = device_type.upper() if device_type in ("cpu", "gpu") else device_type
        self.device_index = None if device_index is None else int(device_index)

    @classmethod
    def from_string(cls, spec: str) -> DeviceSpec:
        """Parse TF's forms: `/job:w/task:0/device:GPU:1`, `/gpu:0`, `/cpu:*`, `GPU`."""
        fields: dict = {}
        for part in (spec or "").split("/"):
            pieces = part.split(":")
            key = pieces[0]
            if not part:
                continue
            if len(pieces) == 2 and key in ("job", "replica", "task"):
                fields[key] = pieces[1]
                continue
            if len(pieces) in (1, 2) and key.upper() in _DEVICE_TYPES:
                device_type, index = key.upper(), pieces[1:]
            elif len(pieces) == 3 and key.lower() == "device":
                device_type, index = pieces[1], pieces[2:]
            else:
                raise InvalidArgumentError(f"device '{spec}' at {user_source_line()}: unknown "
                                           f"part {part!r} (TF's device names look like "
                                           "'/job:worker/task:0/device:GPU:0' or '/cpu:0')")
            if "device_type" in fields:
                raise InvalidArgumentError(f"device '{spec}' at {user_source_line()}: names "
                                           "two device types")
            fields["device_type"] = device_type
            if index and index[0] != "*":
                fields["device_index"] = index[0]
        try:
            return cls(**fields)
        except ValueError:
            raise InvalidArgumentError(f"device '{spec}' at {user_source_line()}: replica, "
                                       "task and device index must be integers") from None

    def make_merged_spec(self, inner: DeviceSpec) -> DeviceSpec:
        """This spec with the fields `inner` sets taking their place (an inner scope wins)."""
        merged = DeviceSpec()
        for name in self.__slots__:
            value = getattr(inner, name)
            setattr(merged, name, getattr(self, name) if value is None else value)
        return merged

    def to_string(self) -> str:
        parts = []
        if self.job is not None:
            parts.append(f"/job:{self.job}")
        if self.replica is not None:
            parts.append(f"/replica:{self.replica}")
        if self.task is not None:
            parts.append(f"/task:{self.task}")
        if self.device_type is not None:
            index = "*" if self.device_index is None else self.device_index
            parts.append(f"/device:{self.device_type}:{index}")
        return "".join(parts)

    def __eq__(self, other) -> bool:
        return isinstance(other, DeviceSpec) and self.to_string() == other.to_string()

    __hash__ = None

    def __repr__(self) -> str:
        return f"DeviceSpec({self.to_string()!r})"


def canonical(device) -> str:
    """TF's canonical string of a device name, spec or None ("" when unspecified)."""
    if device is None:
        return ""
    if isinstance(device, DeviceSpec):
        return device.to_string()
    if not isinstance(device, str):
        raise InvalidArgumentError(f"a device is a string, a DeviceSpec or a function of an "
                                   f"op, got {type(device).__name__} {device!r}")
    return DeviceSpec.from_string(device).to_string()


def scope_entry(device_name_or_function):
    """What a `device(...)` scope pushes: None (clear), a DeviceSpec or a function.
    Strings are parsed now, so a bad device name fails at the user's `with` line."""
    if device_name_or_function is None or callable(device_name_or_function):
        return device_name_or_function
    if isinstance(device_name_or_function, DeviceSpec):
        return device_name_or_function
    return DeviceSpec.from_string(canonical(device_name_or_function))


def place(op, stack: list) -> None:
    """Set `op.device` from the device scopes of `stack` (outermost first), as TF does:
    the innermost applies first and each outer spec fills the fields still unset; a
    device function gets the op (with what the scopes inside it chose in op.device)
    and returns its device; a None scope hides the scopes outside it."""
    for entry in reversed(stack):
        if entry is None:
            break
        if isinstance(entry, DeviceSpec):
            op.device = entry.make_merged_spec(DeviceSpec.from_string(op.device)).to_string()
        else:
            op.device = canonical(entry(op))


@contextlib.contextmanager
def no_op_scope(*_args, **_kwargs) -> Iterator[None]:
    """A scope that changes nothing: graphjit has one device and no resource containers."""
    yield


def device(device_name_or_function):
    """`with graphjit.device("/gpu:0"):` on the default graph: ops made inside record
    the device in `op.device` (they run on the CPU, as every graphjit op)."""
    from graphjit.graph import get_default_graph
    return get_default_graph().device(device_name_or_function)


def colocate_with(op, ignore_existing: bool = False):
    """Accepted and ignored: every op runs in the same place."""
    return no_op_scope()


def container(container_name: str):
    """Accepted and ignored: graphjit keeps variables per Session, with no containers."""
    return no_op_scope()


__all__ = ["DeviceSpec", "device", "colocate_with", "container"]
