"""A checker of the JSON trace-event format graphjit writes (what chrome://tracing and
Perfetto read): the keys and types of each event, and that spans nest on every thread."""

from __future__ import annotations

import json

NUMBER = (int, float)


def check_trace(document) -> list[dict]:
    """Check a trace (a dict, or its JSON text); return its "X" (complete) events."""
    if isinstance(document, str):
        document = json.loads(document)
    assert isinstance(document, dict) and isinstance(document["traceEvents"], list)
    spans, named = [], set()
    for event in document["traceEvents"]:
        assert isinstance(event["name"], str) and event["name"], event
        assert event["ph"] in ("X", "M"), event
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int), event
        assert isinstance(event.get("args", {}), dict), event
        if event["ph"] == "M":
            assert event["name"] in ("process_name", "thread_name"), event
            assert isinstance(event["args"]["name"], str), event
            if event["name"] == "thread_name":
                named.add((event["pid"], event["tid"]))
            continue
        assert isinstance(event["cat"], str), event
        assert isinstance(event["ts"], NUMBER) and event["ts"] >= 0, event
        assert isinstance(event["dur"], NUMBER) and event["dur"] >= 0, event
        spans.append(event)
    assert {(e["pid"], e["tid"]) for e in spans} <= named, "a thread without a name"
    check_nesting(spans)
    return spans


def _ns(us: float) -> int:
    return round(us * 1000)


def check_nesting(spans: list[dict]) -> None:
    """On each thread, two spans are disjoint or one holds the other: no partial overlap."""
    by_thread: dict[tuple, list] = {}
    for e in spans:
        by_thread.setdefault((e["pid"], e["tid"]), []).append(
            (_ns(e["ts"]), _ns(e["ts"]) + _ns(e["dur"]), e["name"]))
    for thread, intervals in by_thread.items():
        stack: list[tuple] = []
        for start, end, name in sorted(intervals, key=lambda i: (i[0], -i[1])):
            while stack and stack[-1][1] <= start:
                stack.pop()
            assert not stack or end <= stack[-1][1], \
                f"on thread {thread}, {name} [{start}, {end}] overlaps {stack[-1]}"
            stack.append((start, end, name))


def within(inner: dict, outer: dict) -> bool:
    """Whether span `inner` lies inside span `outer` (same thread or not)."""
    return _ns(outer["ts"]) <= _ns(inner["ts"]) and \
        _ns(inner["ts"]) + _ns(inner["dur"]) <= _ns(outer["ts"]) + _ns(outer["dur"])
