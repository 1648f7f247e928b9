"""codegen.record: a Record's shared __eq__, __hash__ and __repr__ give what the
methods a frozen dataclass generates give, field options included."""

import dataclasses
from dataclasses import dataclass, field

import pytest

from codegen.loopir import Call, Const, Fn, Load, Loop, Var
from codegen.record import MutableRecord, Record


@dataclass(frozen=True)
class Plain:
    name: str
    index: tuple
    extra: int = field(default=0, compare=False)
    hidden: str = field(default="", repr=False)
    unhashed: int = field(default=0, hash=False)


@dataclass(frozen=True, eq=False, repr=False)
class Shared(Record):
    name: str
    index: tuple
    extra: int = field(default=0, compare=False)
    hidden: str = field(default="", repr=False)
    unhashed: int = field(default=0, hash=False)


@dataclass(frozen=True, eq=False, repr=False)
class One(Record):
    value: object


@dataclass(frozen=True, eq=False, repr=False)
class OneMore(One):
    pass


@dataclass(frozen=True, eq=False, repr=False)
class Empty(Record):
    pass


CASES = [("a", (1, 2), 0, "", 0), ("a", (1, 2), 5, "h", 0), ("a", (1, 2), 0, "", 3),
         ("b", (1, 2), 0, "", 0), ("a", (Var("i"),), 0, "", 0)]


@pytest.mark.parametrize("left", CASES)
@pytest.mark.parametrize("right", CASES)
def test_equality_matches_a_dataclass(left, right):
    assert (Shared(*left) == Shared(*right)) == (Plain(*left) == Plain(*right))
    assert (Shared(*left) != Shared(*right)) == (Plain(*left) != Plain(*right))
    if Shared(*left) == Shared(*right):
        assert hash(Shared(*left)) == hash(Shared(*right))


@pytest.mark.parametrize("values", CASES)
def test_repr_matches_a_dataclass(values):
    assert repr(Shared(*values)) == repr(Plain(*values)).replace("Plain(", "Shared(")


def test_classes_and_frozenness():
    assert One(1) != OneMore(1) and OneMore(1) != One(1)  # (the very same class only)
    assert One(1) != 1 and One(1) == One(1) and Empty() == Empty()
    assert {One(1): "x"}[One(1)] == "x" and hash(Empty()) == hash(Empty())
    with pytest.raises(dataclasses.FrozenInstanceError):
        One(1).value = 2
    assert dataclasses.replace(One(1), value=2) == One(2)


def test_loop_ir_nodes_compare_hash_and_print_by_structure():
    body = (Load("x", (Var("i"),)),)
    a = Loop("i", Const(0, "int64"), Call(Fn.ADD, (Var("n"), Const(1, "int64")), "int64"),
             body)
    b = Loop("i", Const(0, "int64"), Call(Fn.ADD, (Var("n"), Const(1, "int64")), "int64"),
             body)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != dataclasses.replace(a, var="j")
    assert repr(Var("i")) == "Var(name='i')"
    assert repr(Load("x", (Var("i"),))) == "Load(param='x', index=(Var(name='i'),), holds='')"


@dataclass
class PlainMutable:
    name: str
    items: list = field(default_factory=list)


@dataclass(eq=False, repr=False)
class SharedMutable(MutableRecord):
    name: str
    items: list = field(default_factory=list)


def test_a_mutable_record_compares_and_prints_as_a_dataclass_and_is_unhashable():
    a, b = SharedMutable("a", [1]), SharedMutable("a", [1])
    assert a == b and a != SharedMutable("a", [2]) and a != PlainMutable("a", [1])
    assert repr(a) == repr(PlainMutable("a", [1])).replace("PlainMutable(", "SharedMutable(")
    with pytest.raises(TypeError):
        hash(a)
    a.name = "b"
    assert a != b and a.name == "b"
