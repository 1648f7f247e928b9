"""`fn.report(path, *inputs)`: one self-contained HTML page about a compiled function.

The page holds what the separate tools show, side by side: the plan's picture
(graphjit.viz, when Graphviz is there), the profile with each kernel against this
machine's roofline, memory buffer by buffer, every kernel's loop IR, the fusion
boundaries fn.explain() gives, and a timeline of the profiled runs. No external URL
and no script: it opens offline, can be mailed or attached to a bug, and every name in it
(ops, kernels, threads: the user's) is escaped.
"""

from __future__ import annotations

from html import escape

from codegen.loopir import format_kernel
from graphjit.errors import Error
from graphjit.viz.render import can_render
from graphjit.viz.timeline import timeline_svg

STYLE = """
body{font:14px/1.4 sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.kernel,td:last-child{text-align:left}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:12px}
details{margin:.3em 0}summary{cursor:pointer}.note{color:#555}
.picture svg{max-width:100%;height:auto}
"""
TIMELINE_RUNS = 3  # the last profiled runs drawn


def report_html(fn, profile, memory: dict, program, steps: list, title: str) -> str:
    """The page for a compiled function's latest plan: `profile` (a ProfileReport of it,
    holding a trace), `memory` (fn.memory()), its LoweredProgram and listed steps."""
    sections = [
        ("Plan", _picture(fn)),
        ("Kernels", _kernels(profile)),
        ("Memory", _memory(memory)),
        ("Loop IR", _loop_ir(steps)),
        ("Fusion boundaries", _explain(program)),
        ("Timeline", _timeline(profile)),
    ]
    body = "".join(f'<section id="{escape(name.lower().replace(" ", "-"))}"><h2>'
                   f'{escape(name)}</h2>{html}</section>' for name, html in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>graphjit report: {escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>graphjit report</h1><p>{escape(title)}</p>{body}</body></html>\n")


def _picture(fn) -> str:
    if not can_render():
        return ('<p class="note">No picture: drawing needs Graphviz (pip install '
                "'graphjit[graphviz]' and Graphviz's dot program).</p>")
    try:
        svg = fn.svg()
    except Error as exc:
        return f'<p class="note">No picture: {escape(str(exc))}</p>'
    start = svg.find("<svg")  # (the XML prolog and doctype do not belong inside HTML)
    return f'<div class="picture">{svg[start:]}</div>'


def _kernels(profile) -> str:
    return (f"{profile.html_table()}<p class=\"note\">% of limit: achieved against "
            "min(peak FLOP/s, memory bandwidth &times; FLOPs per byte), both measured on "
            "this machine (one thread for a serial kernel, graphjit's threads for a "
            "parallel one or a BLAS call); above 100%: the data stayed in caches, "
            "faster than memory.</p>")


def _memory(memory: dict) -> str:
    steps = memory["steps"]
    rows = []
    for buffer in memory["buffers"]:
        for i, value in enumerate(buffer["values"]):
            first, last = value["live_steps"]
            live = f"{first}&ndash;{last}" + ("" if last < len(steps) else " (fetched)")
            head = (f'<td rowspan="{len(buffer["values"])}">{buffer["buffer"]}</td>'
                    f'<td rowspan="{len(buffer["values"])}">{buffer["bytes"]:,}</td>'
                    if i == 0 else "")
            rows.append(f"<tr>{head}<td class=\"kernel\">"
                        f"{escape(', '.join(value['tensors']) or '(internal)')}</td>"
                        f"<td>{escape(value['dtype'])}{list(value['shape'])}</td>"
                        f"<td>{value['bytes']:,}</td><td>{live}</td>"
                        f"<td>{escape(value['written_by'] or '')}</td></tr>")
    table = ("<table><thead><tr><th>buffer</th><th>bytes</th><th>tensors</th><th>spec</th>"
             "<th>value bytes</th><th>live steps</th><th>written by</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>") if rows else ""
    return (f"<p>planned peak {memory['planned_peak_bytes']:,} bytes of intermediate "
            f"buffers ({memory['intermediate_bytes']:,} unshared), outputs "
            f"{memory['output_bytes']:,} bytes.</p>{table}")


def _loop_ir(steps: list) -> str:
    parts = []
    for step in steps:
        text = format_kernel(step.kernel) if step.kernel is not None else \
            f"# {step.kind} step: {', '.join(step.ops)}"
        parts.append(f"<details><summary><code>{escape(step.name)}</code> "
                     f"({escape(str(step.kind))}): {escape(', '.join(step.ops))}</summary>"
                     f"<pre>{escape(text)}</pre></details>")
    return "".join(parts)


def _explain(program) -> str:
    from graphjit.lower.explain import explain_program
    return f"<pre>{escape(str(explain_program(program, program.summary)))}</pre>"


def _timeline(profile) -> str:
    recorder = profile.recorder
    svg = timeline_svg(recorder.spans, recorder.thread_names, TIMELINE_RUNS) \
        if recorder is not None else ""
    if not svg:
        return '<p class="note">No recorded spans.</p>'
    return (f'<p class="note">The last {TIMELINE_RUNS} profiled runs, a track per thread '
            "(hover a span for its name and time; profile.save_trace(path) writes the "
            f"whole trace for Perfetto).</p>{svg}")
