"""Reports of a batch: the summary table, and the combined JSON, JUnit and HTML files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .compare import Verdict
from .batch import BAD_INPUT, FAILED, NOT_REPRODUCED, RECORDED, REPRODUCED, Outcome
from .outputs import write_text_atomic
from .report import REPORT_VERSION

_STYLES = {REPRODUCED: "green", RECORDED: "green", NOT_REPRODUCED: "bold red",
           BAD_INPUT: "bold yellow", FAILED: "bold magenta"}


def first_divergence(outcome: Outcome) -> tuple[str, str]:
    """Return the first diverged stage and its likely cause, or the error, for the table."""
    result = outcome.result
    if result is None:
        # The full error is printed below the table.
        return "", (outcome.error or "").split("; ")[0]
    first = result.comparison.first_divergence
    if first is not None:
        where = first.label if first.stage is None else f"{first.label} (cell {first.cell})"
        # A cell that raised is explained by its exception first.
        failed = first.verdict is Verdict.FAILED
        cause = first.reason if failed or not first.causes else first.causes[0]
        # The first clause names the cause; the rest (evidence, fix) is in each check's report.
        return where, cause.split("; ")[0]
    if result.execution_error:
        return "", result.execution_error
    if result.record_errors:
        return "", f"unreadable record: {result.record_errors[0]}"
    return "", ""


def tally(outcomes: list[Outcome]) -> str:
    """Return ``N check(s): A reproduced, B not reproduced, ...`` in a fixed order."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    order = [REPRODUCED, RECORDED, NOT_REPRODUCED, FAILED, BAD_INPUT]
    parts = [f"{counts[status]} {status}" for status in order if status in counts]
    return ", ".join(parts)


# The table's width where the output is not a terminal (a CI log, a file):
# wide enough to keep names and causes on one line each, most of the time.
LOG_WIDTH = 160


def summary_console() -> Console:
    """Return a console on standard output, wider than rich's default 80 columns off a terminal."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=LOG_WIDTH)
    return console


def print_summary(outcomes: list[Outcome], console: Console, title: str) -> None:
    """Print one row per notebook and parameter set, then the count of each verdict."""
    columns = [("verdict", True), ("first diverged stage", False), ("cause", False)]
    _print_table(outcomes, console, title, columns, lambda outcome: list(first_divergence(outcome)))
    _print_tally(outcomes, console, "check")


def print_record_summary(outcomes: list[Outcome], console: Console, title: str) -> None:
    """Print one row per recorded run: its status, where it is stored, or why it is not."""

    def detail(outcome: Outcome) -> list[str]:
        return [outcome.stored["file"] if outcome.stored else (outcome.error or "")]

    _print_table(outcomes, console, title, [("status", True), ("stored as or error", False)],
                 detail)
    _print_tally(outcomes, console, "run")


def _print_table(outcomes: list[Outcome], console: Console, title: str,
                 columns: list[tuple[str, bool]], details: Any) -> None:
    """Print name, parameter set, status, ``details(outcome)`` and time for every outcome.

    ``columns`` names the status column and the detail columns, each with
    whether it must stay on one line.
    """
    table = Table(title=escape(title), title_justify="left")
    table.add_column("notebook", overflow="fold")
    table.add_column("parameter set", overflow="fold")
    for heading, no_wrap in columns:
        table.add_column(heading, no_wrap=no_wrap, overflow="fold")
    table.add_column("time", justify="right")
    for outcome in outcomes:
        style = _STYLES.get(outcome.status, "")
        status = f"[{style}]{escape(outcome.status)}[/{style}]"
        cells = [escape(text) for text in details(outcome)]
        table.add_row(escape(outcome.job.name), escape(outcome.job.parameter_set), status,
                      *cells, f"{outcome.seconds:.1f} s")
    console.print(table)


def _print_tally(outcomes: list[Outcome], console: Console, noun: str) -> None:
    console.print(f"{len(outcomes)} {noun}(s): {tally(outcomes)}", highlight=False)
    problems = [outcome for outcome in outcomes if outcome.status in (BAD_INPUT, FAILED)]
    for outcome in problems:
        style = _STYLES[outcome.status]
        console.print(f"[{style}]{escape(outcome.status)}[/{style}] {escape(outcome.job.title)}: "
                      f"{escape(outcome.error or '')}", highlight=False)


def batch_json(outcomes: list[Outcome], exit_status: int) -> dict[str, Any]:
    """Return the combined JSON report: every check's own report and its outcome."""
    checks = []
    for outcome in outcomes:
        job = outcome.job
        checks.append({
            "notebook": str(job.notebook),
            "name": job.name,
            "parameters": job.parameters,
            "parameter_set": job.parameter_set,
            "status": outcome.status,
            "seconds": round(outcome.seconds, 3),
            "error": outcome.error,
            "html": str(job.html_page) if job.html_page and outcome.result else None,
            "result": outcome.result.to_json() if outcome.result else None,
        })
    return {
        "flowrec_report": REPORT_VERSION,
        "batch": True,
        "reproduced": all(outcome.status == REPRODUCED for outcome in outcomes),
        "exit_status": exit_status,
        "summary": tally(outcomes),
        "checks": checks,
    }


def write_batch_json(outcomes: list[Outcome], exit_status: int, path: Path) -> None:
    payload = batch_json(outcomes, exit_status)
    write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def write_batch_junit(outcomes: list[Outcome], path: Path) -> None:
    """Write one ``testsuite`` per notebook and parameter set, one case per recorded cell."""
    from .junit import Suite, junit_document

    suites = []
    for outcome in outcomes:
        job = outcome.job
        classname = Path(job.name).stem if not job.parameters else (
            f"{Path(job.name).stem}[{job.parameter_set}]")
        suites.append(Suite(job.title, classname, outcome.result, outcome.error,
                            outcome.status, outcome.seconds))
    write_text_atomic(path, junit_document(suites))


def write_batch_html(outcomes: list[Outcome], index: Path, title: str) -> None:
    """Write each check's own page beside the index, then the index linking them."""
    from .html_report import IndexRow, index_page, write_html

    rows = []
    for outcome in outcomes:
        job = outcome.job
        link = None
        if outcome.result is not None and job.html_page is not None:
            write_html(outcome.result, job.html_page)
            link = Path(os.path.relpath(job.html_page, index.parent)).as_posix()
        stage, cause = first_divergence(outcome)
        rows.append(IndexRow(job.name, job.parameter_set, outcome.status, stage, cause,
                             outcome.seconds, link))
    write_text_atomic(index, index_page(title, rows))
