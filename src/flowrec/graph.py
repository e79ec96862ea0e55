"""The flow graph: cell runs as nodes, passed values as edges.

An edge ``A -> B`` labelled ``x`` means that B read ``x`` and the last cell
run that wrote ``x`` before it was A. The recorder stores that link in each
record (``upstream``), so the graph is rebuilt here from records alone, in a
kernel or from a saved notebook. ``--after`` options add ordering edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fingerprints import Fingerprint
from .record import CellRecord

GRAPH_VERSION = 1


@dataclass
class FlowNode:
    """One recorded cell run: a named stage or an unnamed step."""

    key: str
    record: CellRecord
    cell_index: int | None = None
    missing_upstream: list[str] = field(default_factory=list)

    @property
    def is_stage(self) -> bool:
        return self.record.stage is not None


@dataclass
class FlowEdge:
    """A dependency: ``target`` read ``variables`` last written by ``source``."""

    source: str
    target: str
    variables: list[str]
    kind: str = "data"
    files: list[str] = field(default_factory=list)


class FlowGraph:
    """Nodes in notebook (or execution) order, and the edges between them."""

    def __init__(self, nodes: list[FlowNode], edges: list[FlowEdge]) -> None:
        self.nodes = nodes
        self.edges = edges
        self._by_key = {node.key: node for node in nodes}

    @classmethod
    def from_records(cls, records: list[CellRecord],
                     cell_indices: list[int | None] | None = None,
                     earlier_runs: dict[tuple[str, int | None], int] | None = None) -> FlowGraph:
        """Build the graph of ``records``, given in the order they should be shown.

        ``earlier_runs`` maps older runs, as ``(session, execution count)``, to the
        position in ``records`` of the same cell's newest record. A kernel keeps
        only the newest record of each cell, and a cell that ran again must
        keep the edges to the cells that read what its older run wrote.
        """
        nodes: list[FlowNode] = []
        used: set[str] = set()
        for position, record in enumerate(records):
            key = record.label
            suffix = 2
            while key in used:
                key = f"{record.label} #{suffix}"
                suffix += 1
            used.add(key)
            index = cell_indices[position] if cell_indices is not None else None
            nodes.append(FlowNode(key, record, index))

        by_run = {run: nodes[position] for run, position in (earlier_runs or {}).items()}
        by_run.update({(node.record.session, node.record.execution_count): node
                       for node in nodes})
        latest_stage: dict[str, FlowNode] = {}
        for node in nodes:
            if node.record.stage is not None:
                latest_stage[node.record.stage] = node

        edges: dict[tuple[str, str, str], FlowEdge] = {}
        for node in nodes:
            for link in node.record.upstream:
                source = by_run.get((node.record.session, link.execution_count))
                if source is None or source is node:
                    node.missing_upstream.append(link.name)
                    continue
                edge = edges.setdefault((source.key, node.key, "data"),
                                        FlowEdge(source.key, node.key, [], "data"))
                if link.kind == "file":
                    edge.files.append(link.name)
                else:
                    edge.variables.append(link.name)
            for stage_name in node.record.after:
                source = latest_stage.get(stage_name)
                if source is not None and source is not node:
                    edges.setdefault((source.key, node.key, "order"),
                                     FlowEdge(source.key, node.key, [], "order"))
        return cls(nodes, list(edges.values()))

    def node(self, key: str) -> FlowNode:
        return self._by_key[key]

    def upstream_stages(self, key: str) -> list[str]:
        """Return the stages ``key`` depends on, looking through unnamed steps."""
        found: list[str] = []
        seen: set[str] = set()
        pending = [edge.source for edge in self.edges if edge.target == key]
        while pending:
            source = pending.pop(0)
            if source in seen:
                continue
            seen.add(source)
            if self._by_key[source].is_stage:
                found.append(source)
            else:
                pending.extend(edge.source for edge in self.edges if edge.target == source)
        order = {node.key: position for position, node in enumerate(self.nodes)}
        return sorted(found, key=order.__getitem__)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": GRAPH_VERSION,
            "nodes": [
                {
                    "key": node.key,
                    "stage": node.record.stage,
                    "cell_index": node.cell_index,
                    "execution_count": node.record.execution_count,
                    "duration": node.record.duration,
                    "error": node.record.error,
                    "reads": {k: v.to_json() for k, v in node.record.reads.items()},
                    "writes": {k: v.to_json() for k, v in node.record.writes.items()},
                    "deletes": node.record.deletes,
                    "missing_upstream": node.missing_upstream,
                }
                for node in self.nodes
            ],
            "edges": [
                {"source": e.source, "target": e.target, "variables": e.variables,
                 "files": e.files, "kind": e.kind}
                for e in self.edges
            ],
        }

    def render_text(self, include_steps: bool = True) -> str:
        """Return a plain-text listing of the flow, one block per node."""
        stages = sum(1 for node in self.nodes if node.is_stage)
        lines = [f"{stages} stage(s), {len(self.nodes) - stages} unnamed step(s)"]
        if not self.nodes:
            lines.append("nothing recorded yet: run some cells after %load_ext flowrec")
        for node in self.nodes:
            if not include_steps and not node.is_stage:
                continue
            record = node.record
            where = f"cell {node.cell_index}, " if node.cell_index is not None else ""
            count = record.execution_count if record.execution_count is not None else " "
            status = f", failed: {record.error['ename']}" if record.error else ""
            lines.append(f"{node.key}  ({where}In [{count}], {record.duration:.3f} s{status})")
            depends = self.upstream_stages(node.key)
            if depends:
                lines.append(f"    depends on: {', '.join(depends)}")
            for name, value in record.reads.items():
                lines.append(f"    read   {name}: {describe_fingerprint(value)}")
            for name, value in record.writes.items():
                marker = " (mutated)" if name in record.mutated else ""
                lines.append(f"    wrote  {name}{marker}: {describe_fingerprint(value)}")
            for name in record.deletes:
                lines.append(f"    deleted {name}")
            for access in record.files:
                state = "missing" if access.missing else (
                    f"{access.size} bytes {access.digest[:12]}" if access.digest else "not hashed")
                lines.append(f"    {access.mode:6} file {access.path}: {state}")
            if node.missing_upstream:
                lines.append(
                    "    read values written by no recorded cell: "
                    + ", ".join(node.missing_upstream)
                )
        return "\n".join(lines)


def describe_fingerprint(value: Fingerprint) -> str:
    """Return a short human description: type, shape or length, dtype, digest prefix."""
    parts = [value.type_name.rsplit(".", 1)[-1]]
    if value.shape is not None:
        parts.append("x".join(str(n) for n in value.shape) or "scalar")
    elif value.length is not None:
        parts.append(f"len {value.length}")
    if value.dtype:
        parts.append(value.dtype)
    if value.opaque:
        parts.append(f"opaque: {value.opaque_reason}")
    else:
        parts.append(value.digest[:12])
    return " ".join(parts)
