"""The data of the flow panel, computed without any widget.

A :class:`FlowView` joins a flow graph with the state of each node (fresh,
stale, failed), the verdicts of a check report when one is given, and the
cells' code. It produces the drawing model the panel's browser code renders
(positions from :mod:`flowrec.layout`, colours by state, grouped edge
labels) and the escaped HTML of a node's details. Keeping this apart from
the widgets lets tests check what the panel is given without a browser.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInputError, NotebookError
from .fingerprints import Fingerprint
from .graph import FlowGraph
from .layout import LayoutNode, layered_layout, place_labels, short_label
from .notebook import cell_entries, read_notebook
from .record import CellRecord, node_key

# The states a node is coloured by, in the legend's order, with the legend text.
STATES: dict[str, str] = {
    "fresh": "fresh: ran, inputs unchanged",
    "stale": "stale: an input changed since it ran",
    "failed": "failed: the cell raised",
    "reproduced": "reproduced in the last check",
    "close": "close within tolerance in the last check",
    "diverged": "diverged in the last check",
}

# The node state that each check verdict maps to.
_VERDICT_STATES = {
    "identical": "reproduced",
    "not compared": "reproduced",
    "close": "close",
    "diverged": "diverged",
    "failed": "diverged",
    "changed code": "diverged",
    "not run": "diverged",
    "new": "diverged",
}

# Beyond this many names an edge label shows the first few and a count.
EDGE_LABEL_NAMES = 3


@dataclass
class NodeState:
    """The state of one node and where it came from."""

    state: str = "fresh"
    reason: str = ""
    verdict: str | None = None
    verdict_reason: str = ""


@dataclass
class FlowView:
    """A flow graph with states, verdicts and code, ready to be drawn."""

    graph: FlowGraph
    title: str
    states: dict[str, NodeState] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    # Problems to show above the drawing, such as records that could not be read.
    problems: list[str] = field(default_factory=list)

    # Building.

    @classmethod
    def of_records(cls, records: list[tuple[str, CellRecord, str | None]], title: str,
                   stale: dict[str, str] | None = None,
                   cell_indices: list[int | None] | None = None,
                   run_owner: dict[tuple[str, int | None], str] | None = None) -> FlowView:
        """Build a view from ``(identity, record, source)`` triples in the order they ran.

        ``stale`` maps identities to the reason a node is stale, and
        ``run_owner`` maps older runs to the identity of their cell.
        """
        position = {identity: index for index, (identity, _, _) in enumerate(records)}
        earlier = {run: position[identity] for run, identity in (run_owner or {}).items()
                   if identity in position}
        graph = FlowGraph.from_records([record for _, record, _ in records], cell_indices,
                                       earlier)
        view = cls(graph, title)
        for node, (identity, record, source) in zip(graph.nodes, records):
            state = NodeState()
            if record.error:
                state.state = "failed"
                state.reason = f"{record.error.get('ename', 'error')}: {record.error.get('evalue', '')}"
            elif stale and identity in stale:
                state.state, state.reason = "stale", stale[identity]
            view.states[node.key] = state
            if source is not None:
                view.sources[node.key] = source
        return view

    @classmethod
    def of_recorder(cls, recorder: Any) -> FlowView:
        """Build the flow recorded so far in a kernel: the newest record of each cell.

        Cells are in the order they first ran, so a cell run again keeps its place.
        """
        first_run: dict[str, int] = {}
        for position, record in enumerate(recorder.records):
            first_run.setdefault(node_key(record), position)
        items = sorted(recorder.latest.items(),
                       key=lambda item: first_run.get(item[0], len(first_run)))
        triples = [(key, record, recorder.sources.get(key)) for key, record in items]
        return cls.of_records(triples, "this kernel", recorder.stale(), None,
                              recorder.run_owners())

    @classmethod
    def of_notebook(cls, path: Path) -> FlowView:
        """Build the flow saved in an executed notebook; raise BadInputError when it has none."""
        try:
            notebook = read_notebook(path)
        except NotebookError as error:
            raise BadInputError(str(error)) from None
        every_entry = cell_entries(notebook)
        unreadable = [error for entry in every_entry for error in entry.record_errors]
        entries = [entry for entry in every_entry if entry.record is not None]
        if not entries:
            raise BadInputError(
                f"{str(path)!r} has no flowrec records: run it with %load_ext flowrec "
                "in its first cell and save it, or pass the output of flowrec check")
        # Cells are numbered from 1, as flowrec check numbers them.
        stale = {str(entry.index): "the code was edited after this record"
                 for entry in entries if entry.code_changed}
        triples = [(str(entry.index), entry.record, entry.source) for entry in entries]
        view = cls.of_records(triples, path.name, stale,  # type: ignore[arg-type]
                              [entry.index + 1 for entry in entries])
        if unreadable:
            view.problems.append(f"{len(unreadable)} record(s) could not be read and are not "
                                 f"drawn: {unreadable[0]}")
        return view

    def apply_report(self, report: dict[str, Any]) -> int:
        """Colour nodes with the verdicts of a flowrec check report; return how many matched.

        Stages match by name; unnamed steps by their cell number when the
        view has cell numbers (a saved notebook).
        """
        by_stage = {item.get("stage"): item for item in report.get("stages", [])
                    if item.get("stage")}
        by_cell = {item.get("cell"): item for item in report.get("stages", [])}
        matched = 0
        for node in self.graph.nodes:
            item = by_stage.get(node.record.stage) if node.is_stage else None
            if item is None and node.cell_index is not None:
                candidate = by_cell.get(node.cell_index)
                if candidate is not None and candidate.get("stage") == node.record.stage:
                    item = candidate
            if item is None:
                continue
            state = self.states.setdefault(node.key, NodeState())
            state.verdict = str(item.get("verdict"))
            state.verdict_reason = str(item.get("reason") or "")
            if state.state == "fresh":
                state.state = _VERDICT_STATES.get(state.verdict, "diverged")
            matched += 1
        return matched

    # Drawing model.

    def model(self, show_steps: bool = True) -> dict[str, Any]:
        """Return the JSON the panel draws: placed nodes, routed edges, legend, counts."""
        nodes = [node for node in self.graph.nodes if self._drawn(node, show_steps)]
        keys = {node.key for node in nodes}
        edges = self._edges(keys, show_steps)
        layout = layered_layout(
            [LayoutNode(node.key, node.key, small=not node.is_stage) for node in nodes],
            [(edge["source"], edge["target"]) for edge in edges])
        routes = {(route.source, route.target): route for route in layout.routes}
        drawn_edges = []
        for edge in edges:
            route = routes.get((edge["source"], edge["target"]))
            if route is None:
                continue
            drawn_edges.append({**edge, "points": [list(point) for point in route.points],
                                "reversed": route.reversed})
        spots = place_labels(layout, [(routes[(edge["source"], edge["target"])], edge["label"])
                                      for edge in drawn_edges if edge["label"]])
        for edge, (x, y) in zip([edge for edge in drawn_edges if edge["label"]], spots):
            edge["label_x"], edge["label_y"] = x, y
        drawn_nodes = []
        for node in nodes:
            placed = layout.nodes[node.key]
            state = self.states.get(node.key, NodeState())
            drawn_nodes.append({
                "key": node.key,
                "label": short_label(node.key),
                "title": self._hover(node.key),
                "small": not node.is_stage,
                "state": state.state,
                "x": placed.x, "y": placed.y, "w": placed.width, "h": placed.height,
            })
        stages = sum(1 for node in self.graph.nodes if node.is_stage)
        counts = {name: sum(1 for key in (n.key for n in self.graph.nodes)
                            if self.states.get(key, NodeState()).state == name)
                  for name in STATES}
        return {
            "title": self.title,
            "nodes": drawn_nodes,
            "edges": drawn_edges,
            "width": layout.width,
            "height": layout.height,
            "legend": [{"state": name, "text": text} for name, text in STATES.items()],
            "stages": stages,
            "steps": sum(1 for node in self.graph.nodes
                         if not node.is_stage and self._drawn(node, True)),
            "counts": counts,
        }

    def _drawn(self, node: Any, show_steps: bool) -> bool:
        """Return whether a node is drawn: stages always, steps unless hidden or flowrec's own."""
        if node.is_stage:
            return True
        if not show_steps or _empty_step(node.record):
            return False
        return not is_flowrec_command(self.sources.get(node.key, ""))

    def _edges(self, keys: set[str], show_steps: bool) -> list[dict[str, Any]]:
        """Edges between drawn nodes; hidden steps are bridged by the names that cross them."""
        merged: dict[tuple[str, str, str], dict[str, Any]] = {}

        def add(source: str, target: str, kind: str, names: list[str], files: list[str]) -> None:
            edge = merged.setdefault((source, target, kind), {
                "source": source, "target": target, "kind": kind,
                "variables": [], "files": []})
            edge["variables"] += [name for name in names if name not in edge["variables"]]
            edge["files"] += [name for name in files if name not in edge["files"]]

        for edge in self.graph.edges:
            if edge.target not in keys:
                continue
            if edge.source in keys:
                add(edge.source, edge.target, edge.kind, edge.variables, edge.files)
                continue
            for source in self._stages_above(edge.source):
                add(source, edge.target, "via steps", edge.variables, edge.files)
        for edge in merged.values():
            edge["label"], edge["title"] = edge_label(edge["variables"], edge["files"])
            if edge["kind"] == "via steps":
                edge["title"] = f"{edge['title']}\n(through unnamed steps)".strip()
        return list(merged.values())

    def _stages_above(self, key: str) -> list[str]:
        """Return the nearest stages upstream of ``key``, looking through unnamed steps."""
        found: list[str] = []
        seen = {key}
        pending = [edge.source for edge in self.graph.edges if edge.target == key]
        while pending:
            source = pending.pop()
            if source in seen:
                continue
            seen.add(source)
            if self.graph.node(source).is_stage:
                found.append(source)
            else:
                pending.extend(edge.source for edge in self.graph.edges if edge.target == source)
        return found

    def _hover(self, key: str) -> str:
        node = self.graph.node(key)
        state = self.states.get(key, NodeState())
        parts = [key, state.state + (f": {state.reason}" if state.reason else "")]
        if state.verdict:
            parts.append(f"last check: {state.verdict}")
        parts.append(f"{node.record.duration:.3f} s")
        return "\n".join(parts)

    # Details.

    def details_html(self, key: str) -> str:
        """Return the escaped HTML that describes node ``key``."""
        if key not in {node.key for node in self.graph.nodes}:
            return '<div class="flowrec-details-empty">Click a stage to see its details.</div>'
        node = self.graph.node(key)
        record = node.record
        state = self.states.get(key, NodeState())
        e = _escape
        rows = [
            ("kind", "stage" if node.is_stage else "unnamed step"),
            ("state", state.state + (f": {state.reason}" if state.reason else "")),
            ("last check", (f"{state.verdict}: {state.verdict_reason}" if state.verdict_reason
                            else state.verdict) if state.verdict else "none given"),
            ("execution count", "" if record.execution_count is None
             else f"In [{record.execution_count}]"),
            ("duration", f"{record.duration:.3f} s"),
            ("started", record.started_at),
        ]
        if node.cell_index is not None:
            rows.insert(3, ("cell", str(node.cell_index)))
        depends = self.graph.upstream_stages(key)
        if depends:
            rows.append(("depends on", ", ".join(depends)))
        if record.error:
            rows.append(("error", f"{record.error.get('ename')}: {record.error.get('evalue')}"))
        parts = [f'<div class="flowrec-details"><h4>{e(key)}</h4><table class="flowrec-facts">']
        parts += [f"<tr><th>{e(name)}</th><td>{e(value)}</td></tr>" for name, value in rows]
        parts.append("</table>")
        parts.append(_values_table("Read", record.reads, []))
        parts.append(_values_table("Wrote", record.writes, record.mutated))
        if record.deletes:
            parts.append(f"<h5>Deleted</h5><p>{e(', '.join(record.deletes))}</p>")
        if record.files:
            parts.append("<h5>Files</h5><table><tr><th>mode</th><th>path</th><th>size</th>"
                         "<th>sha</th></tr>")
            for access in record.files:
                digest = "missing" if access.missing else (access.digest or "not hashed")
                size = "" if access.size is None else f"{access.size:,} B"
                parts.append(f"<tr><td>{e(access.mode)}</td><td>{e(access.path)}</td>"
                             f"<td>{e(size)}</td><td title=\"{e(digest)}\">{e(digest[:16])}</td></tr>")
            parts.append("</table>")
        if record.hazards:
            parts.append("<h5>Hazards</h5><ul>")
            parts += [f"<li>line {hazard.line}: {e(hazard.call)} ({e(hazard.kind)}) {e(hazard.detail)}"
                      "</li>" for hazard in record.hazards]
            parts.append("</ul>")
        source = self.sources.get(key)
        if source is not None:
            parts.append(f'<h5>Code</h5><pre class="flowrec-code">{e(source)}</pre>')
        parts.append("</div>")
        return "".join(parts)

    def durations(self, show_steps: bool = True) -> list[tuple[str, float, bool]]:
        """Return ``(label, seconds, is_stage)`` for each node, in the order they ran."""
        return [(node.key, node.record.duration, node.is_stage) for node in self.graph.nodes
                if self._drawn(node, show_steps)]


def edge_label(variables: list[str], files: list[str]) -> tuple[str, str]:
    """Return an edge's short label and its full text for hovering."""
    names = list(variables) + [f"file {Path(name).name}" for name in files]
    full = list(variables) + [f"file {name}" for name in files]
    if len(names) <= EDGE_LABEL_NAMES:
        return ", ".join(names), "\n".join(full)
    shown = ", ".join(names[:EDGE_LABEL_NAMES - 1])
    return f"{shown} +{len(names) - EDGE_LABEL_NAMES + 1} more", "\n".join(full)


def read_check_report(path: Path) -> dict[str, Any]:
    """Read a ``flowrec check --json`` report; raise BadInputError naming the problem."""
    hint = "flowrec check NOTEBOOK --json REPORT.json writes one"
    if not path.exists():
        raise BadInputError(f"check report {str(path)!r} does not exist; {hint}")
    if not path.is_file():
        raise BadInputError(f"check report {str(path)!r} is not a regular file; {hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInputError(f"cannot read check report {str(path)!r}: {error}") from None
    stages = data.get("stages") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or "flowrec_report" not in data
            or not isinstance(stages, list)
            or not all(isinstance(item, dict) and isinstance(item.get("verdict"), str)
                       for item in stages)):
        raise BadInputError(f"{str(path)!r} is not a flowrec check report ({hint})")
    return data


def is_flowrec_command(source: str) -> bool:
    """Return True for a cell made only of flowrec's own commands (``%flow``, ``%load_ext flowrec``)."""
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    return bool(lines) and all(
        line == "%flow" or line.startswith("%flow ")
        or re.fullmatch(r"%(load_ext|reload_ext|unload_ext)\s+flowrec", line) is not None
        for line in lines)


def _empty_step(record: CellRecord) -> bool:
    """True for an unnamed step that touched nothing (``%load_ext``, ``%flow``): not drawn."""
    return not (record.reads or record.writes or record.deletes or record.files
                or record.error)


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def _values_table(heading: str, values: dict[str, Fingerprint], mutated: list[str]) -> str:
    if not values:
        return f"<h5>{heading}</h5><p>nothing</p>"
    e = _escape
    parts = [f"<h5>{heading}</h5><table><tr><th>name</th><th>type</th><th>shape</th>"
             "<th>dtype</th><th>size</th><th>fingerprint</th></tr>"]
    for name, value in values.items():
        if value.shape is not None:
            extent = "x".join(str(n) for n in value.shape) or "scalar"
        elif value.length is not None:
            extent = f"len {value.length}"
        else:
            extent = ""
        size = "" if value.nbytes is None else _size(value.nbytes)
        digest = f"opaque: {value.opaque_reason}" if value.opaque else value.digest
        marker = " (mutated)" if name in mutated else ""
        short_type = value.type_name.rsplit(".", 1)[-1]
        parts.append(f"<tr><td>{e(name)}{e(marker)}</td>"
                     f"<td title=\"{e(value.type_name)}\">{e(short_type)}</td>"
                     f"<td>{e(extent)}</td><td>{e(value.dtype or '')}</td><td>{e(size)}</td>"
                     f"<td title=\"{e(digest)}\">{e(digest[:12])}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count:,} B"
    scaled = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "TiB":
            break
    return f"{scaled:.1f} {unit}"
