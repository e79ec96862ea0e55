"""JUnit XML reports of a check, for CI systems.

One ``testsuite`` per notebook (per notebook and parameter set in a batch)
and one ``testcase`` per recorded cell.
Identical and close cells pass. A diverged, changed or new cell is a
``failure``, a cell that raised, timed out or lost its kernel is an
``error``, and a cell the re-run never reached is ``skipped``. The root element
is ``<testsuites name="flowrec">``, which is how flowrec recognizes a report
it may replace.

The document is valid against junit-10.xsd of the Jenkins xUnit plugin,
the schema that pytest's junitxml reports conform to, and tests/junit.xsd
describes it. So the root carries no ``skipped`` count, which that schema
has only on ``testsuite``. Characters that XML 1.0 cannot contain (control
characters such as the ANSI escape of coloured error messages, lone
surrogates) are written as Python escapes like ``\\x1b``.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from .check import CheckResult
from .compare import Verdict
from .outputs import write_text_atomic
from .report import verdict_text

SUITES_NAME = "flowrec"
SUITE_COUNTS = ("tests", "failures", "errors", "skipped")
SUITES_COUNTS = ("tests", "failures", "errors")  # junit-10.xsd has no skipped count on the root

# Characters outside production [2] Char of the XML 1.0 recommendation. It
# allows no control characters but tab, newline and carriage return, and
# excludes surrogates, U+FFFE and U+FFFF.
_NOT_XML_CHARACTER = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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
    totals = dict.fromkeys(SUITE_COUNTS, 0)
    total_time = 0.0
    for entry in suites:
        suite = ElementTree.SubElement(root, "testsuite", name=xml_text(entry.name))
        counts = dict.fromkeys(SUITE_COUNTS, 0)
        classname = xml_text(entry.classname)
        if entry.result is not None:
            _add_cases(suite, classname, entry.result, counts)
            seconds = entry.result.duration if entry.seconds is None else entry.seconds
        else:
            counts["tests"] = counts["errors"] = 1
            case = ElementTree.SubElement(suite, "testcase", classname=classname,
                                          name="check", time="0.000")
            message = xml_text(entry.error or "the check did not run")
            element = ElementTree.SubElement(case, "error", message=message,
                                             type=xml_text(entry.error_type))
            element.text = message
            seconds = entry.seconds or 0.0
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", _seconds_text(seconds))
        total_time += seconds
    for key in SUITES_COUNTS:
        root.set(key, str(totals[key]))
    root.set("time", _seconds_text(total_time))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(
        root, encoding="unicode") + "\n"


def _add_cases(suite: ElementTree.Element, classname: str, result: CheckResult,
               counts: dict[str, int]) -> None:
    """Add one test case per recorded cell of ``result`` to ``suite``."""
    for stage in result.comparison.stages:
        counts["tests"] += 1
        seconds = stage.rerun_duration or 0.0
        name = stage.label if stage.stage is None else f"{stage.label} (cell {stage.cell})"
        case = ElementTree.SubElement(suite, "testcase", classname=classname,
                                      name=xml_text(name), time=_seconds_text(seconds))
        message = f"{verdict_text(stage)}: {stage.reason}"
        if stage.causes:
            message += "; likely cause: " + "; ".join(stage.causes)
        message = xml_text(message)
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


def _seconds_text(seconds: float) -> str:
    """Format seconds with three decimals, writing 0.000 for negative and non-finite durations."""
    return f"{seconds:.3f}" if math.isfinite(seconds) and seconds > 0 else "0.000"


def xml_text(text: str) -> str:
    """Return ``text`` with each character XML 1.0 cannot contain written as a Python escape."""
    return _NOT_XML_CHARACTER.sub(_escape_character, text)


def _escape_character(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def write_junit(results: list[CheckResult], path: Path) -> None:
    write_text_atomic(path, junit_xml(results))


def is_flowrec_junit(path: Path) -> bool:
    """Return whether ``path`` contains a JUnit report that flowrec wrote."""
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError):
        return False
    return root.tag == "testsuites" and root.get("name") == SUITES_NAME
