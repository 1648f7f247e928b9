"""A recorded trace drawn as an inline SVG timeline: a track per thread, spans nested
as they ran (plan runs, their kernel and library calls, parallel chunks on the helper
threads), each with a tooltip. Plain SVG, no script: the report page stays one file that
opens anywhere, and a name in it cannot run as code (every one is escaped)."""

from __future__ import annotations

from html import escape

WIDTH = 960  # drawing width in pixels (the SVG scales with the page)
LABEL_WIDTH = 110  # the thread names' column
ROW = 18
COLORS = {"call": "#d9d9d9", "kernel": "#8fb8de", "extern": "#f4a582", "host": "#b8e186",
          "view": "#e0e0e0", "chunk": "#c2a5cf", "plan": "#fee08b", "compile": "#fdae61"}


def _depths(spans: list) -> list[tuple[object, int]]:
    """(span, nesting depth) on one thread: a span starting inside another is drawn
    below it."""
    placed, stack = [], []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        while stack and stack[-1].end <= span.start:
            stack.pop()
        placed.append((span, len(stack)))
        stack.append(span)
    return placed


def window(spans: list, runs: int) -> tuple[int, int] | None:
    """The time range of the last `runs` plan runs (warm ones: earlier runs may still
    compile or fault pages in), else of all spans; None for no spans."""
    calls = sorted((s for s in spans if s.category == "call"), key=lambda s: s.start)
    chosen = calls[-runs:] if calls else spans
    if not chosen:
        return None
    return min(s.start for s in chosen), max(s.end for s in chosen)


def timeline_svg(spans: list, thread_names: dict[int, str], runs: int = 3) -> str:
    """The spans within the last `runs` plan runs as an SVG element (an empty string for
    no spans)."""
    bounds = window(spans, runs)
    if bounds is None:
        return ""
    begin, end = bounds
    length = max(end - begin, 1)
    shown = [s for s in spans if s.end > begin and s.start < end]
    threads = sorted({s.tid for s in shown}, key=lambda t: min(s.start for s in shown
                                                               if s.tid == t))
    scale = (WIDTH - LABEL_WIDTH) / length
    parts, y = [], 24
    for tid in threads:
        placed = _depths([s for s in shown if s.tid == tid])
        rows = 1 + max(depth for _, depth in placed)
        name = thread_names.get(tid, str(tid))
        parts.append(f'<text x="4" y="{y + 13}" class="thread">{escape(name)}</text>')
        for span, depth in placed:
            parts.append(_rect(span, begin, end, scale, y + depth * ROW))
        y += rows * ROW + 6
    ticks = _ticks(length, scale)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" '
            f'viewBox="0 0 {WIDTH} {y}" width="100%" role="img">'
            f'<style>text{{font:11px sans-serif}} .thread{{fill:#333}}</style>'
            f'{ticks}{"".join(parts)}</svg>')


def _rect(span, begin: int, end: int, scale: float, y: int) -> str:
    start, stop = max(span.start, begin), min(span.end, end)
    x = LABEL_WIDTH + (start - begin) * scale
    width = max((stop - start) * scale, 0.5)
    color = COLORS.get(span.category, "#eeeeee")
    micros = (span.end - span.start) / 1e3
    title = escape(f"{span.name} ({span.category}): {micros:.1f} us")
    label = ""
    chars = int(width // 6.5)
    if chars >= 4:
        text = span.name if len(span.name) <= chars else span.name[:chars - 1] + "\u2026"
        label = f'<text x="{x + 2:.1f}" y="{y + 12}">{escape(text)}</text>'
    return (f'<g><title>{title}</title><rect x="{x:.1f}" y="{y}" width="{width:.1f}" '
            f'height="{ROW - 2}" fill="{color}" stroke="#666" stroke-width="0.3"/>'
            f'{label}</g>')


def _ticks(length_ns: int, scale: float) -> str:
    """A time axis along the top: about five ticks at round microsecond steps."""
    micros = length_ns / 1e3
    step = 10 ** len(str(int(max(micros / 5, 1)))) / 10
    while micros / step > 6:
        step *= 2
    parts, t = [], 0.0
    while t <= micros:
        x = LABEL_WIDTH + t * 1e3 * scale
        parts.append(f'<line x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="20" stroke="#999"/>'
                     f'<text x="{x + 2:.1f}" y="12">{t:g} us</text>')
        t += step
    return "".join(parts)
