"""DESIGN.md's import layering: codegen/ and runtime/ never import graphjit."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_codegen_and_runtime_do_not_import_graphjit():
    offenders = []
    for package in ("codegen", "runtime"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                              if n == "graphjit" or n.startswith("graphjit.")]
    assert not offenders, offenders
