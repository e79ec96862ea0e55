"""``flowrec check`` on real notebooks run by papermill: every verdict."""

from __future__ import annotations

import json

import nbformat
import pytest

from flowrec.check import CheckOptions, run_check
from flowrec.compare import Verdict
from flowrec.errors import BadInputError

pytestmark = pytest.mark.kernel

LOAD = "%load_ext flowrec"


def verdicts(result):
    return {stage.label: stage.verdict for stage in result.comparison.stages}


def stage(result, label):
    return next(item for item in result.comparison.stages if item.label == label)


def test_identical_with_noisy_outputs(write_notebook):
    """Addresses and kernel temporary paths in outputs do not count as divergence."""
    path = write_notebook([
        LOAD,
        "%%flow_stage make\nimport warnings\nvalues = [1, 2, 3]\nprint(object())\n"
        "warnings.warn('careful with values')",
        "%%flow_stage total\ntotal = sum(values)\ntotal",
    ], execute=True)
    result = run_check(CheckOptions(path))
    assert verdicts(result) == {"cell 1": Verdict.IDENTICAL, "make": Verdict.IDENTICAL,
                                "total": Verdict.IDENTICAL}
    assert result.reproduced
    assert "memory address" in result.comparison.normalizations
    assert "kernel temporary path" in result.comparison.normalizations
    assert result.reference_source == "records saved in the notebook"


def test_close_within_tolerance(write_notebook):
    """Floats that move by far less than the tolerance are close, not diverged."""
    cells = [
        LOAD,
        "import numpy as np\nrng = np.random.default_rng()",
        "%%flow_stage jitter --ignore rng\nscalar = 1.0 + rng.random() * 1e-12\n"
        "vector = np.linspace(0.0, 1.0, 10) + rng.random(10) * 1e-12",
    ]
    path = write_notebook(cells, execute=True)
    result = run_check(CheckOptions(path))
    jitter = stage(result, "jitter")
    assert jitter.verdict is Verdict.CLOSE
    assert jitter.ignored == ["rng"]
    # The generator itself is seeded from the operating system on each run.
    assert stage(result, "cell 2").verdict is Verdict.DIVERGED
    by_name = {value.name: value for value in jitter.values}
    assert by_name["scalar"].verdict is Verdict.CLOSE
    assert by_name["vector"].verdict is Verdict.CLOSE
    assert by_name["vector"].differing >= 9
    assert by_name["vector"].max_abs < 1e-11
    assert "within rtol=1e-05, atol=1e-08" in by_name["vector"].detail

    strict = run_check(CheckOptions(path, rtol=0.0, atol=0.0))
    assert stage(strict, "jitter").verdict is Verdict.DIVERGED
    assert not strict.reproduced


def test_root_and_inherited_divergence(write_notebook):
    """The first diverged stage is the root; a stage diverging from its input inherits."""
    path = write_notebook([
        LOAD,
        "%%flow_stage draw\nimport random\nsample = [random.random() for _ in range(5)]",
        "%%flow_stage fixed\nlabel = 'constant'",
        "%%flow_stage total\ntotal = sum(sample)",
    ], execute=True)
    result = run_check(CheckOptions(path))
    draw, fixed, total = stage(result, "draw"), stage(result, "fixed"), stage(result, "total")
    assert draw.verdict is Verdict.DIVERGED
    assert draw.root
    assert [value.name for value in draw.diverged_values] == ["sample"]
    assert draw.diverged_values[0].detail.startswith("list len 5: 5 of 5 elements differ")
    assert fixed.verdict is Verdict.IDENTICAL
    assert total.verdict is Verdict.DIVERGED
    assert not total.root
    assert total.inherited_from == ["sample from draw"]
    assert result.comparison.first_divergence is draw


def test_failed_and_not_run(write_notebook, tmp_path):
    """A cell that raises in the re-run fails; the cells after it are not run."""
    data = tmp_path / "input.txt"
    data.write_text("42\n")
    path = write_notebook([
        LOAD,
        "%%flow_stage read\nwith open('input.txt') as handle:\n    number = int(handle.read())",
        "%%flow_stage double\ndoubled = number * 2",
    ], execute=True)
    data.unlink()
    result = run_check(CheckOptions(path))
    read = stage(result, "read")
    assert read.verdict is Verdict.FAILED
    assert read.reason.startswith("raised FileNotFoundError")
    assert stage(result, "double").verdict is Verdict.NOT_RUN
    assert "stopped at cell 2" in stage(result, "double").reason
    assert "FileNotFoundError" in result.execution_error
    assert not result.reproduced


def test_changed_code_and_new_cell(write_notebook):
    """An edited cell is reported as changed code, a never-run cell as new."""
    path = write_notebook([LOAD, "%%flow_stage base\nx = 1", "%%flow_stage grow\ny = x + 1"],
                          execute=True)
    notebook = nbformat.read(path, 4)
    notebook.cells[2].source = "%%flow_stage grow\ny = x + 2"
    notebook.cells.append(nbformat.v4.new_code_cell("%%flow_stage extra\nz = 3"))
    nbformat.write(notebook, path)
    result = run_check(CheckOptions(path))
    assert verdicts(result) == {"cell 1": Verdict.IDENTICAL, "base": Verdict.IDENTICAL,
                                "grow": Verdict.CHANGED_CODE, "extra": Verdict.NEW}
    assert not result.reproduced


def test_raises_exception_tag(write_notebook):
    """A cell tagged raises-exception may raise without failing; later cells still run."""
    path = write_notebook([
        LOAD,
        ("%%flow_stage expected_error\nraise KeyError('missing column')", ["raises-exception"]),
        "%%flow_stage after\nfinished = True",
    ], execute=True, allow_errors=True)
    result = run_check(CheckOptions(path))
    assert stage(result, "expected_error").verdict is Verdict.IDENTICAL
    assert stage(result, "after").verdict is Verdict.IDENTICAL
    assert result.reproduced


def test_timeout_fails_cell(write_notebook):
    """A cell running past --timeout fails the check."""
    path = write_notebook([LOAD, "%%flow_stage slow\nimport time\ntime.sleep(0.1)\nslept = True"],
                          execute=True)
    notebook = nbformat.read(path, 4)
    notebook.cells[1].source = notebook.cells[1].source.replace("0.1", "60")
    nbformat.write(notebook, path)
    result = run_check(CheckOptions(path, timeout=2))
    assert "timed out after 2" in result.execution_error
    assert not result.reproduced


def test_notebook_without_records_runs_twice(write_notebook):
    """With no saved records the notebook is run twice and the runs are compared."""
    path = write_notebook(["import random\npick = random.random()", "steady = 10"])
    result = run_check(CheckOptions(path))
    assert result.reference_source == "a first run (the notebook had no saved records)"
    assert verdicts(result) == {"cell 1": Verdict.DIVERGED, "cell 2": Verdict.IDENTICAL}
    assert stage(result, "cell 1").diverged_values[0].name == "pick"


def test_parameters_pass_through(write_notebook):
    """-p values reach the notebook through papermill; a changed one shows as divergence."""
    path = write_notebook([
        LOAD,
        ("count = 3", ["parameters"]),
        "%%flow_stage build\nvalues = list(range(count))",
    ], execute=True)
    same = run_check(CheckOptions(path, parameters={"count": 3}))
    assert stage(same, "build").verdict is Verdict.IDENTICAL
    changed = run_check(CheckOptions(path, parameters={"count": 4}))
    build = stage(changed, "build")
    assert build.verdict is Verdict.DIVERGED
    assert build.diverged_values[0].detail == "length changed from 3 to 4"


def test_output_written_input_untouched(write_notebook, tmp_path):
    """The executed notebook goes to --output; the input's bytes never change."""
    path = write_notebook([LOAD, "%%flow_stage one\nx = 1"], execute=True)
    before = path.read_bytes()
    output = tmp_path / "checked.ipynb"
    result = run_check(CheckOptions(path, output=output))
    assert path.read_bytes() == before
    assert result.output_path == output
    executed = nbformat.read(output, 4)
    assert executed.metadata["flowrec"]["check_output"] is True
    # A second check may replace its own earlier output.
    run_check(CheckOptions(path, output=output))


def test_output_never_overwrites_user_files(write_notebook, tmp_path):
    """--output refuses the input itself and files flowrec did not write."""
    path = write_notebook([LOAD, "x = 1"], execute=True)
    mine = tmp_path / "mine.ipynb"
    mine.write_text("precious")
    with pytest.raises(BadInputError, match="already exists and was not written by flowrec"):
        run_check(CheckOptions(path, output=mine))
    assert mine.read_text() == "precious"
    with pytest.raises(BadInputError, match="is the input notebook"):
        run_check(CheckOptions(path, output=path))


def test_extension_loaded_without_load_ext(write_notebook):
    """A notebook that never loads flowrec is still recorded in the check's runs."""
    path = write_notebook(["%%flow_stage would_fail_without\nvalue = 5"])
    result = run_check(CheckOptions(path))
    assert verdicts(result) == {"would_fail_without": Verdict.IDENTICAL}


def test_json_report(write_notebook, tmp_path):
    """--json writes the whole result with verdicts, values and tolerances."""
    from flowrec.report import write_json

    path = write_notebook([LOAD, "%%flow_stage one\nx = [1, 2]"], execute=True)
    result = run_check(CheckOptions(path))
    report_path = tmp_path / "report.json"
    write_json(result, report_path)
    report = json.loads(report_path.read_text())
    assert report["flowrec_report"] == 1
    assert report["reproduced"] is True
    assert report["first_divergence"] is None
    assert report["stages"][1]["label"] == "one"
    assert report["stages"][1]["verdict"] == "identical"
    assert report["stages"][1]["values"][0]["name"] == "x"
    assert report["rtol"] == 1e-05
