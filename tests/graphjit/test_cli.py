"""The `graphjit` command line: every subcommand on a tiny saved model and on the same
model exported to ONNX, its errors (one line, exit status 1, or 2 for usage) and the
kernel cache commands on a temporary GRAPHJIT_CACHE_DIR. Most tests call `main` in
this process; two run `python -m graphjit` as a user would."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import graphjit as tf
from graphjit.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIGHTS = np.arange(6, dtype=np.float32).reshape(3, 2) / 4


def reference(x: np.ndarray) -> dict[str, np.ndarray]:
    y = np.maximum(x @ WEIGHTS - 1.0, 0.0)
    return {"y": y, "total": y.sum(axis=1)}


def _graph() -> tuple[tf.Graph, list]:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.nn.relu(tf.matmul(x, tf.constant(WEIGHTS)) - 1.0, name="y")
        total = tf.reduce_sum(y, axis=1, name="total")
    return graph, [y, total]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> str:
    graph, fetches = _graph()
    return tf.save(graph, str(tmp_path_factory.mktemp("cli") / "tiny.gjz"), fetches=fetches)


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> str:
    pytest.importorskip("onnx")
    import graphjit.onnx
    graph, fetches = _graph()
    path = str(tmp_path_factory.mktemp("cli") / "tiny.onnx")
    graphjit.onnx.export(graph, path, fetches=fetches)
    return path


@pytest.fixture(params=["saved", "onnx"])
def model(request) -> str:
    """The tiny model as a saved graph, then as an ONNX file (skipped without onnx)."""
    return request.getfixturevalue("saved" if request.param == "saved" else "onnx_model")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_error_line(err: str, *fragments: str) -> None:
    assert err.startswith("graphjit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


# -- --help, --version, usage errors --------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["inspect"], ["profile"], ["run"], ["viz"], ["bench"],
                                     ["cache"], ["cache", "info"], ["cache", "clear"]])
def test_every_command_has_help(capsys, command):
    status, out, _ = run_cli(capsys, *command, "--help")
    assert status == 0
    assert out.startswith(f"usage: {' '.join(['graphjit'] + command)} ")


def test_help_lists_every_command(capsys):
    _, out, _ = run_cli(capsys, "--help")
    for command in ("inspect", "profile", "run", "viz", "bench", "cache"):
        assert f"    {command} " in out


def test_version(capsys):
    status, out, _ = run_cli(capsys, "--version")
    assert status == 0 and out.startswith(f"graphjit {tf.__version__} (numba ")


@pytest.mark.parametrize("argv, fragment", [
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
    (["cache"], "the following arguments are required: ACTION"),
    (["profile", "m.gjz", "--batch", "0"], "expected a number of at least 1, got 0"),
    (["inspect", "m.gjz", "--ir", "bytecode"], "invalid choice: 'bytecode'"),
])
def test_usage_errors_are_one_line_with_status_2(capsys, argv, fragment):
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert_one_error_line(err, fragment)


# -- models that cannot be read ---------------------------------------------------------------

def test_a_missing_model_is_one_line_naming_it(capsys, tmp_path):
    missing = str(tmp_path / "nothere.gjz")
    status, out, err = run_cli(capsys, "inspect", missing)
    assert status == 1 and out == ""
    assert_one_error_line(err, missing, "no such file")


def test_a_file_that_is_not_a_model(capsys, tmp_path):
    path = tmp_path / "notes.gjz"
    path.write_text("not a model")
    status, _, err = run_cli(capsys, "run", str(path))
    assert status == 1
    assert_one_error_line(err, "not a readable graphjit file")


def test_onnx_models_without_the_onnx_extra(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "graphjit.onnx", None)  # import graphjit.onnx fails
    status, _, err = run_cli(capsys, "inspect", str(tmp_path / "m.onnx"))
    assert status == 1
    assert_one_error_line(err, "pip install 'graphjit[onnx]'")


def test_graphjit_debug_shows_the_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHJIT_DEBUG", "1")
    with pytest.raises(tf.errors.LoadError, match="no such file"):
        main(["inspect", str(tmp_path / "nothere.gjz")])


# -- inspect --------------------------------------------------------------------------------

def test_inspect_shows_specs_op_counts_and_the_plan_at_the_batch(capsys, model):
    status, out, _ = run_cli(capsys, "inspect", model, "--batch", "5")
    assert status == 0
    lines = out.splitlines()
    assert lines[1] == "inputs   x float32[?,3]"
    assert lines[2] == "outputs  y float32[?,2], total float32[?]"
    assert lines[3].startswith("ops      ") and "1 MatMul" in lines[3] and "1 Sum" in lines[3]
    assert lines[4].startswith("plan     for x float32[5,3]: ")
    steps = [line.split(maxsplit=2) for line in lines[5:] if line.startswith("  ")]
    assert steps and all(kind in ("kernel", "extern", "view", "host") for _, kind, _ in steps)
    assert any("y" in ops.split(", ") for _, _, ops in steps)  # each fused op is listed
    assert lines[-1].startswith("memory   ")


def test_inspect_a_saved_folder(capsys, tmp_path):
    graph, fetches = _graph()
    folder = tf.save(graph, str(tmp_path / "tiny") + "/", fetches=fetches)
    status, out, _ = run_cli(capsys, "inspect", folder)
    assert status == 0 and "a graph saved by graphjit" in out.splitlines()[0]


@pytest.mark.parametrize("stage, marker", [("graph", "MatMul"), ("loops", "kernel "),
                                           ("python", "def "), ("llvm", "define "),
                                           ("asm", "")])
def test_inspect_ir_prints_the_stage(capsys, saved, stage, marker):
    status, out, _ = run_cli(capsys, "inspect", saved, "--ir", stage, "--batch", "2")
    assert status == 0 and out.strip() and marker in out
    assert not out.startswith("model ")  # the stage's text only, for piping and diffs


def test_inspect_of_an_input_without_rank_says_to_feed_it(capsys, tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        tf.negative(tf.placeholder(tf.float32, name="anything"), name="neg")
    path = tf.save(graph, str(tmp_path / "unranked.gjz"))
    status, _, err = run_cli(capsys, "inspect", path)
    assert status == 1
    assert_one_error_line(err, "'anything' has no known rank", "graphjit run --input")


# -- profile --------------------------------------------------------------------------------

def test_profile_prints_the_table_and_writes_a_trace(capsys, model, tmp_path):
    trace = tmp_path / "trace.json"
    status, out, _ = run_cli(capsys, "profile", model, "--batch", "4", "--repeat", "2",
                             "--trace", str(trace))
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"profile of {model} for x float32[4,3], 2 runs"
    assert lines[1].split()[:3] == ["kernel", "kind", "calls"]
    assert any(line.startswith("2 calls, ") for line in lines)
    events = json.loads(trace.read_text())["traceEvents"]
    assert any(e.get("name") == "plan run" for e in events)


def test_profile_report_needs_the_html_report(capsys, saved, tmp_path):
    report = tmp_path / "report.html"
    status, _, err = run_cli(capsys, "profile", saved, "--repeat", "1", "--report", str(report))
    if hasattr(tf.CompiledFunction, "report"):
        assert status == 0 and report.exists()
    else:
        assert status == 1 and not report.exists()
        assert_one_error_line(err, "--report is not available in this version")


# -- run ------------------------------------------------------------------------------------

@pytest.fixture
def x_file(tmp_path) -> str:
    path = str(tmp_path / "x.npy")
    np.save(path, np.array([[1, 2, 3], [-1, 0, 4]], np.float32))
    return path


def test_run_prints_shapes_dtypes_and_a_preview(capsys, model, x_file):
    status, out, _ = run_cli(capsys, "run", model, "--input", f"x={x_file}")
    assert status == 0
    lines = out.splitlines()
    expected = reference(np.load(x_file))
    assert lines[0] == "y float32[2,2]" and lines[3] == "total float32[2]"
    assert lines[4].strip() == np.array2string(expected["total"], precision=4)


def test_run_saves_the_outputs(capsys, model, x_file, tmp_path):
    out_file = tmp_path / "out.npz"
    status, out, _ = run_cli(capsys, "run", model, "-i", x_file, "--output", str(out_file))
    assert status == 0 and str(out_file) in out
    with np.load(out_file) as saved_outputs:
        assert sorted(saved_outputs.files) == ["total", "y"]
        for name, value in reference(np.load(x_file)).items():
            np.testing.assert_allclose(saved_outputs[name], value, rtol=1e-6)


@pytest.mark.parametrize("array, argument, fragment", [
    (np.ones((2, 3), np.float32), "z={}", "unknown input 'z'; this function takes 1 input: x"),
    (np.ones((2, 4), np.float32), "x={}", "cannot feed a value of shape [2, 4] for 'x:0'"),
    (np.ones((2, 3), bool), "x={}", "cannot feed a bool value for 'x:0'"),
])
def test_run_checks_inputs_against_the_model(capsys, model, tmp_path, array, argument,
                                             fragment):
    path = str(tmp_path / "input.npy")
    np.save(path, array)
    status, _, err = run_cli(capsys, "run", model, "--input", argument.format(path))
    assert status == 1
    assert_one_error_line(err, fragment)


def test_run_without_an_input_names_it(capsys, saved):
    status, _, err = run_cli(capsys, "run", saved)
    assert status == 1
    assert_one_error_line(err, "missing input 'x'")


def test_run_refuses_an_npz_input(capsys, saved, tmp_path):
    path = str(tmp_path / "inputs.npz")
    np.savez(path, x=np.ones((1, 3), np.float32))
    status, _, err = run_cli(capsys, "run", saved, "--input", f"x={path}")
    assert status == 2
    assert_one_error_line(err, "expected an .npy file")


# -- viz ------------------------------------------------------------------------------------

def test_viz_writes_dot_without_graphviz(capsys, model, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    dot = tmp_path / "graph.dot"
    status, out, _ = run_cli(capsys, "viz", model, "-o", str(dot))
    assert status == 0 and out.strip() == f"wrote {dot}"
    text = dot.read_text()
    assert text.startswith("digraph") and "total" in text


def test_viz_plan_draws_a_cluster_per_kernel(capsys, saved):
    status, out, _ = run_cli(capsys, "viz", saved, "--plan", "--batch", "3")
    assert status == 0 and out.startswith("digraph") and out.count("subgraph \"cluster_") >= 2


def test_viz_svg_without_graphviz_says_what_to_install(capsys, saved, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("no graphviz")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    svg = tmp_path / "graph.svg"
    status, _, err = run_cli(capsys, "viz", saved, "-o", str(svg))
    assert status == 1 and not svg.exists()
    assert_one_error_line(err, "graphjit[graphviz]")


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot program")
def test_viz_svg_with_graphviz(capsys, saved, tmp_path):
    svg = tmp_path / "graph.svg"
    assert run_cli(capsys, "viz", saved, "-o", str(svg))[0] == 0
    assert "<svg" in svg.read_text()


def test_viz_refuses_other_picture_formats(capsys, saved, tmp_path):
    status, _, err = run_cli(capsys, "viz", saved, "-o", str(tmp_path / "graph.png"))
    assert status == 2
    assert_one_error_line(err, "name a .svg or .dot file")


# -- bench ----------------------------------------------------------------------------------

def test_bench_outside_a_checkout_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    monkeypatch.setattr("graphjit.cli.maintenance.SOURCE_ROOT", str(tmp_path))
    status, _, err = run_cli(capsys, "bench")
    assert status == 1
    assert_one_error_line(err, "benchmarks/ folder of a graphjit source checkout")


@pytest.mark.parametrize("importable", [True, False])
def test_bench_runs_the_benchmarks_of_the_checkout_in_a_new_process(capsys, monkeypatch,
                                                                     importable):
    """Found on sys.path (`python -m graphjit` in the checkout), or beside the graphjit
    package (the console script of an editable install, run from anywhere)."""
    if importable:
        monkeypatch.syspath_prepend(REPO)
        monkeypatch.setattr("graphjit.cli.maintenance.SOURCE_ROOT", "/nonexistent")
    else:
        monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    calls = []

    def fake_run(command, env, check):
        calls.append((command, env))
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert run_cli(capsys, "bench", "--quick")[0] == 3  # its exit status is ours
    (command, env), = calls
    assert command == [sys.executable, "-m", "benchmarks.run", "--quick"]
    assert env["PYTHONPATH"].split(os.pathsep)[0] == REPO


# -- cache ----------------------------------------------------------------------------------

@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> str:
    """A temporary kernel cache holding two kernels (sources and machine code) and a
    helper's machine code: 5 files of 10 bytes."""
    root = tmp_path / "cache"
    for relative in ("kernels/ka.py", "kernels/kb.py", "kernels/__pycache__/ka.nbi",
                     "kernels/__pycache__/ka.nbc", "numba/helpers/vecmath.nbc"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"0123456789")
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(root))
    return str(root)


def test_cache_info_says_where_and_how_much(capsys, cache_dir):
    status, out, _ = run_cli(capsys, "cache", "info")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"kernel cache  {cache_dir} (GRAPHJIT_CACHE_DIR)"
    assert lines[1].split()[:5] == ["kernels/", "4", "files,", "2", "kernels,"]
    assert lines[2].split()[:3] == ["numba/", "1", "files,"]
    assert lines[3].split() == ["total", "5", "files,", "50", "bytes"]


def test_cache_clear_removes_the_cache_and_says_what(capsys, cache_dir):
    status, out, _ = run_cli(capsys, "cache", "clear")
    assert status == 0
    assert out.strip() == f"removed 5 files (2 kernels, 50 bytes) from the kernel cache {cache_dir}"
    assert not os.path.exists(os.path.join(cache_dir, "kernels"))
    assert run_cli(capsys, "cache", "info")[1].splitlines()[3].split()[1] == "0"


# -- as a user runs it ------------------------------------------------------------------------

def _python_m_graphjit(*argv: str, cache: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GRAPHJIT_CACHE_DIR=cache, PYTHONPATH=REPO)
    env.pop("GRAPHJIT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "graphjit", *argv], capture_output=True,
                          text=True, env=env, timeout=600, check=False)


def test_python_m_graphjit_inspects_and_fills_the_cache(saved, tmp_path, capsys, monkeypatch):
    cache = str(tmp_path / "cache")
    done = _python_m_graphjit("inspect", saved, "--batch", "2", cache=cache)
    assert done.returncode == 0, done.stderr
    assert "plan     for x float32[2,3]" in done.stdout
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", cache)  # the kernels it compiled are there
    info = run_cli(capsys, "cache", "info")[1].splitlines()
    assert int(info[1].split()[3]) > 0


def test_python_m_graphjit_fails_in_one_line(tmp_path):
    done = _python_m_graphjit("run", str(tmp_path / "nothere.gjz"), cache=str(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    assert_one_error_line(done.stderr, "nothere.gjz: no such file")
