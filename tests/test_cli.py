"""The ``flowrec`` command: exit statuses, messages and the printed table."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from conftest import EXAMPLES

LOAD = "%load_ext flowrec"


def flowrec(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "flowrec", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def assert_one_line_error(completed, message):
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert message in lines[0]


def test_missing_notebook(tmp_path):
    """A path that does not exist is bad input."""
    completed = flowrec("check", tmp_path / "absent.ipynb")
    assert_one_line_error(completed, f"notebook not found: '{tmp_path / 'absent.ipynb'}'")


def test_folder_instead_of_notebook(tmp_path):
    """A folder is bad input with a hint."""
    assert_one_line_error(flowrec("check", tmp_path), "is a folder, not a notebook")


def test_not_json(tmp_path):
    """A file that is not JSON names the line and column."""
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json")
    assert_one_line_error(flowrec("check", path), "is not valid JSON (line 1, column 3")


def test_json_not_notebook(tmp_path):
    """JSON without notebook keys is rejected."""
    path = tmp_path / "data.ipynb"
    path.write_text(json.dumps({"rows": [1, 2]}))
    assert_one_line_error(flowrec("check", path), "is JSON but not a Jupyter notebook")


def test_old_notebook_format(tmp_path):
    """Notebook format 3 is rejected with the way to convert it."""
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "cells": [], "worksheets": []}))
    assert_one_line_error(flowrec("check", path), "uses notebook format 3")


def test_binary_file(tmp_path):
    """A binary file is rejected without a decoding traceback."""
    path = tmp_path / "image.ipynb"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert_one_line_error(flowrec("check", path), "is not UTF-8 text")


def test_unknown_kernel(write_notebook):
    """An unknown kernel lists the installed ones."""
    path = write_notebook(["x = 1"])
    completed = flowrec("check", path, "--kernel", "no-such-kernel")
    assert_one_line_error(completed, "unknown kernel 'no-such-kernel'; installed kernels: ")
    assert "python3" in completed.stderr


@pytest.mark.parametrize(
    "cells, parameter, message",
    [
        ([("n = 1", ["parameters"])], ["-p", "1n", "2"], "invalid parameter name '1n'"),
        ([("n = 1", ["parameters"])], ["-p", "m", "2"],
         "invalid parameter 'm': the parameters cell of"),
        (["n = 1"], ["-p", "n", "2"], "has no cell tagged 'parameters'"),
    ],
)
def test_invalid_parameters(write_notebook, cells, parameter, message):
    """Parameters must be identifiers that the parameters cell assigns."""
    path = write_notebook(cells)
    assert_one_line_error(flowrec("check", path, *parameter), message)


@pytest.mark.parametrize(
    "option, message",
    [
        (["--timeout", "0"], "invalid timeout '0': give a positive number of seconds"),
        (["--timeout", "soon"], "invalid number of seconds 'soon'"),
        (["--rtol", "-1"], "invalid tolerance '-1': give a number of 0 or more"),
        (["--atol", "nan"], "invalid tolerance 'nan'"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_invalid_options(write_notebook, option, message):
    """Bad option values exit 2 with one line naming the value."""
    path = write_notebook(["x = 1"])
    assert_one_line_error(flowrec("check", path, *option), message)


def test_output_folder_missing(write_notebook, tmp_path):
    """--output into a folder that does not exist is bad input."""
    path = write_notebook(["x = 1"])
    completed = flowrec("check", path, "--output", tmp_path / "nowhere" / "out.ipynb")
    assert_one_line_error(completed, "--output folder")


def test_json_into_input_rejected(write_notebook):
    """--json naming the input notebook exits 2 and leaves the notebook intact."""
    path = write_notebook(["x = 1"])
    before = path.read_bytes()
    assert_one_line_error(flowrec("check", path, "--json", path), "--json")
    assert path.read_bytes() == before


def test_no_command():
    """Without a command, help is printed and the status is 2."""
    completed = flowrec()
    assert completed.returncode == 2
    assert "check" in completed.stdout


@pytest.mark.kernel
def test_check_reproduced_table(write_notebook, tmp_path):
    """A reproducible notebook exits 0 and prints every stage as identical."""
    path = write_notebook([LOAD, "%%flow_stage one\nx = 1", "%%flow_stage two\ny = x + 1"],
                          execute=True)
    report = tmp_path / "report.json"
    completed = flowrec("check", path, "--json", report)
    assert completed.returncode == 0, completed.stderr
    rows = [line for line in completed.stdout.splitlines() if "│ identical" in line]
    assert len(rows) == 3
    assert "│ one " in completed.stdout
    assert "reproduced: 3 identical" in completed.stdout
    assert json.loads(report.read_text())["reproduced"] is True


@pytest.mark.kernel
def test_check_not_reproduced(write_notebook):
    """A diverging notebook exits 1 and names the first diverged stage and variable."""
    path = write_notebook([
        LOAD,
        "%%flow_stage draw\nimport random\ndraws = [random.random() for _ in range(3)]",
    ], execute=True)
    completed = flowrec("check", path)
    assert completed.returncode == 1, completed.stderr
    assert "first divergence: stage 'draw' (cell 2): diverged" in completed.stdout
    assert "variable draws: list len 3: 3 of 3 elements differ" in completed.stdout


@pytest.mark.kernel
def test_show_prints_flow(write_notebook):
    """``flowrec show`` lists stages, reads, writes and dependencies without running."""
    path = write_notebook([LOAD, "%%flow_stage one\nx = 1", "%%flow_stage two\ny = x + 1"],
                          execute=True)
    before = path.read_bytes()
    completed = flowrec("show", path, "--stages-only")
    assert completed.returncode == 0
    lines = completed.stdout.splitlines()
    assert lines[0].endswith("2 stage(s), 1 unnamed step(s)")
    assert lines[1].startswith("one  (cell 2, In [2]")
    assert "    wrote  x: int" in lines[2]
    assert "    depends on: one" in completed.stdout
    assert "    read   x: int" in completed.stdout
    assert path.read_bytes() == before


def test_show_without_records(write_notebook):
    """A notebook with no records shows an empty flow and a hint."""
    completed = flowrec("show", write_notebook(["x = 1"]))
    assert completed.returncode == 0
    assert "nothing recorded yet" in completed.stdout


def test_show_malformed_record(write_notebook):
    """A record with an unknown version is reported as a warning, not a crash."""
    path = write_notebook(["x = 1"])
    notebook = nbformat.read(path, 4)
    notebook.cells[0].outputs = [nbformat.v4.new_output(
        "display_data", data={"application/vnd.flowrec.stage+json": {"version": 99}})]
    nbformat.write(notebook, path)
    completed = flowrec("show", path)
    assert completed.returncode == 0
    assert "flowrec record version 99 is not supported" in completed.stderr


@pytest.mark.kernel
def test_kernel_without_flowrec(write_notebook, tmp_path):
    """A kernel whose Python cannot import flowrec is named, with the fix."""
    import os

    # A module earlier on the kernel's path hides the installed flowrec.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "flowrec.py").write_text("raise ImportError('flowrec is not installed here')\n")
    spec = tmp_path / "kernels" / "without-flowrec"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "without flowrec", "language": "python",
        "env": {"PYTHONPATH": str(shadow)},
    }))
    path = write_notebook(["x = 1"])
    completed = subprocess.run(
        [sys.executable, "-m", "flowrec", "check", str(path), "--kernel", "without-flowrec"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "JUPYTER_PATH": str(tmp_path)},
    )
    assert_one_line_error(completed, "kernel 'without-flowrec' ran the notebook but recorded nothing")


@pytest.mark.kernel
def test_kernel_that_cannot_start(write_notebook, tmp_path):
    """A kernel that dies before running any cell is bad input, not a divergence."""
    import os

    spec = tmp_path / "kernels" / "broken"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", "raise SystemExit(3)", "{connection_file}"],
        "display_name": "broken", "language": "python",
    }))
    path = write_notebook(["x = 1"])
    completed = subprocess.run(
        [sys.executable, "-m", "flowrec", "check", str(path), "--kernel", "broken",
         "--timeout", "20"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "JUPYTER_PATH": str(tmp_path)},
    )
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "flowrec: error: kernel 'broken' could not run" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.kernel
def test_examples_breast_cancer_identical():
    """The shipped breast cancer flow reproduces stage by stage."""
    completed = flowrec("check", EXAMPLES / "breast_cancer.ipynb")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for name in ("load", "split_scale", "train", "evaluate"):
        row = next(line for line in completed.stdout.splitlines() if f"│ {name} " in line)
        assert "identical" in row


@pytest.mark.kernel
def test_examples_not_reproducible():
    """The shipped non-reproducible flow fails on its unseeded sample first."""
    completed = flowrec("check", EXAMPLES / "not_reproducible.ipynb")
    assert completed.returncode == 1
    assert "first divergence: stage 'sample' (cell 4): diverged" in completed.stdout
    assert "variable noise: ndarray 50 <f8: 50 of 50 elements differ" in completed.stdout
    summary = next(line for line in completed.stdout.splitlines() if "│ summary " in line)
    assert "diverged (inherited)" in summary
    stamp = next(line for line in completed.stdout.splitlines() if "│ stamp " in line)
    assert "diverged (root)" in stamp


@pytest.mark.kernel
def test_negative_scientific_parameter(write_notebook, tmp_path):
    """-p accepts values that look like options, such as -1e-3."""
    path = write_notebook([LOAD, ("alpha = 0.5", ["parameters"]),
                           "%%flow_stage use\nscaled = alpha * 2"], execute=True)
    output = tmp_path / "run.ipynb"
    completed = flowrec("check", path, "-p", "alpha", "-1e-3", "--output", output)
    assert completed.returncode == 1, completed.stderr
    injected = next(cell for cell in nbformat.read(output, 4).cells
                    if "injected-parameters" in cell.metadata.get("tags", []))
    assert "alpha = -0.001" in injected.source


def test_kernelspec_name_not_text(write_notebook):
    """A kernelspec name that is not text is bad input, not a traceback."""
    path = write_notebook(["x = 1"])
    notebook = nbformat.read(path, 4)
    notebook.metadata["kernelspec"]["name"] = 5
    nbformat.write(notebook, path)
    assert_one_line_error(flowrec("check", path), "kernelspec name 5 is not a kernel name")


def test_notebook_format_3_without_cells(tmp_path):
    """A format 3 notebook (worksheets, no cells) is named as format 3."""
    path = tmp_path / "v3.ipynb"
    path.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}))
    assert_one_line_error(flowrec("check", path), "uses notebook format 3")


@pytest.mark.kernel
def test_verbose_logs_progress(write_notebook):
    """-v logs the papermill run and the reference to standard error."""
    path = write_notebook([LOAD, "%%flow_stage one\nx = 1"], execute=True)
    completed = flowrec("-v", "check", path)
    assert completed.returncode == 0, completed.stderr
    assert "flowrec.execute: INFO: running " in completed.stderr
    assert "flowrec.check: INFO: reference: records saved in the notebook" in completed.stderr


@pytest.mark.kernel
def test_junit_report(write_notebook, tmp_path):
    """--junit writes one test case per cell, with a failure for the diverged one."""
    import xml.etree.ElementTree as ElementTree

    path = write_notebook([
        LOAD,
        "%%flow_stage steady\nx = 1",
        "%%flow_stage draw\nimport random\ndraws = [random.random() for _ in range(3)]",
    ], execute=True)
    report = tmp_path / "junit.xml"
    completed = flowrec("check", path, "--junit", report)
    assert completed.returncode == 1
    root = ElementTree.parse(report).getroot()
    assert root.tag == "testsuites"
    assert root.get("name") == "flowrec"
    assert root.get("tests") == "3"
    assert root.get("failures") == "1"
    suite = root.find("testsuite")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"cell 1", "steady (cell 2)", "draw (cell 3)"}
    failure = cases["draw (cell 3)"].find("failure")
    assert failure is not None
    assert failure.get("message").startswith("diverged (root): draws: list len 3")
    assert "likely cause: unseeded random generator: random.random" in failure.get("message")
    assert cases["steady (cell 2)"].find("failure") is None
    # A second run may replace its own report, but never a file of the user's.
    assert flowrec("check", path, "--junit", report).returncode == 1
    mine = tmp_path / "mine.xml"
    mine.write_text("<results/>")
    assert_one_line_error(flowrec("check", path, "--junit", mine), "--junit")
    assert mine.read_text() == "<results/>"


@pytest.mark.kernel
def test_html_report(write_notebook, tmp_path):
    """--html writes one self-contained page with escaped notebook strings."""
    path = write_notebook([
        LOAD,
        "%%flow_stage steady\nx = 1",
        "%%flow_stage draw\nimport random\ndraws = [random.random() for _ in range(3)]",
        "%%flow_stage use\ntotal = x + sum(draws)",
        "%%flow_stage hostile\nraise ValueError('<img src=x onerror=alert(2)>')",
    ], execute=True, allow_errors=True)
    page_path = tmp_path / "report.html"
    completed = flowrec("check", path, "--html", page_path)
    assert completed.returncode == 1
    page = page_path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta name="generator" content="flowrec">' in page
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "draw: diverged" in page
    assert "steady: identical" in page
    assert "likely cause" in page
    assert 'aria-label="durations"' in page
    # The flow shows data edges with the names passed, and where divergence was inherited.
    assert '<path class="edge edge-data"' in page
    assert ">x<title>x</title></text>" in page
    assert ">draws<title>draws</title></text>" in page
    assert '<path class="edge edge-inherited"' in page
    mine = tmp_path / "mine.html"
    mine.write_text("<p>mine</p>")
    assert_one_line_error(flowrec("check", path, "--html", mine), "--html")
    assert mine.read_text() == "<p>mine</p>"
