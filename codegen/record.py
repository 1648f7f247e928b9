"""A base for frozen dataclasses that shares their `__eq__`, `__hash__` and `__repr__`
instead of generating them per class.

Python before 3.13 compiles each method a dataclass generates with an exec of its own
(about 70 us each, six for a frozen class), and `import graphjit` creates some fifty
dataclasses: the loop IR's nodes and the op registry's records are the bulk of them.
Declared `@dataclass(frozen=True, eq=False, repr=False)` on `Record`, a class gets
`__init__` and the frozen `__setattr__` generated as before, and these three from here,
with the results the generated ones give: equal when of the very same class with equal
compared fields, hashed by the fields the dataclass would hash (so equal records hash
alike), shown as `Name(field=value, ...)`.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter


class Record:
    __slots__ = ()

    def __eq__(self, other):
        cls = self.__class__
        if other.__class__ is not cls:
            return NotImplemented
        try:
            key = _COMPARED[cls]
        except KeyError:
            key = _learn(cls)[0]
        return key(self) == key(other)

    def __hash__(self):
        try:
            return hash(_HASHED[self.__class__](self))
        except KeyError:
            return hash(_learn(self.__class__)[1](self))

    def __repr__(self):
        shown = _SHOWN.get(self.__class__) or _learn(self.__class__)[2]
        return (f"{self.__class__.__qualname__}("
                + ", ".join(f"{name}={getattr(self, name)!r}" for name in shown) + ")")


class MutableRecord(Record):
    """The base of a mutable dataclass declared `eq=False, repr=False`: compared and
    shown as a Record, unhashable as a mutable dataclass with eq is."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]


# By Record class, made at its first use (its dataclass decorator has run by then): a
# getter of its compared fields' values, one of its hashed fields' values, the names shown.
_COMPARED: dict[type, object] = {}
_HASHED: dict[type, object] = {}
_SHOWN: dict[type, tuple] = {}


def _learn(cls: type) -> tuple:
    own = fields(cls)
    compared = _getter([f.name for f in own if f.compare])
    hashed = _getter([f.name for f in own if (f.compare if f.hash is None else f.hash)])
    shown = tuple(f.name for f in own if f.repr)
    _COMPARED[cls], _HASHED[cls], _SHOWN[cls] = compared, hashed, shown
    return compared, hashed, shown


def _getter(names: list[str]):
    """The fields' values as one tuple (a getter per class, so a call costs one C call)."""
    if not names:
        return lambda record: ()
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda record: (get(record),)
    return attrgetter(*names)
