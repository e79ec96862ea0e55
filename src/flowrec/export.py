"""Exports of a recorded flow: JSON, Graphviz DOT, Mermaid, W3C PROV-JSON, requirements.

Every string that came from a notebook is quoted for the target format, so
a stage or variable name cannot break out of a label.
"""

from __future__ import annotations

import json
import re

import xxhash
from typing import Any

from .graph import FlowGraph
from .notebook import CellEntry, flow_of

FORMATS = ("json", "dot", "mermaid", "prov", "requirements")
EXPORT_MARK = "flow exported by flowrec"


def is_flowrec_export(path: Any) -> bool:
    """Return whether ``path`` contains an export that flowrec wrote, so it may be replaced."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False
    return (EXPORT_MARK in head or head.startswith("# package versions recorded by flowrec")
            or '"flowrec": "https://flowrec.invalid/ns#"' in head
            or ('"version": 1' in head and '"nodes"' in head))


def export_flow(entries: list[CellEntry], fmt: str, notebook_name: str) -> str:
    """Return the flow recorded in ``entries`` in format ``fmt``."""
    graph = flow_of(entries)
    if fmt == "json":
        return json.dumps(graph.to_json(), indent=2) + "\n"
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "mermaid":
        return to_mermaid(graph)
    if fmt == "prov":
        return json.dumps(to_prov(graph, notebook_name), indent=2) + "\n"
    if fmt == "requirements":
        return to_requirements(entries)
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


def _edge_label(variables: list[str], files: list[str], limit: int = 4) -> str:
    names = [*variables, *files]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return ", ".join(names)


def to_dot(graph: FlowGraph) -> str:
    """Return a Graphviz digraph: stages as boxes, unnamed steps as small ellipses."""
    lines = [f"// {EXPORT_MARK}", "digraph flow {", "  rankdir=TB;", '  node [fontname="Helvetica"];']
    for node in graph.nodes:
        shape = "box" if node.is_stage else "ellipse"
        extra = "" if node.is_stage else ", fontsize=9"
        colour = ', color="red"' if node.record.error else ""
        lines.append(f"  {_dot_quote(node.key)} [shape={shape}, label={_dot_quote(node.key)}"
                     f"{extra}{colour}];")
    for edge in graph.edges:
        style = ", style=dashed" if edge.kind == "order" else ""
        label = _edge_label(edge.variables, edge.files)
        lines.append(f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)} "
                     f"[label={_dot_quote(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_mermaid(graph: FlowGraph) -> str:
    """Return a Mermaid flowchart; node ids are generated, labels are quoted."""
    ids = {node.key: f"n{index}" for index, node in enumerate(graph.nodes)}
    lines = [f"%% {EXPORT_MARK}", "flowchart TD"]
    for node in graph.nodes:
        label = _mermaid_quote(node.key)
        lines.append(f"  {ids[node.key]}[{label}]" if node.is_stage
                     else f"  {ids[node.key]}([{label}])")
    for edge in graph.edges:
        arrow = "-.->" if edge.kind == "order" else "-->"
        label = _edge_label(edge.variables, edge.files)
        text = f"|{_mermaid_quote(label)}|" if label else ""
        lines.append(f"  {ids[edge.source]} {arrow}{text} {ids[edge.target]}")
    return "\n".join(lines) + "\n"


def _mermaid_quote(text: str) -> str:
    # Mermaid escapes characters as #code; inside labels, so '#' itself goes first.
    escaped = "".join(f"#{ord(char)};" if char in '#"<>|&\n\r`[](){}' else char
                      for char in text)
    return f'"{escaped}"'


def to_prov(graph: FlowGraph, notebook_name: str) -> dict[str, Any]:
    """Return the flow as W3C PROV-JSON: cell runs are activities, values and files entities."""
    prefix = "flowrec"
    namespace = "https://flowrec.invalid/ns#"
    activities: dict[str, Any] = {}
    entities: dict[str, Any] = {}
    used: dict[str, Any] = {}
    generated: dict[str, Any] = {}
    informed: dict[str, Any] = {}
    counter = 0

    def entity_id(name: str, digest: str, kind: str) -> str:
        # The name's own hash keeps "a b.txt" and "a_b.txt" apart after _prov_safe.
        name_hash = xxhash.xxh3_64_hexdigest(name.encode("utf-8", "surrogatepass"))[:8]
        identifier = (f"{prefix}:{kind}-{_prov_safe(name)}-{name_hash}-"
                      f"{digest[:16] or 'opaque'}")
        entities.setdefault(identifier, {
            "prov:label": name, f"{prefix}:digest": digest, f"{prefix}:kind": kind})
        return identifier

    for node in graph.nodes:
        record = node.record
        activity = f"{prefix}:run-{_prov_safe(node.key)}"
        activities[activity] = {
            "prov:label": node.key,
            "prov:startTime": record.started_at,
            f"{prefix}:duration": record.duration,
            f"{prefix}:notebook": notebook_name,
        }
        for name, value in record.reads.items():
            counter += 1
            used[f"_:u{counter}"] = {"prov:activity": activity,
                                     "prov:entity": entity_id(name, value.digest, "value")}
        for name, value in record.writes.items():
            counter += 1
            generated[f"_:g{counter}"] = {"prov:entity": entity_id(name, value.digest, "value"),
                                          "prov:activity": activity}
        for access in record.files:
            identifier = entity_id(access.path, access.digest or "", "file")
            counter += 1
            if access.reads:
                used[f"_:u{counter}"] = {"prov:activity": activity, "prov:entity": identifier}
            if access.writes:
                generated[f"_:g{counter}"] = {"prov:entity": identifier, "prov:activity": activity}
    for edge in graph.edges:
        counter += 1
        informed[f"_:i{counter}"] = {
            "prov:informed": f"{prefix}:run-{_prov_safe(edge.target)}",
            "prov:informant": f"{prefix}:run-{_prov_safe(edge.source)}",
        }
    document: dict[str, Any] = {"prefix": {prefix: namespace}, "entity": entities,
                                "activity": activities}
    if used:
        document["used"] = used
    if generated:
        document["wasGeneratedBy"] = generated
    if informed:
        document["wasInformedBy"] = informed
    return document


def _prov_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def to_requirements(entries: list[CellEntry]) -> str:
    """Return the package versions the records saw, as a pinned requirements file."""
    packages: dict[str, str] = {}
    python = None
    for entry in entries:
        if entry.record is None:
            continue
        packages.update(entry.record.packages)
        if entry.record.environment and python is None:
            python = entry.record.environment.get("python")
    lines = [f"# package versions recorded by flowrec{' under Python ' + python if python else ''}"]
    lines += [f"{name}=={version}" for name, version in sorted(packages.items(),
                                                             key=lambda item: item[0].lower())]
    return "\n".join(lines) + "\n"
