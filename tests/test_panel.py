"""The flow panel in real kernels: what the widgets hold after real cell runs.

These tests read the widget state that nbclient saves in the executed
notebook, the same state a front end would draw. The browser test
(test_panel_browser.py) checks the drawing itself.
"""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from conftest import execute_notebook, new_notebook

pytestmark = pytest.mark.kernel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
FLOW_MIME = "application/vnd.flowrec.flow+json"


def run(cells, folder, allow_errors=True):
    notebook = execute_notebook(new_notebook(cells), folder, allow_errors=allow_errors)
    nbformat.write(notebook, folder / "executed.ipynb")
    return notebook


def widget_states(notebook):
    return notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]


def drawings(notebook):
    """The graph models of every flow drawing in the notebook, by model id."""
    return {model_id: model["state"]["graph"] for model_id, model in widget_states(notebook).items()
            if model["model_name"] == "AnyModel" and "graph" in model["state"]}


def text_of(cell):
    return "".join(output.get("text", "") for output in cell.outputs
                   if output.output_type == "stream")


def error_of(cell):
    """An exception's name and message, or a usage error IPython printed to stderr."""
    for output in cell.outputs:
        if output.output_type == "error":
            return f"{output.ename}: {output.evalue}"
        if output.output_type == "stream" and output.name == "stderr":
            return output.text.strip()
    return ""


def flow_output(cell):
    """The one output of ``cell`` that shows the flow."""
    (output,) = [output for output in cell.outputs if FLOW_MIME in output.get("data", {})]
    return output


def test_live_panel_updates_after_every_cell(tmp_path):
    notebook = run([
        "%load_ext flowrec",
        "%%flow_stage load\nvalues = list(range(10))",
        "%flow",
        "doubled = [2 * v for v in values]",
        "%%flow_stage total\nresult = sum(doubled)",
        "panel = get_ipython()._flowrec_recorder.panel\n"
        "panel.drawing.selected = 'total'\n"
        "print('details:', 'result = sum(doubled)' in panel.details.value)\n"
        "panel.tabs.selected_index = 1\n"
        "print('chart bytes:', len(panel.chart.value) > 1000)\n"
        "print('note:', panel.chart_note.value)",
    ], tmp_path)
    output = flow_output(notebook.cells[2])
    assert WIDGET_VIEW in output.data
    assert "load  (In [2]" in output.data["text/plain"]  # a text form for front ends without widgets
    (graph,) = drawings(notebook).values()
    # The saved state is the latest: the panel redrew after the cells that followed it.
    assert [node["key"] for node in graph["nodes"]] == ["load", "step [4]", "total", "step [6]"]
    assert [(e["source"], e["target"], e["label"]) for e in graph["edges"]][:2] == [
        ("load", "step [4]", "values"), ("step [4]", "total", "doubled")]
    printed = text_of(notebook.cells[5])
    assert "details: True" in printed
    assert "chart bytes: True" in printed
    assert "note: Seconds per cell, in the order the cells ran." in printed


def test_flow_cells_record_no_files_of_flowrec(tmp_path):
    """Drawing the panel reads flowrec's own browser code; that is not part of the flow."""
    from flowrec.notebook import cell_entries

    notebook = run(["%load_ext flowrec", "%flow", "%flow sidebar"], tmp_path)
    entries = cell_entries(notebook)
    assert entries[1].record.files == []
    assert entries[2].record.files == []


def test_every_flow_output_is_left_out_of_checks(tmp_path):
    """Panels, the sidebar fallback and listings differ on every run; check skips them."""
    from flowrec.check import CheckOptions, run_check

    notebook = run(["%load_ext flowrec", "%%flow_stage a\nx = 1", "%flow", "%flow sidebar",
                    "%flow text"], tmp_path)
    path = tmp_path / "flows.ipynb"
    nbformat.write(notebook, path)
    result = run_check(CheckOptions(path, output=tmp_path / "out.ipynb"))
    assert result.reproduced, result.to_json()


def test_sidebar_outside_jupyterlab_falls_back_inline(tmp_path):
    """No JupyterLab runs in a papermill-like run: the panel shows under the cell with one line."""
    notebook = run(["%load_ext flowrec", "%%flow_stage a\nx = 1", "%flow sidebar"], tmp_path)
    cell = notebook.cells[2]
    assert text_of(cell) == ""
    assert error_of(cell) == ""
    output = flow_output(cell)
    states = widget_states(notebook)
    box = states[output.data[WIDGET_VIEW]["model_id"]]["state"]
    note = states[box["children"][0].removeprefix("IPY_MODEL_")]["state"]["value"]
    assert note == ("flowrec: the sidebar needs JupyterLab (with ipylab); "
                    "showing the flow panel here")
    panel = states[box["children"][1].removeprefix("IPY_MODEL_")]
    assert "flowrec-panel" in panel["state"]["_dom_classes"]
    assert [node["key"] for node in next(iter(drawings(notebook).values()))["nodes"]] == ["a"]


def test_sidebar_opens_on_load_when_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWREC_SIDEBAR", "left")
    notebook = run(["%load_ext flowrec"], tmp_path)
    assert WIDGET_VIEW in flow_output(notebook.cells[0]).data
    monkeypatch.setenv("FLOWREC_SIDEBAR", "middle")
    notebook = run(["%load_ext flowrec", "x = 1"], tmp_path)
    # A note of flowrec's own, so that flowrec check does not compare it.
    assert flow_output(notebook.cells[0]).data["text/plain"] == (
        "flowrec: ignoring FLOWREC_SIDEBAR='middle'; use 'left', 'right' or leave it empty")
    assert error_of(notebook.cells[1]) == ""


def test_sidebar_setting_from_ipython_config(tmp_path, monkeypatch):
    monkeypatch.delenv("FLOWREC_SIDEBAR", raising=False)
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text("c.Flowrec.sidebar = 'right'\n")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    notebook = run(["%load_ext flowrec"], tmp_path)
    assert WIDGET_VIEW in flow_output(notebook.cells[0]).data


def test_show_saved_notebook_and_report(tmp_path, write_notebook):
    saved = write_notebook([
        "%load_ext flowrec",
        "%%flow_stage load\nvalues = [1, 2]",
        "%%flow_stage total\nresult = sum(values)",
    ], name="saved.ipynb", execute=True)

    report = tmp_path / "report.json"
    report.write_text(json.dumps({"flowrec_report": 1, "stages": [
        {"cell": 2, "stage": "load", "verdict": "identical", "reason": ""},
        {"cell": 3, "stage": "total", "verdict": "diverged", "reason": "result differs"}]}))

    notebook = run([
        "%load_ext flowrec",
        f"%flow show {saved} --report {report}",
        f"%flow text {saved}",
        "%flow show missing.ipynb",
        f"%flow stale {saved}",
        "%flow --side left",
        f"%flow --report {tmp_path / 'none.json'}",
    ], tmp_path)

    graphs = list(drawings(notebook).values())
    saved_graph = next(graph for graph in graphs if graph["title"] == "saved.ipynb")
    assert {node["key"]: node["state"] for node in saved_graph["nodes"]} == {
        "load": "reproduced", "total": "diverged"}
    assert "total  (cell 3, In [3]" in notebook.cells[2].outputs[0].data["text/plain"]
    assert error_of(notebook.cells[3]) == (
        "UsageError: notebook not found: 'missing.ipynb'; check the path")
    assert error_of(notebook.cells[4]) == (
        f"UsageError: %flow stale takes no notebook path; got {str(saved)!r}")
    assert error_of(notebook.cells[5]) == "UsageError: --side goes with %flow sidebar"
    assert error_of(notebook.cells[6]).endswith(
        "none.json' does not exist; flowrec check NOTEBOOK --json REPORT.json writes one")


def test_panel_never_disturbs_user_code(tmp_path):
    """A flow the panel cannot draw shows a short note; the user's cells run on."""
    notebook = run([
        "%load_ext flowrec",
        "%flow",
        "import flowrec.flowview as fv\n"
        "def broken(self, show_steps=True):\n    raise RuntimeError('boom')\n"
        "fv.FlowView.model = broken",
        "y = 41 + 1\nprint(y)",
        "print(get_ipython()._flowrec_recorder.panel.status.value)",
    ], tmp_path)
    assert text_of(notebook.cells[3]) == "42\n"
    assert error_of(notebook.cells[3]) == ""
    assert "could not draw the flow: RuntimeError" in text_of(notebook.cells[4])


@pytest.fixture
def kernel():
    """A real kernel, for cells sent with a cell id, as JupyterLab sends them."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def run_cell(client, code: str, cell_id: str) -> str:
    """Run ``code`` as the cell ``cell_id``; return what it printed, fail if it raised."""
    message = client.session.msg("execute_request", {
        "code": code, "silent": False, "store_history": True, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": True}, metadata={"cellId": cell_id})
    client.shell_channel.send(message)
    printed = []
    while True:
        output = client.get_iopub_msg(timeout=60)
        if output["parent_header"].get("msg_id") != message["header"]["msg_id"]:
            continue
        if output["msg_type"] == "stream":
            printed.append(output["content"]["text"])
        elif output["msg_type"] == "error":
            raise AssertionError(output["content"]["evalue"])
        elif output["msg_type"] == "status" and output["content"]["execution_state"] == "idle":
            return "".join(printed)


def run_in_order(client, cells: list[tuple[str, str]]) -> str:
    """Run ``(code, cell id)`` pairs in order; return what the last one printed."""
    printed = ""
    for code, cell_id in cells:
        printed = run_cell(client, code, cell_id)
    return printed


EDGES = ("import json\npanel = get_ipython()._flowrec_recorder.panel\n"
         "print(json.dumps(sorted((e['source'], e['target'], e['kind'], e['reversed']) "
         "for e in panel.drawing.graph['edges'])))")


def test_rerun_keeps_edges_and_shows_cycles(kernel):
    """A cell run again keeps the edges to the cells that read its older run's values."""
    edges = json.loads(run_in_order(kernel, [
        ("%load_ext flowrec", "load"), ("%%flow_stage a\nx = 1", "A"),
        ("%%flow_stage b\ny = x + 1", "B"), ("%flow", "show"), ("%%flow_stage a\nx = 1", "A"),
        (EDGES, "probe")]))
    assert edges == [["a", "b", "data", False]]
    # b runs again and now reads what a wrote; a runs again reading y: a cycle.
    run_cell(kernel, "%%flow_stage b\ny = x + 1", "B")
    run_cell(kernel, "%%flow_stage a\nx = 1 + y * 0", "A")
    edges = json.loads(run_cell(kernel, EDGES, "probe"))
    assert ["a", "b", "data", False] in edges
    assert ["b", "a", "data", True] in edges


def test_changed_file_makes_reader_stale(kernel, tmp_path):
    data = tmp_path / "data.txt"
    run_cell(kernel, "%load_ext flowrec", "load")
    run_cell(kernel, f"%%flow_stage write\nopen({str(data)!r}, 'w').write('one')", "W")
    run_cell(kernel, f"%%flow_stage read\ntext = open({str(data)!r}).read()", "R")
    assert run_cell(kernel, "%flow stale", "stale") == "flowrec: no stale cells\n"
    run_cell(kernel, f"%%flow_stage write\nopen({str(data)!r}, 'w').write('two')", "W")
    printed = run_cell(kernel, "%flow stale", "stale")
    assert printed.startswith("flowrec: 1 stale cell(s)")
    assert f"read (In [3]): file {data} changed since it ran (now written by write)" in printed


def test_sidebar_side_change_moves_the_panel(kernel):
    """Outside JupyterLab each request shows the fallback; a new side replaces the old tab."""
    run_cell(kernel, "%load_ext flowrec", "load")
    run_cell(kernel, "%flow sidebar", "s1")
    printed = run_cell(kernel, "%flow sidebar --side left\n"
                       "placement = get_ipython()._flowrec_recorder.sidebar\n"
                       "print(placement.side, placement.closed)", "s2")
    assert printed == "left False\n"


def test_closed_widgets_get_a_new_panel(kernel):
    """After Widget.close_all(), %flow and %flow sidebar build new widgets instead of failing."""
    printed = run_in_order(kernel, [
        ("%load_ext flowrec", "load"), ("%flow sidebar", "s1"),
        ("import ipywidgets\nipywidgets.Widget.close_all()", "close"), ("%flow", "show"),
        ("%flow sidebar", "s2"),
        ("r = get_ipython()._flowrec_recorder\nprint(r.panel.is_open, r.sidebar.closed)", "probe")])
    assert printed == "True False\n"


def test_paths_with_spaces_and_quotes(tmp_path, write_notebook):
    saved = write_notebook(["%load_ext flowrec", "%%flow_stage load\nvalues = [1]"],
                           name="with space.ipynb", execute=True)
    notebook = run([
        "%load_ext flowrec",
        f'%flow text "{saved}"',
        '%flow show "unclosed',
        "%flow text --report r.json",
    ], tmp_path)
    assert "load  (cell 2" in flow_output(notebook.cells[1]).data["text/plain"]
    assert error_of(notebook.cells[2]).startswith("UsageError: invalid %flow arguments")
    assert error_of(notebook.cells[3]) == (
        "UsageError: --report goes with %flow, %flow show or %flow sidebar")


def test_flowrec_commands_are_not_drawn(tmp_path):
    notebook = run([
        "%load_ext flowrec",
        "%%flow_stage a\nx = 1",
        "%flow show missing.ipynb",
        "%flow",
        "y = x + 1",
    ], tmp_path)
    (graph,) = drawings(notebook).values()
    assert [node["key"] for node in graph["nodes"]] == ["a", "step [5]"]
    assert graph["steps"] == 1
