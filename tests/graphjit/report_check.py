"""Helpers for the report tests: a graph with hostile names, and an HTML structure check."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np

import graphjit as tf

# Op names are the user's: these would run as code in the page were they not escaped.
HOSTILE_INPUT = '<img src=x onerror="window.pwned=1">&x'
HOSTILE_OP = "<script>window.pwned=2</script>"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


def hostile_mlp():
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 12], name=HOSTILE_INPUT)
        w1 = tf.constant(rng.normal(0, .3, (12, 16)).astype(np.float32), name="W1")
        h = tf.nn.relu(tf.matmul(x, w1) + 0.5, name=HOSTILE_OP)
        w2 = tf.constant(rng.normal(0, .3, (16, 4)).astype(np.float32), name="W2")
        tf.nn.softmax(tf.matmul(h, w2), name="probs")
    return graph


class PageParser(HTMLParser):
    """Collects tags, text and link-like attributes, and checks that elements nest."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_page(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser
