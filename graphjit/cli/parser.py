"""The argparse tree of the `graphjit` command: one subparser per subcommand, each
pointing at the function that runs it (`args.command`)."""

from __future__ import annotations

import argparse
import sys

from graphjit.cli import commands, maintenance
from graphjit.viz.dot import MAX_NODES

STAGES = ("graph", "loops", "python", "llvm", "asm")
MODEL_HELP = "a saved graph (.gjz file or folder, from graphjit.save) or an .onnx model"
DESCRIPTION = "Inspect, profile, run and draw graphjit models; manage the kernel cache."


class ArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors as the one line every graphjit error is:
    `graphjit: error: ...`, exit status 2."""

    def error(self, message: str):
        sys.stderr.write(f"graphjit: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _version() -> str:
    import llvmlite
    import numba

    import graphjit
    return (f"graphjit {graphjit.__version__} (numba {numba.__version__}, llvmlite "
            f"{llvmlite.__version__}, Python {sys.version.split()[0]})")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="graphjit", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(title="commands", metavar="COMMAND",
                                parser_class=ArgumentParser)
    sub.required = True

    p = sub.add_parser("inspect", help="inputs, outputs, op counts and the plan's kernels",
                       description="Show a model's inputs and outputs with their specs, "
                       "its op counts and the kernels of its plan at --batch; with --ir, "
                       "the text of one compiler stage instead.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--ir", choices=STAGES, help="print this stage of the plan")
    p.add_argument("--batch", type=_positive, default=1,
                   help="size of the inputs' unknown dimensions (default 1)")
    p.set_defaults(command=commands.inspect)

    p = sub.add_parser("profile", help="time every kernel on random inputs",
                       description="Run a model on random inputs of its input specs, "
                       "unknown dimensions set to --batch, and print the time, bytes and "
                       "FLOPs of every step.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--batch", type=_positive, default=64,
                   help="size of the inputs' unknown dimensions (default 64)")
    p.add_argument("--repeat", type=_positive, default=20, help="runs timed (default 20)")
    p.add_argument("--trace", metavar="OUT.json",
                   help="also write the runs as a Chrome/Perfetto trace")
    p.add_argument("--report", metavar="OUT.html", help="also write an HTML report")
    p.set_defaults(command=commands.profile)

    p = sub.add_parser("run", help="run a model on inputs from .npy files",
                       description="Run a model on inputs read from .npy files; print "
                       "each output's shape, dtype and a preview, or save them all.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input's value (repeat for each input; NAME= may be left out "
                   "when the model has one input)")
    p.add_argument("--output", "-o", metavar="OUT.npz", help="save the outputs here")
    p.set_defaults(command=commands.run)

    p = sub.add_parser("viz", help="draw the graph as DOT or SVG",
                       description="Draw a model's graph (or with --plan, its compiled "
                       "plan) as DOT text, or as SVG, which needs Graphviz.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("-o", "--output", metavar="OUT.svg|OUT.dot",
                   help="where to write the picture (default: DOT text on stdout)")
    p.add_argument("--plan", action="store_true",
                   help="draw the compiled plan at --batch: a cluster per kernel")
    p.add_argument("--batch", type=_positive, default=1,
                   help="with --plan, size of the inputs' unknown dimensions (default 1)")
    p.add_argument("--max-nodes", type=_positive, default=MAX_NODES,
                   help=f"collapse name scopes (or kernels) past this many nodes "
                   f"(default {MAX_NODES})")
    p.set_defaults(command=commands.viz)

    p = sub.add_parser("bench", help="run the project's benchmarks (source checkout)",
                       description="Run benchmarks/run.py of a graphjit source checkout.")
    p.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run")
    p.set_defaults(command=maintenance.bench)

    p = sub.add_parser("cache", help="where the kernel cache is, and emptying it",
                       description="Show or empty the on-disk kernel cache "
                       "(GRAPHJIT_CACHE_DIR).")
    actions = p.add_subparsers(title="actions", metavar="ACTION", parser_class=ArgumentParser)
    actions.required = True
    actions.add_parser("info", help="its folder, kernels and bytes",
                       description="Show where the kernel cache is and what it holds."
                       ).set_defaults(command=maintenance.cache_info)
    actions.add_parser("clear", help="remove it (without asking), saying what went",
                       description="Remove the cached kernels and print what was removed."
                       ).set_defaults(command=maintenance.cache_clear)
    return parser
