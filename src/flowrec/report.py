"""Reports of a check: the terminal table and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .check import CheckResult
from .compare import StageResult, Verdict
from .outputs import write_text_atomic

REPORT_VERSION = 1

_STYLES = {
    Verdict.IDENTICAL: "green",
    Verdict.CLOSE: "cyan",
    Verdict.DIVERGED: "bold red",
    Verdict.FAILED: "bold magenta",
    Verdict.CHANGED_CODE: "yellow",
    Verdict.NOT_RUN: "dim",
    Verdict.NEW: "yellow",
}


def verdict_text(stage: StageResult) -> str:
    """Return the verdict as shown in the table: root and inherited divergences are marked."""
    text = stage.verdict.value
    if stage.verdict is Verdict.DIVERGED:
        if stage.root:
            text += " (root)"
        elif stage.inherited_from:
            text += " (inherited)"
    return text


def print_check(result: CheckResult, console: Console, title: str | None = None) -> None:
    """Print the per-stage verdict table and the summary below it."""
    comparison = result.comparison
    heading = title or f"flowrec check: {result.notebook}"
    table = Table(title=escape(heading), title_justify="left")
    table.add_column("cell", justify="right")
    table.add_column("stage")
    table.add_column("verdict")
    table.add_column("reason", overflow="fold")
    for stage in comparison.stages:
        label = escape(stage.stage) if stage.stage is not None else "[dim](step)[/dim]"
        reason = stage.reason
        if stage.inherited_from:
            reason = f"{reason}; inputs changed upstream: {', '.join(stage.inherited_from)}"
        if stage.ignored:
            reason = f"{reason}; ignored: {', '.join(stage.ignored)}"
        if stage.causes:
            reason = f"{reason}; likely cause: {stage.causes[0]}"
            if len(stage.causes) > 1:
                reason += f" (and {len(stage.causes) - 1} more, listed below)"
        if stage.runs > 1:
            reason = f"reproduced in {stage.agreed} of {stage.runs} runs; {reason}"
        style = _STYLES[stage.verdict]
        table.add_row(str(stage.cell), label, f"[{style}]{escape(verdict_text(stage))}[/{style}]",
                      escape(reason))
    console.print(table)

    console.print(f"reference: {escape(result.reference_source)}")
    if result.output_path is not None:
        console.print(f"executed notebook: {escape(str(result.output_path))}")
    if comparison.not_compared:
        console.print(f"[yellow]not compared (opaque values):[/yellow] "
                      f"{escape(', '.join(comparison.not_compared))}")
    if comparison.normalizations:
        console.print("outputs normalized: " + escape(", ".join(comparison.normalizations)))
    for error in result.record_errors:
        console.print(f"[yellow]unreadable record[/yellow] {escape(error)}")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if result.environment_changes:
        console.print("environment changed since the reference: "
                      + escape(", ".join(result.environment_changes)))
    if result.execution_error:
        console.print(f"[bold magenta]execution stopped:[/bold magenta] {escape(result.execution_error)}")

    counts: dict[str, int] = {}
    for stage in comparison.stages:
        counts[stage.verdict.value] = counts.get(stage.verdict.value, 0) + 1
    tally = ", ".join(f"{count} {name}" for name, count in counts.items()) or "no recorded cells"
    first = comparison.first_divergence
    if result.reproduced:
        console.print(f"[bold green]reproduced[/bold green]: {tally}")
        return
    console.print(f"[bold red]not reproduced[/bold red]: {tally}")
    if first is not None:
        where = f"stage {first.stage!r}" if first.stage is not None else "an unnamed step"
        console.print(f"first divergence: {escape(where)} (cell {first.cell}): "
                      f"{escape(first.verdict.value)}")
        for value in first.diverged_values:
            console.print(f"  variable {escape(value.name)}: {escape(value.detail)}")
        if first.outputs_differ:
            console.print("  its outputs differ from the reference")
        if not first.diverged_values and not first.outputs_differ:
            console.print(f"  {escape(first.reason)}")
        for cause in first.causes:
            console.print(f"  likely cause: {escape(cause)}")
    for stage in comparison.stages:
        if stage is not first and len(stage.causes) > 1:
            console.print(f"{escape(stage.label)} (cell {stage.cell}), every likely cause:")
            for cause in stage.causes:
                console.print(f"  {escape(cause)}")


def write_json(result: CheckResult, path: Path) -> None:
    """Write the whole result as JSON, atomically."""
    payload: dict[str, Any] = {"flowrec_report": REPORT_VERSION, **result.to_json()}
    write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")
