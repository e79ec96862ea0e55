"""``flowrec check`` on folders and grids: summary, combined reports, exit statuses."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import nbformat
import pytest

from test_cli import assert_one_line_error, flowrec


def summary_rows(stdout: str) -> dict[str, str]:
    """Return the summary table's rows, keyed by their first cell."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells and cells[0]:
            rows[cells[0]] = line
    return rows


@pytest.mark.kernel
def test_folder_with_broken_notebook(batch_folder, tmp_path):
    """A broken notebook exits 2 and is listed, while every other notebook is checked."""
    (batch_folder / "broken.ipynb").write_text("{ not json")
    inputs = {path: path.read_bytes() for path in batch_folder.iterdir()}
    reports = tmp_path / "reports"
    reports.mkdir()
    completed = flowrec("check", batch_folder, "--jobs", "2", "--json", tmp_path / "batch.json",
                        "--junit", tmp_path / "batch.xml", "--html", reports / "index.html",
                        "--output-dir", tmp_path / "executed")
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    rows = summary_rows(completed.stdout)
    assert "reproduced" in rows["seeded.ipynb"]
    assert "reproduced" in rows["steady.ipynb"]
    assert "not reproduced" in rows["unseeded.ipynb"]
    assert "draw (cell" in rows["unseeded.ipynb"]
    assert "bad input" in rows["broken.ipynb"]
    assert "4 check(s): 2 reproduced, 1 not reproduced, 1 bad input" in completed.stdout
    assert "bad input broken.ipynb: " in completed.stdout
    # Not a terminal: progress is plain lines on standard error.
    assert "[4/4] " in completed.stderr
    assert {path: path.read_bytes() for path in batch_folder.iterdir()} == inputs

    report = json.loads((tmp_path / "batch.json").read_text())
    assert report["exit_status"] == 2
    assert report["reproduced"] is False
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses == {"broken.ipynb": "bad input", "seeded.ipynb": "reproduced",
                        "steady.ipynb": "reproduced", "unseeded.ipynb": "not reproduced"}
    unseeded = next(check for check in report["checks"] if check["name"] == "unseeded.ipynb")
    assert unseeded["result"]["first_divergence"] == "draw"

    suites = {suite.get("name"): suite
              for suite in ElementTree.parse(tmp_path / "batch.xml").getroot()}
    assert set(suites) == {"broken.ipynb", "seeded.ipynb", "steady.ipynb", "unseeded.ipynb"}
    assert suites["unseeded.ipynb"].get("failures") == "1"
    assert [case.get("name") for case in suites["steady.ipynb"]] == [
        "cell 1", "one (cell 2)", "two (cell 3)"]
    assert suites["broken.ipynb"].find("testcase/error").get("type") == "bad input"

    index = (reports / "index.html").read_text()
    assert '<a href="seeded.html">seeded.ipynb</a>' in index
    assert '<a href="broken.html">' not in index
    assert "not reproduced" in index
    assert "draw: diverged" in (reports / "unseeded.html").read_text()

    executed = sorted(path.name for path in (tmp_path / "executed").iterdir())
    assert executed == ["seeded.ipynb", "steady.ipynb", "unseeded.ipynb"]
    assert nbformat.read(tmp_path / "executed" / "steady.ipynb", 4).metadata["flowrec"][
        "check_output"] is True


@pytest.mark.kernel
def test_grid_sets_each_checked(batch_folder, tmp_path):
    """Each set runs once; a set other than the defaults is compared with a first run of it."""
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"seed": [0, 1]}))
    completed = flowrec("check", batch_folder / "seeded.ipynb", batch_folder / "steady.ipynb",
                        "--grid", grid, "--json", tmp_path / "grid-report.json", "--jobs", "2")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads((tmp_path / "grid-report.json").read_text())
    runs = {(check["name"], check["parameter_set"]): check for check in report["checks"]}
    assert set(runs) == {("seeded.ipynb", "seed=0"), ("seeded.ipynb", "seed=1"),
                         ("steady.ipynb", "defaults")}
    assert runs[("seeded.ipynb", "seed=0")]["result"]["reference"] == (
        "records saved in the notebook")
    assert runs[("seeded.ipynb", "seed=1")]["result"]["reference"].startswith(
        "a first run with these parameters")
    assert runs[("seeded.ipynb", "seed=1")]["result"]["parameters"] == {"seed": 1}


def test_output_rejected_for_several(batch_folder, tmp_path):
    """--output names one file, so several checks need --output-dir."""
    completed = flowrec("check", batch_folder, "--output", tmp_path / "out.ipynb")
    assert_one_line_error(completed, "use --output-dir DIR")


def test_bad_grid_exits_2(batch_folder, tmp_path):
    """A malformed grid stops the batch before anything runs."""
    grid = tmp_path / "grid.yaml"
    grid.write_text("seed: [1, 2\n")
    completed = flowrec("check", batch_folder, "--grid", grid)
    assert_one_line_error(completed, "is not valid YAML (line 2")


def test_misspelled_grid_name_exits_2(batch_folder, tmp_path):
    """A grid name that no notebook's parameters cell assigns is bad input."""
    grid = tmp_path / "grid.yaml"
    grid.write_text("sede: [1, 2]\n")
    completed = flowrec("check", batch_folder, "--grid", grid)
    assert_one_line_error(completed, "parameter 'sede' is assigned by the parameters cell of none")


def test_retries_need_scheduler(batch_folder):
    """--retries without --scheduler is a usage mistake."""
    completed = flowrec("check", batch_folder, "--retries", "3")
    assert_one_line_error(completed, "--retries applies to runs on a cluster")


def test_invalid_normalize_exits_2_once(batch_folder):
    """An invalid --normalize pattern is one error for the batch, not one per notebook."""
    completed = flowrec("check", batch_folder, "--normalize", "(unclosed")
    assert_one_line_error(completed, "invalid normalization pattern '(unclosed'")
