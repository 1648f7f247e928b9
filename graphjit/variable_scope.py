"""TF1 variable scopes: `variable_scope`, `get_variable` and sharing variables by name.

Each graph keeps the variables `get_variable` made under their full name (the variable
scope's name, "/", the name given), and each thread its current VariableScope. A scope
that reuses (reuse=True, `scope.reuse_variables()`, or inside a reusing scope) hands
back the stored variable and fails when there is none; one that does not creates it
and fails when it exists; AUTO_REUSE does whichever applies. So two towers, or a
function called twice, share their weights.

Names follow TF: a variable's name is its variable scope's alone (name_scope does not
change it), while `variable_scope` also opens a name scope for ops, unique each time
it is entered: re-entering "foo" names ops "foo_1/..." and shares variables "foo/...".
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import threading

from graphjit import dtypes
from graphjit.errors import (
    InvalidArgumentError,
    ShapeError,
    UnsupportedError,
    VariableError,
    user_source_line,
)
from graphjit.graph import Graph, Tensor, TensorShape, get_default_graph
from graphjit.variables import (
    GraphKeys,
    Variable,
    _collection,
    glorot_uniform_initializer,
    zeros_initializer,
)


class _ReuseMode(enum.Enum):
    AUTO_REUSE = 1


AUTO_REUSE = _ReuseMode.AUTO_REUSE
"""reuse=AUTO_REUSE: get_variable returns the variable if it exists, else creates it."""


class VariableScope:
    """The defaults `get_variable` takes from the scope it runs in: the name prefix,
    reuse, initializer, regularizer and dtype (TF1's tf.VariableScope)."""

    def __init__(self, reuse, name: str = "", initializer=None, regularizer=None,
                 caching_device=None, partitioner=None, custom_getter=None,
                 name_scope: str = "", dtype=dtypes.float32, use_resource=None,
                 constraint=None):
        _unsupported(partitioner=partitioner, custom_getter=custom_getter,
                     constraint=constraint)
        self._name = name
        self._reuse = reuse
        self._initializer = initializer
        self._regularizer = regularizer
        self._caching_device = caching_device
        self._name_scope = name_scope
        self._dtype = dtypes.as_dtype(dtype)
        self._use_resource = use_resource

    name = property(lambda self: self._name)
    original_name_scope = property(lambda self: self._name_scope)
    reuse = property(lambda self: self._reuse)
    initializer = property(lambda self: self._initializer)
    regularizer = property(lambda self: self._regularizer)
    dtype = property(lambda self: self._dtype)
    caching_device = property(lambda self: self._caching_device)
    use_resource = property(lambda self: self._use_resource)
    partitioner = property(lambda self: None)
    custom_getter = property(lambda self: None)
    constraint = property(lambda self: None)

    def reuse_variables(self) -> None:
        """From now on in this scope (and scopes opened inside), get_variable reuses."""
        self._reuse = True

    def set_initializer(self, initializer) -> None:
        self._initializer = initializer

    def set_regularizer(self, regularizer) -> None:
        self._regularizer = regularizer

    def set_dtype(self, dtype) -> None:
        self._dtype = dtypes.as_dtype(dtype)

    def set_caching_device(self, caching_device) -> None:
        self._caching_device = caching_device  # (one CPU: nothing to cache on)

    def set_use_resource(self, use_resource) -> None:
        self._use_resource = use_resource

    def set_partitioner(self, partitioner) -> None:
        _unsupported(partitioner=partitioner)

    def set_custom_getter(self, custom_getter) -> None:
        _unsupported(custom_getter=custom_getter)

    def get_collection(self, name: str) -> list:
        return _collection(name, self._name + "/" if self._name else None, None)

    def global_variables(self) -> list:
        return self.get_collection(GraphKeys.GLOBAL_VARIABLES)

    def trainable_variables(self) -> list:
        return self.get_collection(GraphKeys.TRAINABLE_VARIABLES)

    def __repr__(self) -> str:
        return f"<graphjit.VariableScope '{self._name}' reuse={self._reuse}>"


def _unsupported(**arguments) -> None:
    for argument, value in arguments.items():
        if value is not None:
            raise UnsupportedError(f"variable scopes with a {argument} are not supported "
                                   f"(at {user_source_line()})")


class _Scopes:
    """A graph's variables by get_variable name, and per thread its current scope and
    how often each scope name was opened (default_name uniquifying)."""

    def __init__(self):
        self.variables: dict[str, Variable] = {}
        self._local = threading.local()

    @property
    def current(self) -> VariableScope:
        if not hasattr(self._local, "current"):
            self._local.current = VariableScope(False)
        return self._local.current

    @current.setter
    def current(self, scope: VariableScope) -> None:
        self._local.current = scope

    @property
    def counts(self) -> dict[str, int]:
        if not hasattr(self._local, "counts"):
            self._local.counts = {}
        return self._local.counts

    @counts.setter
    def counts(self, counts: dict[str, int]) -> None:
        self._local.counts = counts

    def open(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def close_subscopes(self, name: str) -> None:
        """Leaving a scope restarts the default_name counters of the scopes inside it."""
        for key in self.counts:
            if key.startswith(name + "/"):
                self.counts[key] = 0

    def unique_name(self, prefix: str) -> str:
        base = self.current.name + "/" + prefix if self.current.name else prefix
        if not self.counts.get(base):
            return prefix
        i = 1
        while self.counts.get(f"{base}_{i}"):
            i += 1
        return f"{prefix}_{i}"


def _scopes(graph: Graph) -> _Scopes:
    scopes = graph.__dict__.get("_variable_scopes")
    if scopes is None:
        scopes = graph.__dict__["_variable_scopes"] = _Scopes()
    return scopes


def get_variable_scope() -> VariableScope:
    """The current variable scope of the default graph (the root one: name "")."""
    return _scopes(get_default_graph()).current


class variable_scope:  # noqa: N801 - TF's name
    """`with variable_scope("layer1") as scope:` opens a variable scope (get_variable's
    name prefix and defaults) and a name scope for ops; yields the VariableScope.

    `name_or_scope` is a name, or a VariableScope to re-enter (its name, defaults and
    reuse); with None, `default_name` is made unique ("dense", "dense_1"). `reuse` is
    True, AUTO_REUSE or None/False (inherit: a reusing scope's subscopes reuse);
    `initializer`, `regularizer` and `dtype` become the defaults of get_variable here.
    """

    def __init__(self, name_or_scope, default_name=None, values=None, initializer=None,
                 regularizer=None, caching_device=None, partitioner=None, custom_getter=None,
                 reuse=None, dtype=None, use_resource=None, constraint=None,
                 auxiliary_name_scope=True):
        _unsupported(partitioner=partitioner, custom_getter=custom_getter,
                     constraint=constraint)
        if default_name is None and name_or_scope is None:
            raise InvalidArgumentError(f"variable_scope at {user_source_line()}: if "
                                       "default_name is None then name_or_scope is required")
        if name_or_scope is not None and not isinstance(name_or_scope, (str, VariableScope)):
            raise InvalidArgumentError(
                f"variable_scope at {user_source_line()}: name_or_scope must be a string or "
                f"VariableScope, got {type(name_or_scope).__name__} {name_or_scope!r}")
        if reuse is False:
            reuse = None  # False inherits, as None does (TF since 1.1)
        if not (reuse is True or reuse is None or reuse is AUTO_REUSE):
            raise InvalidArgumentError(f"variable_scope at {user_source_line()}: the reuse "
                                       f"parameter must be True or False or None, got {reuse!r}")
        if not isinstance(auxiliary_name_scope, bool):
            raise InvalidArgumentError(f"variable_scope at {user_source_line()}: "
                                       "auxiliary_name_scope must be True or False, got "
                                       f"{auxiliary_name_scope!r}")
        tensors = [v for v in (values or []) if isinstance(v, Tensor)]
        self._graph = tensors[0].graph if tensors else None
        self._name_or_scope = name_or_scope
        self._default_name = default_name
        self._reuse = reuse
        self._defaults = {"initializer": initializer, "regularizer": regularizer,
                          "caching_device": caching_device, "use_resource": use_resource,
                          "dtype": None if dtype is None else dtypes.as_dtype(dtype)}
        self._auxiliary_name_scope = auxiliary_name_scope
        self._exit_stack = None

    def __enter__(self) -> VariableScope:
        stack = contextlib.ExitStack()
        try:
            if self._graph is not None:
                stack.enter_context(self._graph.as_default())
            graph = get_default_graph()
            name_scope = None
            if not self._auxiliary_name_scope:  # stay in the current name scope
                current = graph.get_name_scope()
                name_scope = graph.name_scope(current + "/" if current else None)
            entered = self._name_or_scope
            if isinstance(entered, VariableScope):
                prefix = entered.name.split("/")[-1]
            else:
                prefix = entered if entered is not None else self._default_name
            old_name_scope = None
            if entered is None and self._reuse:
                raise InvalidArgumentError(f"variable_scope at {user_source_line()}: "
                                           "reuse=True cannot be used without a name_or_scope")
            if prefix or name_scope is not None:
                opened = stack.enter_context(name_scope or graph.name_scope(prefix))
                old_name_scope = entered.original_name_scope \
                    if isinstance(entered, VariableScope) else opened
            scope = self._enter(stack, _scopes(graph), old_name_scope)
        except BaseException:
            stack.close()
            raise
        self._exit_stack = stack
        return scope

    def _enter(self, stack: contextlib.ExitStack, scopes: _Scopes,
               old_name_scope: str | None) -> VariableScope:
        old = scopes.current
        entered = self._name_or_scope
        if isinstance(entered, VariableScope):  # jump to a shared scope: a copy of it
            scope = VariableScope(self._reuse or entered.reuse, entered.name,
                                  entered.initializer, entered.regularizer,
                                  entered.caching_device, name_scope=entered.original_name_scope,
                                  dtype=entered.dtype, use_resource=entered.use_resource)
            scopes.open(scope.name)
            saved = dict(scopes.counts)  # leaving it restores the counters of before
        else:
            if entered is None:
                entered = scopes.unique_name(self._default_name)
            name = old.name + "/" + entered if old.name else entered
            scope = VariableScope(self._reuse or old.reuse, name, old.initializer,
                                  old.regularizer, old.caching_device,
                                  name_scope=entered if old_name_scope is None else old_name_scope,
                                  dtype=old.dtype, use_resource=old.use_resource)
            scopes.open(name)
            saved = None  # leaving it restarts the counters of its subscopes
        for key, value in self._defaults.items():
            if value is not None:
                getattr(scope, "set_" + key)(value)
        scopes.current = scope

        def leave():
            if saved is None:
                scopes.close_subscopes(scope.name)
            else:
                scopes.counts = saved
            scopes.current = old
        stack.callback(leave)
        return scope

    def __exit__(self, *exc) -> None:
        stack, self._exit_stack = self._exit_stack, None
        stack.__exit__(*exc)


# -- get_variable ---------------------------------------------------------------------

def get_variable(name: str, shape=None, dtype=None, initializer=None, regularizer=None,
                 trainable=None, collections=None, caching_device=None, partitioner=None,
                 validate_shape=True, use_resource=None, custom_getter=None, constraint=None,
                 synchronization=None, aggregation=None) -> Variable:
    """The variable `name` of the current variable scope: created (with the scope's
    initializer and dtype unless given) or, where the scope reuses, the existing one.

    The initializer is an initializer object or class (called with the shape and the
    variable's dtype), a callable without arguments, or a tensor or value (then no
    shape); by default glorot_uniform for floats, zeros for integers and bools, as TF's.
    """
    _unsupported(partitioner=partitioner, custom_getter=custom_getter, constraint=constraint)
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"get_variable at {user_source_line()}: the name must be a "
                                   f"non-empty string, got {name!r}")
    graph = get_default_graph()
    scopes = _scopes(graph)
    scope = scopes.current
    full = scope.name + "/" + name if scope.name else name
    from_value = initializer is not None and not callable(initializer)
    dtype = None if dtype is None else dtypes.as_dtype(dtype)
    if dtype is not None and isinstance(initializer, Tensor) and initializer.dtype != dtype:
        raise VariableError(f"get_variable('{full}') at {user_source_line()}: Initializer "
                            f"type '{initializer.dtype}' and explicit dtype '{dtype}' don't "
                            "match.")
    if initializer is None:
        initializer = scope.initializer
    if regularizer is None:
        regularizer = scope.regularizer
    explicit, dtype = dtype, dtype or scope.dtype
    if shape is not None and from_value:
        raise VariableError(f"get_variable('{full}') at {user_source_line()}: If initializer "
                            "is a constant, do not specify shape.")
    shape = None if shape is None else TensorShape(shape)
    found = scopes.variables.get(full)
    if found is not None:
        return _shared(found, full, shape, dtype, scope.reuse)
    if scope.reuse is True:
        raise VariableError(f"Variable {full} does not exist, or was not created with "
                            "tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in "
                            f"VarScope? (get_variable at {user_source_line()})")
    value, value_dtype = _initial_value(full, shape, dtype, initializer,
                                        explicit if from_value else None)
    with graph.name_scope(None):  # the variable scope alone names the variable
        variable = Variable(value, trainable=True if trainable is None else trainable,
                            collections=collections, validate_shape=validate_shape,
                            name=full, dtype=value_dtype)
        scopes.variables[full] = variable
        if regularizer is not None:
            with graph.name_scope(full + "/Regularizer/"):
                loss = regularizer(variable)
            if loss is not None:
                graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    return variable


def _shared(found: Variable, full: str, shape, dtype, reuse) -> Variable:
    """The stored variable, if the scope reuses and shape and dtype agree (TF's wording)."""
    if not reuse:
        raise VariableError(f"Variable {full} already exists, disallowed. Did you mean to set "
                            "reuse=True or reuse=tf.AUTO_REUSE in VarScope? Originally defined "
                            f"at {found.op.source} (get_variable again at "
                            f"{user_source_line()})")
    if shape is not None and not shape.is_compatible_with(found.shape):
        raise VariableError(f"Trying to share variable {full}, but specified shape {shape} "
                            f"and found shape {found.shape}. (get_variable at "
                            f"{user_source_line()})")
    if dtype != found.dtype:
        raise VariableError(f"Trying to share variable {full}, but specified dtype "
                            f"{dtype.name} and found dtype {found.dtype.name}. (get_variable at "
                            f"{user_source_line()})")
    return found


def _initial_value(full: str, shape, dtype, initializer, value_dtype):
    """(initial value or callable, the dtype Variable converts it to, or None); an
    initializer that is a value keeps its dtype unless `value_dtype` was asked for."""
    if initializer is not None and not callable(initializer):
        return initializer, value_dtype
    if initializer is None:
        if dtype.is_floating:
            initializer = glorot_uniform_initializer()
        elif dtype.is_integer or dtype == dtypes.bool_:
            initializer = zeros_initializer()
        else:
            raise VariableError(f"An initializer for variable {full} of {dtype} is required "
                                f"(at {user_source_line()})")
    if inspect.isclass(initializer):
        initializer = initializer()
    if shape is not None and shape.is_fully_defined():
        def value():
            return initializer(list(shape), dtype=dtype, partition_info=None)
        return value, dtype
    if _takes_no_arguments(initializer):
        return initializer, None
    raise ShapeError(f"get_variable('{full}') at {user_source_line()}: Shape of a new "
                     f"variable ({full}) must be fully defined, but instead was "
                     f"{'<unknown>' if shape is None else shape} (an initializer taking no "
                     "arguments, a tensor or a value need no shape)")


def _takes_no_arguments(fn) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in parameters)


__all__ = ["AUTO_REUSE", "VariableScope", "variable_scope", "get_variable_scope",
           "get_variable"]
