"""``flowrec export`` and ``flowrec diff`` on real executed notebooks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel

LOAD = "%load_ext flowrec"
FLOW = [
    LOAD,
    "%%flow_stage save\nimport pandas as pd\n"
    "pd.DataFrame({'x': [1, 2]}).to_csv('in \"quoted\".csv', index=False)",
    "%%flow_stage load\nimport pandas as pd\nframe = pd.read_csv('in \"quoted\".csv')",
    "%%flow_stage total --after save\ntotal = int(frame['x'].sum())",
]


def flowrec(*args):
    return subprocess.run([sys.executable, "-m", "flowrec", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from conftest import execute_notebook, new_notebook

    import nbformat

    folder = tmp_path_factory.mktemp("export")
    notebook = execute_notebook(new_notebook(FLOW), folder)
    path = folder / "flow.ipynb"
    nbformat.write(notebook, path)
    return path


def test_export_json(executed):
    """The JSON export lists every stage and the file and variable edges."""
    completed = flowrec("export", executed, "--format", "json")
    assert completed.returncode == 0, completed.stderr
    graph = json.loads(completed.stdout)
    assert [node["key"] for node in graph["nodes"]] == ["step [1]", "save", "load", "total"]
    edges = {(edge["source"], edge["target"]): edge for edge in graph["edges"]}
    assert edges[("save", "load")]["files"] == ['in "quoted".csv']
    assert edges[("load", "total")]["variables"] == ["frame"]
    assert edges[("save", "total")]["kind"] == "order"


def test_export_dot_and_mermaid_quote_names(executed):
    """DOT and Mermaid labels quote the file name's double quotes."""
    dot = flowrec("export", executed, "-f", "dot").stdout
    assert dot.startswith("// flow exported by flowrec\ndigraph flow {")
    assert '"save" -> "load" [label="in \\"quoted\\".csv"];' in dot
    assert '"save" -> "total" [label="", style=dashed];' in dot
    mermaid = flowrec("export", executed, "-f", "mermaid").stdout
    assert mermaid.startswith("%% flow exported by flowrec\nflowchart TD\n")
    assert 'n1 -->|"in #34;quoted#34;.csv"| n2' in mermaid
    assert "n1 -.-> n3" in mermaid


def test_export_prov_reads_back(executed):
    """PROV-JSON reads back with the prov package, with its entities and relations."""
    prov_model = pytest.importorskip("prov.model")
    text = flowrec("export", executed, "-f", "prov").stdout
    document = prov_model.ProvDocument.deserialize(content=text, format="json")
    records = document.get_records()
    activities = [r for r in records if isinstance(r, prov_model.ProvActivity)]
    entities = [r for r in records if isinstance(r, prov_model.ProvEntity)]
    generations = [r for r in records if isinstance(r, prov_model.ProvGeneration)]
    usages = [r for r in records if isinstance(r, prov_model.ProvUsage)]
    communications = [r for r in records if isinstance(r, prov_model.ProvCommunication)]
    assert {str(a.identifier) for a in activities} >= {"flowrec:run-save", "flowrec:run-load",
                                                       "flowrec:run-total"}
    labels = {str(label) for entity in entities for label in entity.get_attribute("prov:label")}
    assert {"frame", "total", 'in "quoted".csv'} <= labels
    assert generations
    assert usages
    assert communications


def test_export_requirements(executed):
    """The requirements export pins the versions of the packages the records saw."""
    import pandas

    text = flowrec("export", executed, "-f", "requirements").stdout
    assert text.splitlines()[0].startswith("# package versions recorded by flowrec under Python ")
    assert f"pandas=={pandas.__version__}" in text.splitlines()


def test_export_never_overwrites(executed, tmp_path):
    """--output refuses an existing file and the notebook itself."""
    mine = tmp_path / "flow.dot"
    mine.write_text("mine")
    completed = flowrec("export", executed, "-f", "dot", "-o", mine)
    assert completed.returncode == 2
    assert "already exists and was not written by flowrec" in completed.stderr
    assert mine.read_text() == "mine"
    fresh = tmp_path / "new.dot"
    assert flowrec("export", executed, "-f", "dot", "-o", fresh).returncode == 0
    assert "digraph flow {" in fresh.read_text()
    # Its own earlier export may be replaced.
    assert flowrec("export", executed, "-f", "dot", "-o", fresh).returncode == 0


def test_diff_two_runs(write_notebook, tmp_path):
    """diff compares two executed notebooks with the check's verdicts, running nothing."""
    import nbformat

    from conftest import execute_notebook, new_notebook

    cells = [LOAD, "%%flow_stage fixed\nx = 1",
             "%%flow_stage draw\nimport random\nvalue = random.random()"]
    paths = []
    for name in ("a.ipynb", "b.ipynb"):
        notebook = execute_notebook(new_notebook(cells), tmp_path)
        nbformat.write(notebook, tmp_path / name)
        paths.append(tmp_path / name)
    completed = flowrec("diff", *paths)
    assert completed.returncode == 1, completed.stderr
    assert "first divergence: stage 'draw' (cell 3): diverged" in completed.stdout
    same = flowrec("diff", paths[0], paths[0])
    assert same.returncode == 0
    bare = tmp_path / "bare.ipynb"
    nbformat.write(new_notebook(["x = 1"]), bare)
    missing = flowrec("diff", paths[0], bare)
    assert missing.returncode == 2
    assert "has no flowrec records" in missing.stderr
