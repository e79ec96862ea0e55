"""Reference stores: flowrec record, the manifest, and check --reference."""

from __future__ import annotations

import json

import nbformat
import pytest

from flowrec.errors import BadInputError
from flowrec.store import MANIFEST_NAME, ReferenceStore
from test_batch_commands import summary_rows
from test_cli import assert_one_line_error, flowrec


@pytest.mark.kernel
def test_record_then_check_reference(batch_folder, tmp_path):
    """Recorded runs are the reference per notebook and set; edits and new notebooks show."""
    grid = tmp_path / "grid.yaml"
    grid.write_text("seed: [0, 1]\n")
    store = tmp_path / "store"
    recorded = flowrec("record", batch_folder, "--store", store, "--grid", grid, "--jobs", "2",
                       cwd=tmp_path)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert "4 run(s): 4 recorded" in recorded.stdout

    manifest = json.loads((store / MANIFEST_NAME).read_text())
    assert manifest["flowrec_store"] == 1
    entries = {(entry["notebook"], entry["parameter_set"]): entry
               for entry in manifest["references"]}
    assert set(entries) == {("notebooks/seeded.ipynb", "seed=0"),
                            ("notebooks/seeded.ipynb", "seed=1"),
                            ("notebooks/steady.ipynb", "defaults"),
                            ("notebooks/unseeded.ipynb", "defaults")}
    seeded = entries[("notebooks/seeded.ipynb", "seed=1")]
    assert seeded["file"] == "notebooks/seeded.seed=1.ipynb"
    assert seeded["parameters"] == {"seed": 1}
    assert seeded["kernel"] == "python3"
    assert seeded["environment"]["python"]
    assert "numpy" in seeded["environment"]["packages"]
    assert seeded["recorded_at"].endswith("+00:00")
    stored = nbformat.read(store / seeded["file"], 4)
    injected = [cell for cell in stored.cells
                if "injected-parameters" in cell.metadata.get("tags", [])]
    assert "seed = 1" in injected[0].source

    # An edited cell and a notebook recorded after the references were made.
    steady = nbformat.read(batch_folder / "steady.ipynb", 4)
    steady.cells[2].source = "%%flow_stage two\ny = x + 2"
    nbformat.write(steady, batch_folder / "steady.ipynb")
    (batch_folder / "later.ipynb").write_bytes((batch_folder / "steady.ipynb").read_bytes())
    report = tmp_path / "check.json"
    checked = flowrec("check", "notebooks", "--reference", "store", "--grid", grid,
                      "--json", report, "--jobs", "2", cwd=tmp_path)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    rows = summary_rows(checked.stdout)
    assert "bad input" in rows["later.ipynb"]
    assert "no reference run of 'notebooks/later.ipynb'" in checked.stdout
    results = {(check["name"], check["parameter_set"]): check
               for check in json.loads(report.read_text())["checks"]}
    assert results[("seeded.ipynb", "seed=0")]["status"] == "reproduced"
    assert results[("seeded.ipynb", "seed=1")]["status"] == "reproduced"
    assert results[("seeded.ipynb", "seed=1")]["result"]["reference"].startswith(
        "the run stored in store/notebooks/seeded.seed=1.ipynb")
    assert results[("unseeded.ipynb", "defaults")]["status"] == "not reproduced"
    steady_stages = results[("steady.ipynb", "defaults")]["result"]["stages"]
    assert [stage["verdict"] for stage in steady_stages] == ["identical", "identical",
                                                             "changed code"]


@pytest.mark.kernel
def test_record_failed_run_not_stored(write_notebook, tmp_path):
    """A run that stops with an error is reported failed and leaves no reference."""
    path = write_notebook(["x = 1", "raise ValueError('broken on purpose')"])
    store = tmp_path / "store"
    completed = flowrec("record", path, "--store", store)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "failed" in completed.stdout
    assert "ValueError: broken on purpose" in completed.stdout
    assert json.loads((store / MANIFEST_NAME).read_text())["references"] == []
    assert list(store.rglob("*.ipynb")) == []


def test_store_rejects_user_folder(tmp_path):
    """Recording never writes into a folder of other files."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "keep.csv").write_text("a,b\n")
    with pytest.raises(BadInputError, match="is a folder with other files"):
        ReferenceStore.open_for_recording(folder)
    assert [path.name for path in folder.iterdir()] == ["keep.csv"]


def test_check_reference_not_a_store(write_notebook, tmp_path):
    """--reference to a folder without a manifest is one error for the whole run."""
    path = write_notebook(["x = 1"])
    completed = flowrec("check", path, "--reference", tmp_path)
    assert_one_line_error(completed, "is not a flowrec reference store")


def test_malformed_manifest(tmp_path):
    """A manifest that is not a store's is bad input naming the file."""
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"flowrec_store": 1, "references": [3]}))
    with pytest.raises(BadInputError, match="has malformed entries"):
        ReferenceStore.open(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{")
    with pytest.raises(BadInputError, match="cannot read reference store manifest"):
        ReferenceStore.open(tmp_path)


def test_same_file_name_elsewhere_not_matched(tmp_path, monkeypatch):
    """Another notebook with the same file name never takes a stored run that is not its own."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "model.ipynb").write_text("{}")
    entry = {"notebook": "elsewhere/model.ipynb", "parameters": {"seed": 1},
             "file": "model.ipynb"}
    (store / MANIFEST_NAME).write_text(json.dumps({"flowrec_store": 1, "references": [entry]}))
    monkeypatch.chdir(tmp_path)
    opened = ReferenceStore.open(store)
    assert opened.find(tmp_path / "elsewhere" / "model.ipynb", {"seed": 1}) == entry
    with pytest.raises(BadInputError, match=r"no reference run of 'model.ipynb' with parameters "
                       r"seed=1"):
        opened.find(tmp_path / "model.ipynb", {"seed": 1})
    with pytest.raises(BadInputError, match=r"with parameters seed=2 .*\(stored sets: "):
        opened.find(tmp_path / "elsewhere" / "model.ipynb", {"seed": 2})
