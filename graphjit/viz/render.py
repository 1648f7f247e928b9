"""Rendering DOT text to SVG with Graphviz: the `graphviz` package when installed (the
`graphviz` extra), else the `dot` program on the PATH, else a MissingDependencyError
that says what to install."""

from __future__ import annotations

import shutil
import subprocess

from graphjit.errors import Error, MissingDependencyError

_INSTALL = ("drawing needs Graphviz: pip install 'graphjit[graphviz]' and Graphviz's dot "
            "program (apt-get install graphviz, brew install graphviz or conda install "
            "graphviz); graphjit.viz.to_dot(...) gives the DOT text without it")
RENDER_TIMEOUT_S = 120


def can_render() -> bool:
    """True when `render_svg` finds Graphviz's dot program."""
    return shutil.which("dot") is not None


def render_svg(dot_text: str) -> str:
    """The SVG text of a DOT picture."""
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(dot_text).pipe(format="svg", encoding="utf-8")
        except graphviz.ExecutableNotFound:
            raise MissingDependencyError(_INSTALL) from None
        except graphviz.CalledProcessError as exc:
            raise Error(f"Graphviz could not draw the picture: {exc.stderr}") from None
    dot = shutil.which("dot")
    if dot is None:
        raise MissingDependencyError(_INSTALL)
    try:
        done = subprocess.run([dot, "-Tsvg"], input=dot_text.encode(), capture_output=True,
                              timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise Error(f"Graphviz took over {RENDER_TIMEOUT_S} s to draw the picture") from None
    if done.returncode != 0:
        raise Error("Graphviz could not draw the picture: "
                    f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode()
