"""``flowrec audit``: every checklist item passing and failing, on real executed notebooks."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

pytestmark = pytest.mark.kernel

LOAD = "%load_ext flowrec"


def audit(path, *extra):
    completed = subprocess.run([sys.executable, "-m", "flowrec", "audit", str(path), "--json",
                                *map(str, extra)], capture_output=True, text=True, timeout=300)
    assert completed.returncode in (0, 1), completed.stderr
    data = json.loads(completed.stdout)
    return completed.returncode, {item["item"]: item for item in data["items"]}


def git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def test_clean_notebook_passes_everything(write_notebook, tmp_path):
    """A seeded notebook run top to bottom, pinned and committed, passes every item."""
    import numpy

    (tmp_path / "data.txt").write_text("3\n")
    (tmp_path / "requirements.txt").write_text(f"numpy=={numpy.__version__}\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "test@example.invalid")
    git(tmp_path, "config", "user.name", "Test")
    git(tmp_path, "add", "data.txt", "requirements.txt")
    git(tmp_path, "commit", "-q", "-m", "data")
    path = write_notebook([
        LOAD,
        "%%flow_stage load\nimport numpy as np\nwith open('data.txt') as handle:\n"
        "    size = int(handle.read())",
        "%%flow_stage draw\nrng = np.random.default_rng(0)\nvalues = rng.normal(size=size)",
    ], execute=True)
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"flowrec_report": 1, "reproduced": True,
                                  "notebook": str(path)}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"flowrec_report": 1, "reproduced": True,
                                 "notebook": str(tmp_path / "elsewhere.ipynb")}))
    _, mismatched = audit(path, "--report", other)
    assert mismatched["last check reproduced"]["status"] == "unknown"
    assert mismatched["last check reproduced"]["evidence"].startswith(
        "the report is for another notebook")
    status, items = audit(path, "--report", report)
    assert {name: item["status"] for name, item in items.items()} == {
        "executed top to bottom": "passed", "no hidden state": "passed",
        "random generators seeded": "passed", "input files recorded": "passed",
        "environment pinned": "passed", "code committed": "passed",
        "last check reproduced": "passed"}
    assert status == 0
    assert items["input files recorded"]["evidence"] == "1 file read(s) recorded with size and hash"
    assert items["environment pinned"]["evidence"] == (
        "requirements.txt found; 1 pin(s) agree with the recorded versions")


def test_failing_items_name_evidence_and_fix(tmp_path):
    """Out-of-order runs, hidden state, unseeded draws, missing pins and dirty code fail."""
    from conftest import new_notebook
    from nbclient import NotebookClient

    (tmp_path / "requirements.txt").write_text("numpy==0.0.1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "test@example.invalid")
    git(tmp_path, "config", "user.name", "Test")
    git(tmp_path, "add", "requirements.txt")
    git(tmp_path, "commit", "-q", "-m", "pins")
    (tmp_path / "requirements.txt").write_text("numpy==0.0.2\n")  # an uncommitted change
    notebook = new_notebook([
        LOAD,
        "%%flow_stage setup\nimport numpy as np",
        "%%flow_stage helper\nleftover = 5",
        "%%flow_stage draw\nnoise = np.random.normal(size=leftover)",
        "%%flow_stage later\ntotal = float(noise.sum())",
    ])
    client = NotebookClient(notebook, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        for index in (0, 1, 2, 3, 4, 3):
            client.execute_cell(notebook.cells[index], index)
    del notebook.cells[2]  # the cell that made ``leftover`` is gone
    path = tmp_path / "messy.ipynb"
    nbformat.write(notebook, path)
    status, items = audit(path)
    assert status == 1
    order = items["executed top to bottom"]
    assert order["status"] == "failed"
    assert order["evidence"] == "cell 4 ran as In [5], before cell 3 (In [6])"
    hidden = items["no hidden state"]
    assert hidden["status"] == "failed"
    assert "leftover (read by draw)" in hidden["evidence"]
    seeded = items["random generators seeded"]
    assert seeded["status"] == "failed"
    assert seeded["evidence"].startswith("draw, line 2: np.random.normal")
    assert "np.random.default_rng(0)" in seeded["fix"]
    pinned = items["environment pinned"]
    assert pinned["status"] == "failed"
    assert "numpy" in pinned["evidence"]
    assert "0.0.2 pinned" in pinned["evidence"]
    assert "--format requirements" in pinned["fix"]
    assert items["code committed"]["status"] == "failed"
    assert items["last check reproduced"]["status"] == "unknown"
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"flowrec_report": 1, "reproduced": False, "notebook": str(path),
                                  "first_divergence": "draw"}))
    _, with_report = audit(path, "--report", report)
    assert with_report["last check reproduced"]["status"] == "failed"
    assert with_report["last check reproduced"]["evidence"].endswith("first divergence: draw")


def test_unknown_and_missing_inputs(write_notebook, tmp_path):
    """Outside git, code state is unknown; a missing input file and no pins fail."""
    (tmp_path / "gone.txt").write_text("1")
    path = write_notebook([
        LOAD,
        ("%%flow_stage read\nwith open('gone.txt') as handle:\n    text = handle.read()", []),
    ], execute=True)
    (tmp_path / "gone.txt").unlink()
    notebook = nbformat.read(path, 4)
    for output in notebook.cells[1].outputs:
        record = output.get("data", {}).get("application/vnd.flowrec.stage+json")
        if record:
            record["files"][0]["missing"] = True
            record["files"][0]["digest"] = None
    nbformat.write(notebook, path)
    status, items = audit(path)
    assert items["code committed"]["status"] == "unknown"
    assert items["input files recorded"]["status"] == "failed"
    assert items["input files recorded"]["evidence"] == "files read without a hash: gone.txt (read by read)"
    assert items["environment pinned"]["status"] == "failed"
    bad = subprocess.run([sys.executable, "-m", "flowrec", "audit", str(path), "--report",
                          str(path)], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "is not a flowrec check report" in bad.stderr
