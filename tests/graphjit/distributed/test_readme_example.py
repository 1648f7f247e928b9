"""The README's "Distributed" example runs as written (its own LocalCluster, in a fresh
Python process) and prints what the README says it does."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dask.distributed")

ROOT = Path(__file__).resolve().parents[3]


def _example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Distributed\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_distributed_example_runs_as_written():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run([sys.executable, "-c", _example()], capture_output=True, text=True,
                          env=env, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sum of partials / sum of row counts" in done.stdout  # the loss mean's combine
    assert "(6000, 6000, 6000, 2000)" in done.stdout  # probs chunked like x
