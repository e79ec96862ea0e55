"""Planning a batch: discovery, names, parameter sets per notebook, outputs, exit status."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from conftest import new_notebook
from flowrec.batch import (
    BAD_INPUT,
    FAILED,
    NOT_REPRODUCED,
    Job,
    REPRODUCED,
    Outcome,
    assign_outputs,
    check_notebook,
    exit_status,
    find_notebooks,
    named_file,
    plan,
    relative_names,
)
from flowrec.check import CheckOptions
from flowrec.errors import BadInputError
from flowrec.execute import CHECK_METADATA_KEY

TEMPLATE = CheckOptions(notebook=Path())


def write(path: Path, cells: list, metadata: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    notebook = new_notebook(cells)
    notebook.metadata.update(metadata or {})
    nbformat.write(notebook, path)
    return path


def test_discovery_skips_checkpoints_hidden_and_outputs(tmp_path):
    """Folders are searched recursively, leaving out what is not the user's notebook."""
    kept = [write(tmp_path / "a.ipynb", ["x = 1"]), write(tmp_path / "sub" / "b.ipynb", ["x = 2"])]
    write(tmp_path / ".ipynb_checkpoints" / "a-checkpoint.ipynb", ["x = 1"])
    write(tmp_path / "sub" / ".ipynb_checkpoints" / "b-checkpoint.ipynb", ["x = 1"])
    write(tmp_path / ".hidden" / "c.ipynb", ["x = 1"])
    write(tmp_path / "env" / "lib" / "d.ipynb", ["x = 1"])
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    write(tmp_path / "executed.ipynb", ["x = 1"], {CHECK_METADATA_KEY: {"check_output": True}})
    (tmp_path / "notes.txt").write_text("not a notebook")
    found, problems = find_notebooks([tmp_path])
    assert found == kept
    assert problems == []


def test_discovery_keeps_named_outputs_and_lists_problems(tmp_path):
    """A named notebook is kept even when flowrec wrote it; missing paths and empty folders are listed."""
    executed = write(tmp_path / "executed.ipynb", ["x = 1"],
                     {CHECK_METADATA_KEY: {"check_output": True}})
    empty = tmp_path / "empty"
    empty.mkdir()
    found, problems = find_notebooks([executed, tmp_path / "absent.ipynb", empty, executed])
    assert found == [executed]
    messages = dict(problems)
    assert "notebook not found" in messages[tmp_path / "absent.ipynb"]
    assert "is a folder, not a notebook, and no notebooks" in messages[empty]


def test_relative_names_and_file_names(tmp_path):
    """Names are relative to the common folder; file names add the parameter set."""
    first = tmp_path / "a" / "model.ipynb"
    second = tmp_path / "b" / "model.ipynb"
    names = relative_names([first, second])
    assert names == {first: "a/model.ipynb", second: "b/model.ipynb"}
    assert relative_names([first]) == {first: "model.ipynb"}
    out = tmp_path / "out"
    assert named_file(out, "a/model.ipynb", {}, ".ipynb") == out / "a" / "model.ipynb"
    assert named_file(out, "a/model.ipynb", {"seed": 1}, ".html") == out / "a" / "model.seed=1.html"


def test_plan_restricts_sets_per_notebook(tmp_path):
    """Each notebook takes the grid names its parameters cell assigns; others run once."""
    write(tmp_path / "model.ipynb", [("seed = 0\nsize = 5", ["parameters"]), "y = seed"])
    write(tmp_path / "forecast.ipynb", [("horizon = 12", ["parameters"]), "z = horizon"])
    write(tmp_path / "plain.ipynb", ["x = 1"])
    sets = [{"seed": 0, "horizon": 12}, {"seed": 1, "horizon": 12}, {"seed": 1, "horizon": 24}]
    batch = plan([tmp_path], TEMPLATE, sets, {})
    runs = [(job.name, job.parameters, job.options.fresh_reference) for job in batch.jobs]
    assert runs == [
        ("forecast.ipynb", {"horizon": 12}, False),
        ("forecast.ipynb", {"horizon": 24}, True),
        ("model.ipynb", {"seed": 0}, False),
        ("model.ipynb", {"seed": 1}, True),
        ("plain.ipynb", {}, False),
    ]
    assert all(job.problem is None for job in batch.jobs)


def test_plan_fixed_values_without_grid(tmp_path):
    """-p alone keeps the saved records as reference, as for one notebook."""
    write(tmp_path / "model.ipynb", [("seed = 0", ["parameters"]), "y = seed"])
    write(tmp_path / "plain.ipynb", ["x = 1"])
    batch = plan([tmp_path], TEMPLATE, None, {"seed": 3})
    runs = [(job.name, job.parameters, job.options.fresh_reference) for job in batch.jobs]
    assert runs == [("model.ipynb", {"seed": 3}, False), ("plain.ipynb", {}, False)]


def test_plan_rejects_name_no_notebook_takes(tmp_path):
    """A misspelled grid name is bad input for the whole batch."""
    write(tmp_path / "model.ipynb", [("seed = 0", ["parameters"]), "y = seed"])
    with pytest.raises(BadInputError, match="parameter 'sed' is assigned by the parameters cell "
                                            "of none of the 1 notebook"):
        plan([tmp_path], TEMPLATE, [{"sed": 1}], {})


def test_plan_lists_unreadable_notebooks(tmp_path):
    """A broken notebook becomes a bad-input job; the others are planned."""
    write(tmp_path / "good.ipynb", ["x = 1"])
    (tmp_path / "broken.ipynb").write_text("{ not json")
    batch = plan([tmp_path, tmp_path / "absent.ipynb"], TEMPLATE, None, {})
    problems = {job.name: job.problem for job in batch.jobs if job.problem}
    assert set(problems) == {"broken.ipynb", str(tmp_path / "absent.ipynb")}
    assert "is not valid JSON" in problems["broken.ipynb"]
    assert [job.name for job in batch.jobs if job.problem is None] == ["good.ipynb"]


def test_plan_without_any_notebook(tmp_path):
    """Nothing to check at all is one error for the whole run."""
    with pytest.raises(BadInputError, match="is a folder, not a notebook"):
        plan([tmp_path], TEMPLATE, None, {})


def test_outputs_never_replace_inputs(tmp_path):
    """--output-dir equal to the notebooks' folder would overwrite them: rejected."""
    path = write(tmp_path / "model.ipynb", ["x = 1"])
    before = path.read_bytes()
    batch = plan([tmp_path], TEMPLATE, None, {})
    with pytest.raises(BadInputError, match="is the same file as"):
        assign_outputs(batch, tmp_path, None)
    assert path.read_bytes() == before


def test_outputs_keep_user_files(tmp_path):
    """An existing file that flowrec did not write blocks the batch before it runs."""
    write(tmp_path / "in" / "model.ipynb", [("seed = 0", ["parameters"]), "y = seed"])
    mine = write(tmp_path / "out" / "model.seed=1.ipynb", ["mine = True"])
    before = mine.read_bytes()
    batch = plan([tmp_path / "in"], TEMPLATE, [{"seed": 1}], {})
    with pytest.raises(BadInputError, match="already exists and was not written by flowrec"):
        assign_outputs(batch, tmp_path / "out", None)
    assert mine.read_bytes() == before


def test_outputs_and_pages_named_per_set(tmp_path):
    """Executed notebooks and report pages are named by notebook and parameter set."""
    write(tmp_path / "in" / "sub" / "model.ipynb", [("seed = 0", ["parameters"]), "y = seed"])
    write(tmp_path / "in" / "plain.ipynb", ["x = 1"])
    batch = plan([tmp_path / "in"], TEMPLATE, [{"seed": 1}, {"seed": 2}], {})
    index = tmp_path / "reports" / "index.html"
    index.parent.mkdir()
    assign_outputs(batch, tmp_path / "out", index)
    outputs = sorted(job.options.output.relative_to(tmp_path).as_posix() for job in batch.jobs)
    assert outputs == ["out/plain.ipynb", "out/sub/model.seed=1.ipynb",
                       "out/sub/model.seed=2.ipynb"]
    pages = sorted(job.html_page.relative_to(tmp_path).as_posix() for job in batch.jobs)
    assert pages == ["reports/plain.html", "reports/sub/model.seed=1.html",
                     "reports/sub/model.seed=2.html"]


def test_exit_status_order():
    """Bad input wins over a divergence, which wins over success."""
    job = Job(1, Path("a.ipynb"), "a.ipynb", {}, TEMPLATE)
    outcomes = [Outcome(job, REPRODUCED), Outcome(job, NOT_REPRODUCED)]
    assert exit_status(outcomes[:1]) == 0
    assert exit_status(outcomes) == 1
    assert exit_status([Outcome(job, FAILED)]) == 1
    assert exit_status(outcomes + [Outcome(job, BAD_INPUT)]) == 2


@pytest.mark.kernel
def test_check_notebook_for_one_set(batch_folder):
    """The one-notebook entry point runs a non-default set against a first run with it."""
    result = check_notebook(batch_folder / "seeded.ipynb", {"seed": 3})
    assert result.reproduced
    assert result.parameters == {"seed": 3}
    assert result.reference_source.startswith("a first run with these parameters")
    default = check_notebook(batch_folder / "seeded.ipynb")
    assert default.reference_source == "records saved in the notebook"


@pytest.mark.kernel
def test_check_notebook_missing_reference(batch_folder, tmp_path):
    """A store without the notebook's run is bad input naming the fix."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "flowrec-references.json").write_text('{"flowrec_store": 1, "references": []}')
    with pytest.raises(BadInputError, match="no reference run of .* flowrec record"):
        check_notebook(batch_folder / "steady.ipynb", reference_store=store)
