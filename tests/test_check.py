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
    assert read.reason.startswith("input file missing: input.txt; raised FileNotFoundError")
    assert read.input_files_changed == ["input file missing: input.txt"]
    assert stage(result, "double").verdict is Verdict.NOT_RUN
    assert "stopped at cell 2" in stage(result, "double").reason
    assert "FileNotFoundError" in result.execution_error
    assert not result.reproduced


def test_input_file_changed(write_notebook, tmp_path):
    """A stage whose input file changed names the file, not an unexplained divergence."""
    data = tmp_path / "values.csv"
    data.write_text("x\n1\n2\n")
    path = write_notebook([
        LOAD,
        "%%flow_stage load\nimport pandas as pd\nframe = pd.read_csv('values.csv')",
        "%%flow_stage total\ntotal = int(frame['x'].sum())",
    ], execute=True)
    data.write_text("x\n1\n5\n")
    result = run_check(CheckOptions(path))
    load = stage(result, "load")
    assert load.verdict is Verdict.DIVERGED
    assert load.reason.startswith("input file changed: values.csv (6 bytes, ")
    assert stage(result, "total").inherited_from == ["frame from load"]


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
    with pytest.raises(BadInputError, match="is the same file as"):
        run_check(CheckOptions(path, output=path))


@pytest.mark.parametrize("target", ["input", "output", "text", "folder"])
def test_json_never_overwrites_user_files(write_notebook, tmp_path, target):
    """--json refuses the input, the --output notebook, user files and folders, before running."""
    path = write_notebook([LOAD, "x = 1"], execute=True)
    before = path.read_bytes()
    output = tmp_path / "out.ipynb"
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    (tmp_path / "reports").mkdir()
    json_path = {"input": path, "output": output, "text": notes,
                 "folder": tmp_path / "reports"}[target]
    with pytest.raises(BadInputError, match="--json"):
        run_check(CheckOptions(path, output=output, json_path=json_path))
    assert path.read_bytes() == before
    assert notes.read_text() == "mine"
    assert not output.exists()


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


def test_dead_kernel_fails_cell(write_notebook, monkeypatch):
    """A kernel that dies in a cell makes that cell failed and the rest not run."""
    path = write_notebook([
        LOAD,
        "%%flow_stage die\nimport os\nif os.environ.get('FLOWREC_TEST_DIE'):\n    os._exit(1)\nok = 1",
        "%%flow_stage after\nlater = 2",
    ], execute=True)
    monkeypatch.setenv("FLOWREC_TEST_DIE", "1")
    result = run_check(CheckOptions(path, timeout=60))
    assert stage(result, "die").verdict is Verdict.FAILED
    assert "kernel died" in stage(result, "die").reason
    assert stage(result, "after").verdict is Verdict.NOT_RUN


def test_usage_error_fails_cell(write_notebook):
    """A stage line rejected as a usage error fails the cell with the reason."""
    path = write_notebook([LOAD, "x = 1"], execute=True)
    notebook = nbformat.read(path, 4)
    notebook.cells.append(nbformat.v4.new_code_cell("%%flow_stage 'bad name'\ny = 2"))
    nbformat.write(notebook, path)
    result = run_check(CheckOptions(path))
    assert stage(result, "cell 3").verdict is Verdict.FAILED
    assert "UsageError" in stage(result, "cell 3").reason
    assert result.execution_error is not None


def test_timeout_reason_and_fraction(write_notebook):
    """A timed-out cell is reported as timed out; fractional timeouts are rounded up."""
    path = write_notebook([LOAD, "%%flow_stage slow\nimport time\nslept = 1"], execute=True)
    notebook = nbformat.read(path, 4)
    notebook.cells[1].source = "%%flow_stage slow\nimport time\ntime.sleep(60)\nslept = 1"
    nbformat.write(notebook, path)
    result = run_check(CheckOptions(path, timeout=1.5))
    slow = stage(result, "slow")
    assert slow.verdict is Verdict.FAILED
    assert slow.reason.startswith("the cell timed out after 2 s")


def test_out_of_order_reference_is_root(write_notebook, tmp_path):
    """A stage whose saved input came from an out-of-order run is a root, with a note."""
    from conftest import execute_notebook, new_notebook

    notebook = new_notebook([LOAD, "%%flow_stage init\nx = 1", "%%flow_stage inc\nx = x + 1"])
    execute_notebook(notebook, tmp_path)
    # Run "inc" a second time, as a user re-running one cell would.
    from nbclient import NotebookClient

    client = NotebookClient(notebook, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        for index in (0, 1, 2, 2):
            client.execute_cell(notebook.cells[index], index)
    path = tmp_path / "ooo.ipynb"
    nbformat.write(notebook, path)
    result = run_check(CheckOptions(path))
    inc = stage(result, "inc")
    assert inc.verdict is Verdict.DIVERGED
    assert inc.root
    assert inc.inherited_from == []
    assert "recorded out of order" in inc.reason


def test_unreadable_record_fails_check(write_notebook):
    """A damaged reference record makes the check not reproduced."""
    path = write_notebook([LOAD, "%%flow_stage one\nx = 1"], execute=True)
    notebook = nbformat.read(path, 4)
    for output in notebook.cells[1].outputs:
        if "application/vnd.flowrec.stage+json" in output.get("data", {}):
            output.data["application/vnd.flowrec.stage+json"] = {"version": 99}
    nbformat.write(notebook, path)
    result = run_check(CheckOptions(path))
    assert result.record_errors
    assert "version 99 is not supported" in result.record_errors[0]
    assert not result.reproduced


def test_opaque_values_listed(write_notebook):
    """Values that cannot be fingerprinted are named as not compared."""
    path = write_notebook([
        LOAD,
        "%%flow_stage make\nimport threading\nguard = threading.Lock()\ncount = 3",
    ], execute=True)
    result = run_check(CheckOptions(path))
    make = stage(result, "make")
    assert make.verdict is Verdict.IDENTICAL
    assert "not compared: guard (opaque: a lock has no content to compare)" in make.reason
    assert result.comparison.not_compared == ["make.guard"]


def test_svg_figures_and_time_magic_identical(write_notebook):
    """SVG figures and %%time output after a stage line compare as identical."""
    path = write_notebook([
        LOAD,
        "%matplotlib inline\n%config InlineBackend.figure_formats = ['svg']",
        "%%flow_stage plot\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()",
        "%%flow_stage timed\n%%time\ntotal = sum(range(1000))",
    ], execute=True)
    result = run_check(CheckOptions(path))
    assert stage(result, "plot").verdict is Verdict.IDENTICAL
    timed = stage(result, "timed")
    assert timed.verdict is Verdict.IDENTICAL
    assert "SVG element id" in result.comparison.normalizations
    assert "duration" in result.comparison.normalizations


def test_flow_listing_not_compared(write_notebook):
    """``%flow`` listings, which contain timings, do not make a check diverge."""
    path = write_notebook([LOAD, "%%flow_stage one\nx = 1", "%flow", "%flow json"], execute=True)
    result = run_check(CheckOptions(path))
    assert result.reproduced


def test_user_normalization_rules(write_notebook):
    """Rules from the notebook's metadata and from --normalize hide chosen output noise."""
    cells = [LOAD, "%%flow_stage stamp\nimport uuid\nprint('run', uuid.uuid4().hex)"]
    path = write_notebook(cells, execute=True)
    assert stage(run_check(CheckOptions(path)), "stamp").outputs_differ
    result = run_check(CheckOptions(path, normalize=[r"[0-9a-f]{32}"]))
    assert stage(result, "stamp").verdict is Verdict.IDENTICAL
    assert "user rule [0-9a-f]{32}" in result.comparison.normalizations
    notebook = nbformat.read(path, 4)
    notebook.metadata["flowrec"] = {"normalize": [{"pattern": "run [0-9a-f]+",
                                                   "replacement": "run <id>"}]}
    nbformat.write(notebook, path)
    assert stage(run_check(CheckOptions(path)), "stamp").verdict is Verdict.IDENTICAL


def test_invalid_normalization_rule(write_notebook):
    """A pattern that does not compile, or matches empty text, is bad input."""
    path = write_notebook(["x = 1"])
    with pytest.raises(BadInputError, match="invalid normalization pattern '\\(' given with"):
        run_check(CheckOptions(path, normalize=["("]))
    with pytest.raises(BadInputError, match="matches empty text"):
        run_check(CheckOptions(path, normalize=["a*"]))


def test_written_file_divergence_inherited(write_notebook):
    """A stage writing a different file diverges, and its reader inherits through the file."""
    path = write_notebook([
        LOAD,
        ("factor = 1", ["parameters"]),
        "%%flow_stage save\nwith open('scaled.txt', 'w') as handle:\n"
        "    handle.write(str(10 * factor))",
        "%%flow_stage reread\nwith open('scaled.txt') as handle:\n    text = handle.read()",
    ], execute=True)
    result = run_check(CheckOptions(path, parameters={"factor": 2}))
    save, reread = stage(result, "save"), stage(result, "reread")
    assert save.verdict is Verdict.DIVERGED
    assert [value.name for value in save.diverged_values] == ["file:scaled.txt"]
    assert reread.verdict is Verdict.DIVERGED
    assert not reread.root
    assert reread.inherited_from == ["file scaled.txt from save"]


def test_output_diff_shown(write_notebook):
    """A cell whose printed output changed carries a diff of the two outputs."""
    path = write_notebook([LOAD, "%%flow_stage coin\nimport random\nprint(random.random() < 2)\n"
                                 "print('draw', random.randint(0, 10**9))"], execute=True)
    result = run_check(CheckOptions(path))
    coin = stage(result, "coin")
    assert coin.outputs_differ
    assert coin.output_diff[0] == "--- reference"
    assert coin.output_diff[1] == "+++ re-run"
    assert any(line.startswith("-[stdout] draw ") for line in coin.output_diff)
    assert any(line.startswith("+[stdout] draw ") for line in coin.output_diff)
