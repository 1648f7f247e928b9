"""codegen.long_lived: objects made in the block go to the collector's oldest generation,
are still freed by a full collection, and the collector's on/off state is restored."""

import gc
import weakref

import pytest

from codegen.long_lived import long_lived


class _Node:
    pass


def _cycle():
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_objects_made_inside_skip_young_collections_but_not_a_full_one():
    assert gc.isenabled()
    with long_lived():
        assert not gc.isenabled()
        alive = _cycle()
    assert gc.isenabled()
    gc.collect(1)  # the young generations: the promoted cycle is not in them
    assert alive() is not None
    gc.collect()
    assert alive() is None


def test_the_collector_stays_off_for_a_caller_that_turned_it_off():
    gc.disable()
    try:
        with long_lived():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_exception_inside_restores_the_collector():
    with pytest.raises(ValueError), long_lived():
        raise ValueError("boom")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
