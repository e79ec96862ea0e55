"""The benchmark scripts run and print their tables (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


def test_fingerprint_benchmark_quick():
    """``benchmarks/fingerprints.py --quick`` prints every case and the memory lines."""
    completed = subprocess.run([sys.executable, str(REPO / "benchmarks" / "fingerprints.py"),
                                "--quick"], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    for case in ("array float64", "strided view", "numeric frame", "frame with string column",
                 "dict of 1,000", "list of 100,000 floats", "10-row frame"):
        assert case in output
    assert "flowrec runs at" in output
    assert "extra peak memory, 64 MiB array, strided view" in output
    assert output.strip().splitlines()[-1] in ("all targets met", "some targets missed")


def test_panel_benchmark_quick():
    """``benchmarks/panel.py --quick`` prints both flow sizes and its verdict line."""
    completed = subprocess.run([sys.executable, str(REPO / "benchmarks" / "panel.py"), "--quick"],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    assert "   20 stages" in output
    assert "  200 stages" in output
    assert "200 stages take" in output
    assert output.strip().splitlines()[-1] in ("target met", "target missed")


@pytest.mark.kernel
def test_batch_benchmark_quick():
    """``benchmarks/batch.py --quick`` runs the three timed runs and prints both ratios."""
    completed = subprocess.run([sys.executable, str(REPO / "benchmarks" / "batch.py"), "--quick"],
                               capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    output = completed.stdout
    assert output.startswith("3 notebooks, ")
    for line in ("papermill, sequential", "flowrec check --jobs 1", "speed-up of --jobs",
                 "flowrec time per notebook beyond papermill"):
        assert line in output
    assert output.strip().splitlines()[-1] in ("all targets met", "some targets missed")
