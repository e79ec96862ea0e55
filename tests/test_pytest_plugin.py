"""The pytest plugin: ``pytest --flowrec`` run by pytester on small real notebooks."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Callable

import nbformat
import pytest

from conftest import execute_notebook, new_notebook

pytest_plugins = ["pytester"]

LOAD = "%load_ext flowrec"
# A subprocess run may start several kernels. The limit catches a hung run, not a slow one.
RUN_TIMEOUT = 600

# Notebooks recorded once per module, by name. Each test copies the ones it needs.
RECORDED_CELLS = {
    "reproduces.ipynb": [
        LOAD,
        "%%flow_stage make\nvalues = [1, 2, 3]",
        "%%flow_stage total\ntotal = sum(values)",
    ],
    "unseeded.ipynb": [
        LOAD,
        "%%flow_stage draw\nimport random\nsample = [random.random() for _ in range(5)]",
        "%%flow_stage total\ntotal = sum(sample)",
    ],
    # The shift is 0 while recording and 1 in runs where the test sets the
    # variable, so the float moves by a relative 1e-3, far beyond the
    # default tolerance of 1e-05.
    "shifted.ipynb": [
        LOAD,
        "%%flow_stage measure\nimport os\n"
        "value = 1.0 + 1e-3 * int(os.environ.get('FLOWREC_TEST_SHIFT', '0'))",
    ],
    "parameters.ipynb": [
        LOAD,
        ("scale = 2", ["parameters"]),
        "%%flow_stage product\nproduct = scale * 21",
    ],
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Return a function giving the path of a notebook from RECORDED_CELLS, executed on first use."""
    folder = tmp_path_factory.mktemp("recorded")
    paths: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in paths:
            notebook = execute_notebook(new_notebook(RECORDED_CELLS[name]), folder)
            paths[name] = folder / name
            nbformat.write(notebook, paths[name])
        return paths[name]

    return get


@pytest.fixture
def add_recorded(pytester: pytest.Pytester,
                 recorded: Callable[[str], Path]) -> Callable[..., Path]:
    """Copy a recorded notebook into the pytester folder, optionally into a subfolder."""

    def add(name: str, folder: str = "") -> Path:
        target = pytester.path / folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(recorded(name), target)
        return target

    return add


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=RUN_TIMEOUT)


def run_in_process(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in this process: fast, and enough for errors raised before collection."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def assert_no_traceback(result: pytest.RunResult) -> None:
    """Check pytest's failure reports, leaving out the captured output and log sections.

    Those sections contain what kernels and other libraries wrote, which the
    plugin passes on unchanged.
    """
    reports = re.split(r"-+ Captured ", result.stdout.str())[0] + result.stderr.str()
    assert "Traceback" not in reports, reports
    assert "pytest_plugin.py" not in reports, reports
    assert "check.py" not in reports, reports


@pytest.mark.kernel
def test_reproducing_notebook_passes(pytester, add_recorded):
    add_recorded("reproduces.ipynb")
    result = run(pytester, "--flowrec", "-v", "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "flowrec: rtol=1e-05, atol=1e-08, runs=1, kernel: each notebook's own",
        "reproduces.ipynb::flowrec PASSED*",
    ])
    # -rP shows the report of a passed check too.
    result.stdout.fnmatch_lines(["flowrec check: reproduces.ipynb", "reproduced: 3 identical"])


@pytest.mark.kernel
def test_unseeded_stage_fails_with_cause(pytester, add_recorded):
    add_recorded("unseeded.ipynb")
    result = run(pytester, "--flowrec", "--flowrec-runs", "2")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert ("not reproduced: stage 'draw' (cell 2) diverged (root); likely cause: "
            "unseeded random generator: random.random at line 3") in output, output
    assert "flowrec check: unseeded.ipynb" in output, output
    assert "diverged (inherited)" in output, output
    # --flowrec-runs 2 reached the check.
    assert "reproduced in 0 of 2 runs" in output, output
    result.stdout.fnmatch_lines(["FAILED unseeded.ipynb::flowrec - not reproduced: stage 'draw'*"])
    assert_no_traceback(result)


def test_invalid_json_fails_clearly(pytester):
    (pytester.path / "broken.ipynb").write_text("{not json", encoding="utf-8")
    result = run(pytester, "--flowrec")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["flowrec: error: *broken.ipynb' is not valid JSON (line 1, *"])
    assert_no_traceback(result)


def test_notebook_without_records_fails(pytester):
    nbformat.write(new_notebook(["x = 1"]), pytester.path / "plain.ipynb")
    result = run(pytester, "--flowrec")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["flowrec: error: 'plain.ipynb' has no flowrec records to compare with: *"])
    assert_no_traceback(result)


def test_checkpoints_and_outputs_not_collected(pytester):
    """Checkpoints and executed notebooks are skipped, even where pytest recurses into them."""
    checkpoints = pytester.path / ".ipynb_checkpoints"
    checkpoints.mkdir()
    nbformat.write(new_notebook(["x = 1"]), checkpoints / "plain-checkpoint.ipynb")
    nbformat.write(new_notebook(["x = 1"]), pytester.path / "plain.ipynb")
    executed = new_notebook(["x = 1"])
    executed.metadata["flowrec"] = {"check_output": True, "source": "plain.ipynb"}
    nbformat.write(executed, pytester.path / "executed.ipynb")
    # Normalization rules share the metadata key but do not make an output.
    with_rules = new_notebook(["x = 1"])
    with_rules.metadata["flowrec"] = {"normalize": [{"pattern": "run [0-9]+"}]}
    nbformat.write(with_rules, pytester.path / "with_rules.ipynb")

    # pytest itself skips folders starting with a dot unless norecursedirs is changed.
    result = run(pytester, "--flowrec", "--collect-only", "-q", "-o", "norecursedirs=build")
    assert result.ret == pytest.ExitCode.OK
    collected = sorted(line for line in result.outlines if "::" in line)
    assert collected == ["plain.ipynb::flowrec", "with_rules.ipynb::flowrec"]

    named = run(pytester, "--flowrec", "--collect-only", "-q", "executed.ipynb")
    assert [line for line in named.outlines if "::" in line] == ["executed.ipynb::flowrec"]


def test_without_flag_nothing_collected(pytester, add_recorded):
    add_recorded("reproduces.ipynb")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["collected 0 items"])
    assert "flowrec:" not in result.stdout.str()


@pytest.mark.kernel
def test_tolerance_option_and_ini(pytester, add_recorded, monkeypatch):
    """A relative change of 1e-3 fails by default and passes within rtol=0.01."""
    add_recorded("shifted.ipynb")
    monkeypatch.setenv("FLOWREC_TEST_SHIFT", "1")

    default = run(pytester, "--flowrec")
    default.assert_outcomes(failed=1)
    default.stdout.fnmatch_lines(["*stage 'measure' (cell 2) diverged (root)*"])

    option = run(pytester, "--flowrec", "--flowrec-rtol", "0.01", "-rP")
    option.assert_outcomes(passed=1)
    option.stdout.fnmatch_lines(["flowrec: rtol=0.01, *", "*measure*close*"])

    pytester.makeini("[pytest]\nflowrec_rtol = 0.01\n")
    ini = run(pytester, "--flowrec")
    ini.assert_outcomes(passed=1)


@pytest.mark.kernel
def test_parameter_parsed_like_cli(pytester, add_recorded):
    """``scale=2`` is the integer 2, as with ``flowrec check -p scale 2``, so it reproduces.

    A notebook whose parameters cell does not assign ``scale`` runs without it.
    """
    add_recorded("parameters.ipynb")
    add_recorded("reproduces.ipynb")
    result = run(pytester, "--flowrec", "--flowrec-parameter", "scale=2", "--flowrec-hash-seeds")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["flowrec: *, hash seeds 0 and 1 compared, parameters: scale=2"])


@pytest.mark.kernel
def test_output_dir_keeps_executed_notebook(pytester, add_recorded):
    notebook = add_recorded("reproduces.ipynb", folder="notebooks")
    before = notebook.read_bytes()
    result = run(pytester, "--flowrec", "--flowrec-output-dir", "kept")
    result.assert_outcomes(passed=1)
    executed_copy = pytester.path / "kept" / "notebooks" / "reproduces.ipynb"
    metadata = json.loads(executed_copy.read_text(encoding="utf-8"))["metadata"]
    assert metadata["flowrec"]["check_output"] is True
    assert notebook.read_bytes() == before

    # The kept notebook is an output, so a second run does not collect it.
    again = run(pytester, "--flowrec", "--collect-only", "-q")
    collected = [line for line in again.outlines if "::" in line]
    assert collected == ["notebooks/reproduces.ipynb::flowrec"]

    # Under the rootdir itself, the executed notebook would replace its input.
    same = run(pytester, "--flowrec", "--flowrec-output-dir", ".")
    same.assert_outcomes(failed=1)
    same.stdout.fnmatch_lines(["flowrec: error: --flowrec-output-dir '*reproduces.ipynb' is the "
                               "same file as *; flowrec never overwrites its inputs*"])
    assert notebook.read_bytes() == before


@pytest.mark.kernel
def test_xdist_runs_both_items(pytester, add_recorded):
    add_recorded("reproduces.ipynb")
    add_recorded("unseeded.ipynb")
    result = run(pytester, "--flowrec", "-n", "2", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["created: 2/2 workers"])
    result.stdout.fnmatch_lines_random([
        "*PASSED reproduces.ipynb::flowrec*",
        "*FAILED unseeded.ipynb::flowrec*",
    ])
    assert "not reproduced: stage 'draw' (cell 2) diverged (root)" in result.stdout.str()
    assert_no_traceback(result)


@pytest.mark.parametrize("option, message", [
    ("--flowrec-rtol=-1", "--flowrec-rtol: invalid tolerance '-1': give a number of 0 or more"),
    ("--flowrec-atol=abc", "--flowrec-atol: invalid tolerance 'abc': give a number"),
    ("--flowrec-runs=0", "--flowrec-runs: invalid count '0': give 1 to 1000"),
    ("--flowrec-timeout=soon", "--flowrec-timeout: invalid number of seconds 'soon'"),
    ("--flowrec-parameter=alpha", "--flowrec-parameter: invalid value 'alpha': write NAME=VALUE"),
    ("--flowrec-parameter=class=1", "--flowrec-parameter: invalid value 'class=1'"),
    ("--flowrec-kernel=no-such-kernel", "unknown kernel 'no-such-kernel'; installed kernels: "),
    ("--flowrec-normalize=(", "invalid normalization pattern '(' given with --flowrec-normalize"),
    ("--flowrec-output-dir=file.txt", "--flowrec-output-dir 'file.txt' is a file; give a folder"),
])
def test_invalid_option_usage_error(pytester, option, message):
    (pytester.path / "file.txt").write_text("not a folder\n", encoding="utf-8")
    result = run_in_process(pytester, "--flowrec", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert_no_traceback(result)


def test_invalid_ini_option_usage_error(pytester):
    pytester.makeini("[pytest]\nflowrec_runs = many\n")
    result = run_in_process(pytester, "--flowrec")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ini option flowrec_runs: invalid count 'many': give a whole number" in result.stderr.str()


def test_options_ignored_without_flag(pytester):
    """Without --flowrec the plugin validates nothing, so a bad ini value cannot break a run."""
    pytester.makeini("[pytest]\nflowrec_runs = many\n")
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)


@pytest.mark.kernel
def test_reference_store_used(pytester, add_recorded):
    """--flowrec-reference compares with the run flowrec record stored; a missing one fails."""
    import subprocess
    import sys

    add_recorded("reproduces.ipynb")
    recorded = subprocess.run(
        [sys.executable, "-m", "flowrec", "record", "reproduces.ipynb", "--store", "refs"],
        cwd=pytester.path, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    add_recorded("shifted.ipynb")
    result = run(pytester, "--flowrec", "--flowrec-reference", "refs", "-rfP")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "references from" in output, output
    assert "reference: the run stored in" in output, output
    result.stdout.fnmatch_lines(["flowrec: error: no reference run of 'shifted.ipynb' with the "
                                 "default parameters in store*",
                                 "FAILED shifted.ipynb::flowrec - flowrec: error: no reference*"])
    assert_no_traceback(result)


def test_reference_option_needs_a_store(pytester):
    result = run_in_process(pytester, "--flowrec", "--flowrec-reference", "nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--flowrec-reference: reference store" in result.stderr.str()
