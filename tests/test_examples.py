"""The deployment example runs from start to end and its checks come out true."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_deploy_example_round_trips_a_trained_model():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "deploy.py")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "restored session agrees: True" in out, out
    assert "a fresh process loaded it and predicts the same bits: True" in out, out
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.9, out
