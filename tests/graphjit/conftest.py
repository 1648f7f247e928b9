"""Fixtures shared by the graphjit tests."""

import pytest

import graphjit as tf


@pytest.fixture
def graph():
    """A fresh graph, the default one for the test's duration."""
    g = tf.Graph()
    with g.as_default():
        yield g
