"""A self-contained HTML page of a check: flow, verdicts, values, durations, environment.

The page needs no network: styles and drawings (SVG) are inline, and it
loads no script. Every string that came from a notebook (stage and variable
names, file paths, reasons that quote values or exceptions) is escaped with
``html.escape``.
"""

from __future__ import annotations

import html
from urllib.parse import quote
from dataclasses import dataclass
from pathlib import Path

from .check import CheckResult
from .compare import StageResult, Verdict
from .fingerprints import Fingerprint
from .flowview import edge_label
from .layout import LayoutNode, layered_layout, place_labels, short_label
from .outputs import write_text_atomic
from .report import verdict_text

GENERATOR = "flowrec"
COLOURS = {
    Verdict.IDENTICAL: "#2e7d32", Verdict.CLOSE: "#0277bd", Verdict.DIVERGED: "#c62828",
    Verdict.FAILED: "#6a1b9a", Verdict.CHANGED_CODE: "#ef6c00", Verdict.NOT_RUN: "#757575",
    Verdict.NEW: "#ef6c00",
}
_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #212121; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; } td, th { border: 1px solid #ddd; padding: 4px 8px;
text-align: left; vertical-align: top; font-size: 0.9em; } th { background: #f5f5f5; }
.verdict { color: white; border-radius: 3px; padding: 1px 6px; white-space: nowrap; }
.mono { font-family: Menlo, Consolas, monospace; font-size: 0.85em; }
details { margin: 0.4em 0; } summary { cursor: pointer; }
.summary-line { font-size: 1.05em; margin: 0.5em 0; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def html_report(result: CheckResult) -> str:
    """Return the report page for one check."""
    comparison = result.comparison
    title = f"flowrec check: {Path(result.notebook).name}"
    verdict = "reproduced" if result.reproduced else "not reproduced"
    first = comparison.first_divergence
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR}">', f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="summary-line"><strong>{_e(verdict)}</strong>'
        + (f"; first divergence: {_e(first.label)} (cell {first.cell})" if first else "")
        + "</p>",
        f"<p>Notebook: <span class=\"mono\">{_e(result.notebook)}</span>. "
        f"Reference: {_e(result.reference_source)}. Kernel: {_e(result.kernel or 'none')}.</p>",
    ]
    if result.execution_error:
        parts.append(f"<p><strong>Execution stopped:</strong> {_e(result.execution_error)}</p>")
    parts.append("<h2>Flow</h2>")
    # Wide flows scroll inside their own box instead of widening the page.
    parts.append('<div style="overflow-x: auto">' + flow_svg(comparison.stages, result) + "</div>")
    parts.append("<h2>Stages</h2>")
    parts.append(_stage_table(comparison.stages))
    parts.append("<h2>Values</h2>")
    parts.extend(_stage_details(stage) for stage in comparison.stages
                 if stage.values or stage.output_diff)
    parts.append("<h2>Durations</h2>")
    parts.append(duration_svg(comparison.stages))
    parts.append("<h2>Environment</h2>")
    if result.environment_changes:
        parts.append("<ul>" + "".join(f"<li>{_e(change)}</li>"
                                      for change in result.environment_changes) + "</ul>")
    else:
        parts.append("<p>No difference between the reference's environment and the re-run's.</p>")
    if comparison.normalizations:
        parts.append(f"<p>Outputs normalized: {_e(', '.join(comparison.normalizations))}.</p>")
    parts.append(f"<p>Tolerances: rtol={comparison.rtol:g}, atol={comparison.atol:g}.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _badge(stage: StageResult) -> str:
    return (f'<span class="verdict" style="background:{COLOURS[stage.verdict]}">'
            f"{_e(verdict_text(stage))}</span>")


def _stage_table(stages: list[StageResult]) -> str:
    rows = ["<table>", "<tr><th>cell</th><th>stage</th><th>verdict</th><th>reason</th>"
                      "<th>likely cause</th></tr>"]
    for stage in stages:
        causes = "<br>".join(_e(cause) for cause in stage.causes)
        rows.append(f"<tr><td>{stage.cell}</td><td>{_e(stage.label)}</td><td>{_badge(stage)}</td>"
                    f"<td>{_e(stage.reason)}</td><td>{causes}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _stage_details(stage: StageResult) -> str:
    heading = stage.label if stage.stage is None else f"{stage.label} (cell {stage.cell})"
    rows = [f"<details{' open' if not stage.verdict.reproduced else ''}><summary>"
            f"{_e(heading)} {_badge(stage)}</summary>", "<table>",
            "<tr><th>variable</th><th>verdict</th><th>detail</th><th>reference</th>"
            "<th>re-run</th></tr>"]
    for value in stage.values:
        rows.append(f"<tr><td class=\"mono\">{_e(value.name)}</td><td>{_e(value.verdict.value)}</td>"
                    f"<td>{_e(value.detail)}</td><td>{_describe(value.reference)}</td>"
                    f"<td>{_describe(value.rerun)}</td></tr>")
    rows.append("</table>")
    if stage.output_diff:
        rows.append("<p>Outputs differ:</p><pre class=\"mono\">"
                    + _e("\n".join(stage.output_diff)) + "</pre>")
    rows.append("</details>")
    return "\n".join(rows)


def _describe(fingerprint: Fingerprint | None) -> str:
    if fingerprint is None:
        return "<em>not written</em>"
    lines = [_e(fingerprint.type_name)]
    if fingerprint.shape is not None:
        lines.append("shape " + _e(tuple(fingerprint.shape)))
    elif fingerprint.length is not None:
        lines.append(f"length {fingerprint.length}")
    if fingerprint.dtype:
        lines.append("dtype " + _e(fingerprint.dtype))
    if fingerprint.opaque:
        lines.append("opaque: " + _e(fingerprint.opaque_reason))
    else:
        lines.append('<span class="mono">' + _e(fingerprint.digest[:16]) + "</span>")
    summary = fingerprint.summary
    if summary is not None:
        head = ", ".join(f"{value:.6g}" for _, value in summary.sample[:6])
        lines.append(f"min {summary.min}, max {summary.max}, mean {summary.mean}")
        lines.append(f"values: {_e(head)}{' ...' if len(summary.sample) > 6 else ''}")
    return "<br>".join(lines)


def flow_svg(stages: list[StageResult], result: CheckResult) -> str:
    """Draw the checked cells as a layered graph, coloured by verdict.

    Grey edges carry the variables and files one cell passed to another.
    Red dashed edges show where a cell inherited a divergence.
    """
    by_cell = {stage.cell: stage for stage in stages}
    by_label = {stage.label: stage for stage in stages}
    edges: list[tuple[int, int, str, str, str]] = []  # source, target, kind, label, hover text
    for edge in result.edges:
        if edge.get("source") in by_cell and edge.get("target") in by_cell:
            label, full = edge_label(edge.get("variables", []), edge.get("files", []))
            edges.append((edge["source"], edge["target"], edge.get("kind", "data"), label, full))
    for stage in stages:
        for cause in stage.inherited_from:
            source = by_label.get(cause.split(" from ", 1)[-1])
            if source is not None:
                edges.append((source.cell, stage.cell, "inherited", "", cause))

    texts = {stage.cell: f"{stage.label}: {stage.verdict.value}" for stage in stages}
    layout = layered_layout(
        [LayoutNode(str(stage.cell), texts[stage.cell], small=stage.stage is None)
         for stage in stages],
        [(str(source), str(target)) for source, target, *_ in edges])
    routes = {(route.source, route.target): route for route in layout.routes}
    drawn = [edge for edge in edges if (str(edge[0]), str(edge[1])) in routes]
    spots = iter(place_labels(layout, [(routes[(str(edge[0]), str(edge[1]))], edge[3])
                                       for edge in drawn if edge[3]]))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" '
             f'height="{layout.height:.0f}" role="img" aria-label="flow graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
             'fill="#9e9e9e"/></marker></defs>']
    labels = []
    for source, target, kind, label, full in drawn:
        route = routes[(str(source), str(target))]
        path = " ".join(f"{'L' if i else 'M'} {x} {y}" for i, (x, y) in enumerate(route.points))
        style = {"inherited": 'stroke="#c62828" stroke-dasharray="5 3"',
                 "order": 'stroke="#9e9e9e" stroke-dasharray="4 3"'}.get(kind, 'stroke="#9e9e9e"')
        parts.append(f'<path class="edge edge-{_e(kind)}" d="{path}" fill="none" {style} '
                     f'stroke-width="1.4" marker-end="url(#arrow)"><title>{_e(full)}</title></path>')
        if label:
            x, y = next(spots)
            labels.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="10.5" '
                          f'fill="#37474f" stroke="white" stroke-width="3" paint-order="stroke">'
                          f"{_e(label)}<title>{_e(full)}</title></text>")
    for stage in stages:
        placed = layout.nodes[str(stage.cell)]
        x, y = placed.x - placed.width / 2, placed.y - placed.height / 2
        parts.append(f'<g class="node"><rect x="{x:.1f}" y="{y:.1f}" width="{placed.width:.1f}" '
                     f'height="{placed.height}" rx="5" fill="{COLOURS[stage.verdict]}"/>'
                     f'<text x="{placed.x:.1f}" y="{placed.y + 4.5:.1f}" fill="white" '
                     f'font-size="{11 if stage.stage is None else 12.5}" text-anchor="middle">'
                     f"{_e(short_label(texts[stage.cell]))}</text>"
                     f"<title>{_e(texts[stage.cell])} (cell {stage.cell})</title></g>")
    parts.extend(labels)
    parts.append("</svg>")
    return "\n".join(parts)


def duration_svg(stages: list[StageResult]) -> str:
    """Plot each cell's duration in the reference and the re-run as paired bars."""
    timed = [stage for stage in stages
             if stage.reference_duration is not None or stage.rerun_duration is not None]
    if not timed:
        return "<p>No durations were recorded.</p>"
    longest = max(max(stage.reference_duration or 0, stage.rerun_duration or 0)
                  for stage in timed) or 1.0
    bar_width, row = 400, 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{bar_width + 320}" '
             f'height="{len(timed) * row + 30}" role="img" aria-label="durations">',
             '<rect x="160" y="4" width="10" height="8" fill="#90a4ae"/>'
             '<text x="175" y="12" font-size="11">reference</text>'
             '<rect x="250" y="4" width="10" height="8" fill="#1565c0"/>'
             '<text x="265" y="12" font-size="11">re-run</text>']
    for index, stage in enumerate(timed):
        y = 22 + index * row
        label = stage.label if len(stage.label) <= 22 else stage.label[:21] + "…"
        parts.append(f'<text x="0" y="{y + 11}" font-size="12">{_e(label)}</text>')
        for offset, seconds, colour in ((0, stage.reference_duration, "#90a4ae"),
                                        (11, stage.rerun_duration, "#1565c0")):
            if seconds is None:
                continue
            length = max(1, int(bar_width * seconds / longest))
            parts.append(f'<rect x="160" y="{y + offset}" width="{length}" height="9" '
                         f'fill="{colour}"/>')
            shown = f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"
            parts.append(f'<text x="{165 + length}" y="{y + offset + 8}" font-size="10">'
                         f"{shown}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass
class IndexRow:
    """One check in a batch's index page; ``link`` is its own page, relative to the index."""

    notebook: str
    parameter_set: str
    status: str
    first_stage: str
    cause: str
    seconds: float
    link: str | None = None


STATUS_COLOURS = {"reproduced": "#2e7d32", "not reproduced": "#c62828",
                  "bad input": "#ef6c00", "failed": "#6a1b9a"}


def index_page(title: str, rows: list[IndexRow]) -> str:
    """Return a batch's index page: one row per check, linking each check's own page."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    tally = ", ".join(f"{count} {status}" for status, count in counts.items())
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR}">', f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>", "</head>", "<body>", f"<h1>{_e(title)}</h1>",
        f'<p class="summary-line">{len(rows)} check(s): {_e(tally)}</p>', "<table>",
        "<tr><th>notebook</th><th>parameter set</th><th>verdict</th>"
        "<th>first diverged stage</th><th>cause</th><th>time</th></tr>",
    ]
    for row in rows:
        name = _e(row.notebook)
        if row.link is not None:
            # The link is a relative path: percent-encode it so '#', '?' and spaces stay in it.
            name = f'<a href="{_e(quote(row.link))}">{name}</a>'
        colour = STATUS_COLOURS.get(row.status, "#757575")
        parts.append(
            f"<tr><td>{name}</td><td class=\"mono\">{_e(row.parameter_set)}</td>"
            f'<td><span class="verdict" style="background:{colour}">{_e(row.status)}</span></td>'
            f"<td>{_e(row.first_stage)}</td><td>{_e(row.cause)}</td>"
            f"<td>{row.seconds:.1f} s</td></tr>")
    parts += ["</table>", "</body></html>"]
    return "\n".join(parts) + "\n"


def write_html(result: CheckResult, path: Path) -> None:
    write_text_atomic(path, html_report(result))


def is_flowrec_html(path: Path) -> bool:
    """Return whether ``path`` contains an HTML report that flowrec wrote."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}">' in head

