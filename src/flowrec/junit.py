"""JUnit XML reports of a check, for CI systems.

One ``testsuite`` per notebook and one ``testcase`` per recorded cell.
Identical and close cells pass. A diverged, changed or new cell is a
``failure``, a cell that raised, timed out or lost its kernel is an
``error``, and a cell the re-run never reached is ``skipped``. The root element
is ``<testsuites name="flowrec">``, which is how flowrec recognizes a report
it may replace.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

from .check import CheckResult
from .compare import Verdict
from .outputs import write_text_atomic
from .report import verdict_text

SUITES_NAME = "flowrec"


def junit_xml(results: list[CheckResult]) -> str:
    """Return the JUnit XML document for the results of one or more checks."""
    suites = ElementTree.Element("testsuites", name=SUITES_NAME)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for result in results:
        suite = ElementTree.SubElement(suites, "testsuite", name=str(result.notebook))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for stage in result.comparison.stages:
            counts["tests"] += 1
            seconds = stage.rerun_duration or 0.0
            case = ElementTree.SubElement(
                suite, "testcase", classname=Path(result.notebook).stem,
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
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{result.duration:.3f}")
        total_time += result.duration
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{total_time:.3f}")
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(
        suites, encoding="unicode") + "\n"


def write_junit(results: list[CheckResult], path: Path) -> None:
    write_text_atomic(path, junit_xml(results))


def is_flowrec_junit(path: Path) -> bool:
    """Return whether ``path`` contains a JUnit report that flowrec wrote."""
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError):
        return False
    return root.tag == "testsuites" and root.get("name") == SUITES_NAME
