"""JUnit reports are valid against the JUnit schema, whatever their verdicts and text."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import xmlschema

from conftest import REPO
from flowrec.check import CheckResult
from flowrec.compare import Comparison, StageResult, Verdict
from flowrec.junit import junit_xml, xml_text

LOAD = "%load_ext flowrec"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(REPO / "tests" / "junit.xsd"))


def assert_valid(schema: xmlschema.XMLSchema, document: str | Path) -> None:
    """Validate, and show every reason on failure."""
    source = str(document)
    errors = [str(error) for error in schema.iter_errors(source)]
    assert errors == [], "\n".join(errors)


@pytest.mark.kernel
def test_check_report_valid(write_notebook, tmp_path, schema):
    """A real check with every kind of verdict writes a report the schema accepts."""
    path = write_notebook([
        LOAD,
        "%%flow_stage steady\nx = 1",
        "%%flow_stage draw\nimport random\ndraws = [random.random() for _ in range(3)]",
        "%%flow_stage boom\nraise ValueError('\\x1b[31mred\\x1b[0m \\x07 <b> & \"quoted\"')",
        "%%flow_stage after\ny = x + 1",
    ], execute=True, allow_errors=True)
    report = tmp_path / "junit.xml"
    completed = subprocess.run([sys.executable, "-m", "flowrec", "check", str(path),
                                "--junit", str(report)],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 1, completed.stderr

    assert_valid(schema, report)
    root = ElementTree.parse(report).getroot()
    assert root.get("tests") == "5"
    assert root.get("failures") == "1"
    assert root.get("errors") == "1"
    assert root.get("skipped") is None
    suite = root.find("testsuite")
    assert suite.get("skipped") == "1"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["cell 1", "steady (cell 2)", "draw (cell 3)", "boom (cell 4)",
                           "after (cell 5)"]
    assert list(cases["steady (cell 2)"]) == []
    assert cases["draw (cell 3)"].find("failure").get("type") == "diverged"
    error = cases["boom (cell 4)"].find("error")
    assert error.get("type") == "failed"
    assert '\\x1b[31mred\\x1b[0m \\x07 <b> & "quoted"' in error.get("message")
    assert error.text == error.get("message")
    assert cases["after (cell 5)"].find("skipped").get("message").startswith("not run: ")


def stage(cell: int, name: str, verdict: Verdict, reason: str,
          seconds: float | None = 0.25) -> StageResult:
    return StageResult(cell, name, verdict, reason, rerun_duration=seconds)


def check_result(notebook: str, stages: list[StageResult], duration: float) -> CheckResult:
    return CheckResult(notebook=Path(notebook), reference_source="records saved in the notebook",
                       comparison=Comparison(stages, [], 1e-5, 1e-8), output_path=None,
                       kernel="python3", parameters={}, execution_error=None,
                       duration=duration, record_errors=[])


def test_unusual_text_and_times_valid(schema, tmp_path):
    """Control characters, lone surrogates and odd durations still give a valid report."""
    results = [
        check_result("dir\udcff/flow\x00.ipynb", [
            stage(1, "load\x1b", Verdict.IDENTICAL, "", seconds=None),
            stage(2, "fit", Verdict.NEW, "new\ufffe stage", seconds=float("nan")),
            stage(3, "plot", Verdict.CHANGED_CODE, "edited", seconds=-0.5),
        ], duration=float("inf")),
        check_result("second.ipynb", [stage(1, "only", Verdict.CLOSE, "within tolerance")], 1.5),
    ]
    document = junit_xml(results)
    path = tmp_path / "report.xml"
    path.write_text(document, encoding="utf-8")

    assert_valid(schema, path)
    root = ElementTree.parse(path).getroot()
    assert root.get("tests") == "4"
    assert root.get("failures") == "2"
    assert root.get("time") == "0.000"  # an infinite duration is written as 0.000
    first, second = root.findall("testsuite")
    assert first.get("name") == "dir\\udcff/flow\\x00.ipynb"
    assert [case.get("time") for case in first] == ["0.000", "0.000", "0.000"]
    assert first.find("testcase/failure").get("message") == "new: new\\ufffe stage"
    assert second.get("time") == "1.500"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("plain é 😀", "plain é 😀"),
        ("tab\tnew\nline\rreturn", "tab\tnew\nline\rreturn"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("nul\x00bell\x07", "nul\\x00bell\\x07"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("not characters \ufffe\uffff", "not characters \\ufffe\\uffff"),
    ],
    ids=["printable", "allowed-controls", "ansi-escape", "nul-and-bell", "surrogate",
         "non-characters"],
)
def test_xml_text_escapes(text, expected):
    """Only characters that XML 1.0 cannot contain are replaced."""
    assert xml_text(text) == expected


VALID_REPORT = """\
<testsuites name="flowrec" tests="1" failures="1" errors="0" time="0.250">
  <testsuite name="flow.ipynb" tests="1" failures="1" errors="0" skipped="0" time="0.250">
    <testcase classname="flow" name="fit (cell 2)" time="0.250">
      <failure message="diverged" type="diverged">diverged</failure>
    </testcase>
  </testsuite>
</testsuites>
"""


@pytest.mark.parametrize(
    "old, new",
    [
        ('tests="1" failures="1" errors="0" time', 'tests="1" failures="1" errors="0" skipped="0" time'),
        ('<testsuite name="flow.ipynb" tests="1"', '<testsuite name="flow.ipynb"'),
        ('skipped="0" time="0.250">', 'skipped="none" time="0.250">'),
        ('time="0.250">\n    <testcase', 'time="1,5">\n    <testcase'),
        ('name="fit (cell 2)" ', ""),
        ('<failure message="diverged" type="diverged">diverged</failure>', "<verdict/>"),
        ('  <testsuite name="flow.ipynb"', '  <testcase name="stray"/>\n  <testsuite name="flow.ipynb"'),
    ],
    ids=["skipped-on-root", "suite-without-tests", "count-not-integer", "time-with-comma",
         "case-without-name", "unknown-element", "case-outside-suite"],
)
def test_schema_rejects_invalid_reports(schema, old, new):
    """The schema rejects documents that break the JUnit structure, so validation can fail."""
    assert old in VALID_REPORT
    assert_valid(schema, VALID_REPORT)
    broken = VALID_REPORT.replace(old, new, 1)
    assert not schema.is_valid(broken)


def test_schema_rejects_lone_result(schema):
    """Only testsuites and testsuite can be the root element."""
    assert not schema.is_valid('<failure message="diverged"/>')
    assert schema.is_valid('<testsuite name="n" tests="0" failures="0" errors="0"/>')


def test_schema_accepts_pytest_report(schema, tmp_path):
    """pytest's own junitxml report, another real producer of the format, is valid too."""
    (tmp_path / "test_sample.py").write_text(textwrap.dedent("""\
        import pytest

        def test_passes():
            print("some output")

        def test_fails():
            assert 1 == 2

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture failed")

        def test_errors(broken):
            pass

        @pytest.mark.skip(reason="not today")
        def test_skipped():
            pass

        @pytest.mark.xfail(reason="known")
        def test_expected_failure():
            assert False
        """))
    report = tmp_path / "pytest.xml"
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "junit_logging=all",
         f"--junitxml={report}", "test_sample.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 1, completed.stdout
    assert_valid(schema, report)
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite.get("tests") == "5"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "1"
    assert suite.get("skipped") == "2"
