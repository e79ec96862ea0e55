"""The flow graph built from records."""

from __future__ import annotations

from flowrec.fingerprints import fingerprint
from flowrec.graph import FlowGraph
from flowrec.record import CellRecord, Upstream


def record(count, stage=None, reads=(), writes=(), upstream=(), after=()):
    return CellRecord(
        session="s", execution_count=count, code_hash="h", started_at="t", duration=0.1,
        stage=stage, reads={name: fingerprint(1) for name in reads},
        writes={name: fingerprint(1) for name in writes},
        upstream=[Upstream(name, source_stage, source_count, "") for name, source_stage, source_count
                  in upstream],
        after=list(after),
    )


def test_data_edges_and_stage_dependencies():
    """Edges follow upstream links; stage dependencies look through unnamed steps."""
    graph = FlowGraph.from_records([
        record(1, "load", writes=["raw"]),
        record(2, None, reads=["raw"], writes=["clean"], upstream=[("raw", "load", 1)]),
        record(3, "train", reads=["clean"], writes=["model"], upstream=[("clean", None, 2)]),
    ])
    assert [(e.source, e.target, e.variables) for e in graph.edges] == [
        ("load", "step [2]", ["raw"]), ("step [2]", "train", ["clean"])]
    assert graph.upstream_stages("train") == ["load"]


def test_after_adds_order_edge():
    """``--after`` links stages that share no values."""
    graph = FlowGraph.from_records([record(1, "setup"), record(2, "run", after=["setup"])])
    assert [(e.source, e.target, e.kind) for e in graph.edges] == [("setup", "run", "order")]
    assert graph.upstream_stages("run") == ["setup"]


def test_duplicate_names_and_missing_writers():
    """Repeated stage names get a suffix; a read whose writer is gone is listed."""
    graph = FlowGraph.from_records([
        record(1, "fit"),
        record(2, "fit", reads=["ghost"], upstream=[("ghost", "deleted", 7)]),
    ])
    assert [node.key for node in graph.nodes] == ["fit", "fit #2"]
    assert graph.node("fit #2").missing_upstream == ["ghost"]
    assert "read values written by no recorded cell: ghost" in graph.render_text()


def test_json_form():
    """The JSON form lists nodes and edges with a version."""
    graph = FlowGraph.from_records([record(1, "a", writes=["x"]),
                                    record(2, "b", reads=["x"], upstream=[("x", "a", 1)])])
    data = graph.to_json()
    assert data["version"] == 1
    assert [node["key"] for node in data["nodes"]] == ["a", "b"]
    assert data["edges"] == [{"source": "a", "target": "b", "variables": ["x"], "files": [],
                              "kind": "data"}]
