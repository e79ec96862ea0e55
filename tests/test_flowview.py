"""What the panel is given: states, verdicts, grouped edges, escaped details."""

from __future__ import annotations

import json

import pytest

from flowrec.errors import BadInputError
from flowrec.fingerprints import fingerprint
from flowrec.flowview import FlowView, edge_label, read_check_report
from flowrec.record import CellRecord, Upstream

HOSTILE = "<img src=x onerror=alert(1)>"


def record(count, stage=None, reads=(), writes=(), upstream=(), error=None, duration=0.1):
    return CellRecord(
        session="s", execution_count=count, code_hash="h", started_at="t", duration=duration,
        stage=stage, reads={name: fingerprint(count) for name in reads},
        writes={name: fingerprint([count] * 3) for name in writes},
        upstream=[Upstream(name, None, source, "") for name, source in upstream],
        error=error)


def view_of(records, stale=None, sources=None):
    sources = sources or {}
    return FlowView.of_records([(str(r.execution_count), r, sources.get(r.execution_count))
                                for r in records], "test", stale)


def flow():
    return view_of([
        record(1),  # %load_ext: touches nothing
        record(2, "load", writes=["raw"]),
        record(3, None, reads=["raw"], writes=["clean"], upstream=[("raw", 2)]),
        record(4, "train", reads=["clean", "raw"], writes=["model"],
               upstream=[("clean", 3), ("raw", 2)]),
        record(5, "evaluate", reads=["model"], upstream=[("model", 4)],
               error={"ename": "ValueError", "evalue": "bad"}),
    ], stale={"4": "raw changed since it ran (now written by load)"},
        sources={4: "%%flow_stage train\nmodel = fit(clean, raw)"})


def test_model_states_and_empty_steps():
    model = flow().model()
    nodes = {node["key"]: node for node in model["nodes"]}
    assert list(nodes) == ["load", "step [3]", "train", "evaluate"]
    assert nodes["step [3]"]["small"] and not nodes["train"]["small"]
    assert nodes["load"]["state"] == "fresh"
    assert nodes["train"]["state"] == "stale"
    assert nodes["evaluate"]["state"] == "failed"
    assert nodes["load"]["y"] < nodes["step [3]"]["y"] < nodes["train"]["y"] < nodes["evaluate"]["y"]
    assert "raw changed since it ran" in nodes["train"]["title"]
    assert (model["stages"], model["steps"]) == (3, 1)
    assert model["counts"]["stale"] == 1
    assert model["counts"]["failed"] == 1
    assert [item["state"] for item in model["legend"]] == [
        "fresh", "stale", "failed", "reproduced", "close", "diverged"]
    json.dumps(model)  # the widget sends it as JSON


def test_edges_carry_names_and_routes():
    edges = {(e["source"], e["target"]): e for e in flow().model()["edges"]}
    assert edges[("load", "step [3]")]["label"] == "raw"
    assert edges[("step [3]", "train")]["label"] == "clean"
    assert edges[("train", "evaluate")]["kind"] == "data"
    assert all(len(edge["points"]) >= 2 for edge in edges.values())


def test_hiding_steps_bridges_them():
    model = flow().model(show_steps=False)
    assert [node["key"] for node in model["nodes"]] == ["load", "train", "evaluate"]
    edges = {(e["source"], e["target"], e["kind"]): e for e in model["edges"]}
    assert edges[("load", "train", "via steps")]["variables"] == ["clean"]
    assert "through unnamed steps" in edges[("load", "train", "via steps")]["title"]
    assert edges[("load", "train", "data")]["variables"] == ["raw"]


def test_many_names_are_grouped_on_an_edge():
    label, full = edge_label(["a", "b", "c", "d", "e"], ["/data/in.csv"])
    assert label == "a, b +4 more"
    assert full.splitlines() == ["a", "b", "c", "d", "e", "file /data/in.csv"]
    assert edge_label(["x"], ["/data/in.csv"])[0] == "x, file in.csv"


def test_details_escape_every_notebook_string():
    view = view_of([
        record(1, "load", writes=[HOSTILE]),
        record(2, "use", reads=[HOSTILE], upstream=[(HOSTILE, 1)]),
    ], sources={2: f"print({HOSTILE!r})</pre><script>alert(2)</script>"})
    details = view.details_html("use")
    assert "<img" not in details
    assert "<script" not in details
    assert "&lt;img src=x onerror=alert(1)&gt;" in details
    assert "&lt;/pre&gt;&lt;script&gt;" in details
    edge = view.model()["edges"][0]
    assert edge["label"] == HOSTILE  # drawn by the browser code as text, never as markup


def test_details_show_values_files_state_and_code():
    details = flow().details_html("train")
    for text in ("stage", "stale: raw changed since it ran", "In [4]", "0.100 s",
                 "depends on", "load", "model", "clean", "list", "len 3",
                 "%%flow_stage train", "model = fit(clean, raw)"):
        assert text in details, text
    assert "failed" not in details
    assert "ValueError: bad" in flow().details_html("evaluate")
    assert "Click a stage" in flow().details_html("")
    assert "Click a stage" in flow().details_html("no such node")


def test_check_report_colours_nodes():
    view = flow()
    matched = view.apply_report({"flowrec_report": 1, "stages": [
        {"cell": 3, "stage": "load", "verdict": "identical", "reason": ""},
        {"cell": 5, "stage": "train", "verdict": "diverged", "reason": "model differs"},
        {"cell": 6, "stage": "evaluate", "verdict": "close", "reason": "within tolerance"},
    ]})
    assert matched == 3
    states = {node["key"]: node["state"] for node in view.model()["nodes"]}
    # A live state (stale, failed) is shown before an older verdict.
    assert states == {"load": "reproduced", "step [3]": "fresh", "train": "stale",
                      "evaluate": "failed"}
    assert "last check</th><td>diverged: model differs" in view.details_html("train")


def test_close_verdict_colours_a_fresh_node():
    view = view_of([record(1, "fit", writes=["w"])])
    view.apply_report({"stages": [{"stage": "fit", "verdict": "close", "reason": ""}]})
    assert view.model()["nodes"][0]["state"] == "close"


def test_durations_in_run_order():
    assert flow().durations(show_steps=False) == [
        ("load", 0.1, True), ("train", 0.1, True), ("evaluate", 0.1, True)]


def test_saved_notebook_view(write_notebook):
    path = write_notebook([
        "%load_ext flowrec",
        "%%flow_stage load\nvalues = [1, 2, 3]",
        "%%flow_stage total\nresult = sum(values)",
    ], execute=True)
    view = FlowView.of_notebook(path)
    assert view.title == path.name
    nodes = {node["key"]: node for node in view.model()["nodes"]}
    assert list(nodes) == ["load", "total"]
    assert "cell</th><td>3" in view.details_html("total")
    assert "result = sum(values)" in view.details_html("total")
    # A check report matches stages by name and steps by cell number.
    view.apply_report({"stages": [{"cell": 3, "stage": "total", "verdict": "diverged",
                                   "reason": "result differs"}]})
    assert {n["key"]: n["state"] for n in view.model()["nodes"]}["total"] == "diverged"


def test_edited_cell_is_stale_in_a_saved_notebook(write_notebook, tmp_path):
    import nbformat

    path = write_notebook(["%load_ext flowrec", "%%flow_stage load\nvalues = [1]"], execute=True)
    notebook = nbformat.read(path, 4)
    notebook.cells[1].source += "\nvalues.append(2)"
    nbformat.write(notebook, path)
    state = FlowView.of_notebook(path).model()["nodes"][0]["state"]
    assert state == "stale"


def test_notebook_without_records_is_a_clear_error(write_notebook, tmp_path):
    path = write_notebook(["x = 1"])
    with pytest.raises(BadInputError, match="has no flowrec records"):
        FlowView.of_notebook(path)
    with pytest.raises(BadInputError, match="missing.ipynb"):
        FlowView.of_notebook(tmp_path / "missing.ipynb")


def test_report_errors_name_the_file(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        read_check_report(tmp_path / "none.json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(BadInputError, match="is not a flowrec check report"):
        read_check_report(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(BadInputError, match="cannot read check report"):
        read_check_report(tmp_path / "broken.json")
    (tmp_path / "stages.json").write_text('{"flowrec_report": 1, "stages": [1, 2]}')
    with pytest.raises(BadInputError, match="is not a flowrec check report"):
        read_check_report(tmp_path / "stages.json")
    with pytest.raises(BadInputError, match="is not a regular file"):
        read_check_report(tmp_path)
