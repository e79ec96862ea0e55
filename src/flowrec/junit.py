"""JUnit XML reports of a check, for CI systems.

One ``testsuite`` per notebook (per notebook and parameter set in a batch)
and one ``testcase`` per recorded cell.
Identical and close cells pass. A diverged, changed or new cell is a
``failure``, a cell that raised, timed out or lost its kernel is an
``error``, and a cell the re-run never reached is ``skipped``. The root element
is ``<testsuites name="flowrec">``, which is how flowrec recognizes a report
it may replace.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from .check import CheckResult
from .compare import Verdict
from .outputs import write_text_atomic
from .report import verdict_text

SUITES_NAME = "flowrec"


def junit_xml(results: list[CheckResult]) -> str:
    """Return the JUnit XML document for the results of one or more checks."""
    return junit_document([Suite(str(result.notebook), Path(result.notebook).stem, result)
                           for result in results])


@dataclass
class Suite:
    """One ``testsuite``: a check's result, or the error that kept it from giving one."""

    name: str
    classname: str
    result: CheckResult | None = None
    error: str | None = None
    error_type: str = "bad input"
    seconds: float | None = None


def junit_document(suites: list[Suite]) -> str:
    """Return the JUnit XML document with one ``testsuite`` per entry of ``suites``.

    A suite without a result has a single test case, ``check``, with the
    error as its ``error`` element.
    """
    root = ElementTree.Element("testsuites", name=SUITES_NAME)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for entry in suites:
        suite = ElementTree.SubElement(root, "testsuite", name=entry.name)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if entry.result is not None:
            _add_cases(suite, entry.classname, entry.result, counts)
            seconds = entry.result.duration if entry.seconds is None else entry.seconds
        else:
            counts["tests"] = counts["errors"] = 1
            case = ElementTree.SubElement(suite, "testcase", classname=entry.classname,
                                          name="check", time="0.000")
            message = entry.error or "the check did not run"
            element = ElementTree.SubElement(case, "error", message=message, type=entry.error_type)
            element.text = message
            seconds = entry.seconds or 0.0
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{seconds:.3f}")
        total_time += seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(
        root, encoding="unicode") + "\n"


def _add_cases(suite: ElementTree.Element, classname: str, result: CheckResult,
               counts: dict[str, int]) -> None:
    """Add one test case per recorded cell of ``result`` to ``suite``."""
    for stage in result.comparison.stages:
        counts["tests"] += 1
        seconds = stage.rerun_duration or 0.0
        case = ElementTree.SubElement(
            suite, "testcase", classname=classname,
            name=stage.label if stage.stage is None else f"{stage.label} (cell {stage.cell})",
            time=f"{seconds:.3f}")
        message = f"{verdict_text(stage)}: {stage.reason}"
        if stage.causes:
            message += "; likely cause: " + "; ".join(stage.causes)
        if stage.verdict is Verdict.FAILED:
            counts["errors"] += 1
            element = ElementTree.SubElement(case, "error", message=message,
                                             type=stage.verdict.value)
            element.text = message
        elif stage.verdict is Verdict.NOT_RUN:
            counts["skipped"] += 1
            ElementTree.SubElement(case, "skipped", message=message)
        elif not stage.verdict.reproduced:
            counts["failures"] += 1
            element = ElementTree.SubElement(case, "failure", message=message,
                                             type=stage.verdict.value)
            element.text = message


def write_junit(results: list[CheckResult], path: Path) -> None:
    write_text_atomic(path, junit_xml(results))


def is_flowrec_junit(path: Path) -> bool:
    """Return whether ``path`` contains a JUnit report that flowrec wrote."""
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError):
        return False
    return root.tag == "testsuites" and root.get("name") == SUITES_NAME
