"""Reading notebooks and the records saved in them."""

from __future__ import annotations

import os

import nbformat
import pytest

from flowrec.errors import NotebookError
from flowrec.notebook import cell_entries, read_notebook, write_notebook_atomic
from flowrec.record import MIME_TYPE, CellRecord


def test_read_errors(tmp_path):
    """Each unusable file gets its own message."""
    with pytest.raises(NotebookError, match="notebook not found"):
        read_notebook(tmp_path / "missing.ipynb")
    pipe = tmp_path / "pipe.ipynb"
    os.mkfifo(pipe)
    with pytest.raises(NotebookError, match="is not a regular file"):
        read_notebook(pipe)  # reading a pipe with no writer would wait for ever
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": 3}')
    with pytest.raises(NotebookError, match="is not a valid Jupyter notebook"):
        read_notebook(bad)


def test_entries_skip_papermill_cells():
    """Cells papermill adds do not shift the indices of the others."""
    notebook = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell("n = 5")
    injected.metadata["tags"] = ["injected-parameters"]
    banner = nbformat.v4.new_markdown_cell("error here")
    banner.metadata["tags"] = ["papermill-error-cell-tag"]
    notebook.cells = [nbformat.v4.new_markdown_cell("# title"), banner, injected,
                      nbformat.v4.new_code_cell("x = n")]
    entries = cell_entries(notebook)
    assert [(entry.index, entry.source) for entry in entries] == [(1, "x = n")]


def test_record_found_and_code_change_detected():
    """The saved record is read back, and an edit after the run is noticed."""
    record = CellRecord(session="s", execution_count=1, code_hash="", started_at="t", duration=0.0)
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    from flowrec.record import code_hash

    record.code_hash = code_hash("x = 1")
    cell.outputs = [nbformat.v4.new_output("display_data", data={MIME_TYPE: record.to_json()})]
    notebook.cells = [cell]
    entry = cell_entries(notebook)[0]
    assert entry.record.code_hash == record.code_hash
    assert not entry.code_changed
    cell.source = "x = 2"
    assert cell_entries(notebook)[0].code_changed


def test_atomic_write(tmp_path):
    """An atomic write leaves the notebook and no temporary file."""
    path = tmp_path / "out.ipynb"
    write_notebook_atomic(nbformat.v4.new_notebook(), path)
    assert read_notebook(path).cells == []
    assert [p.name for p in tmp_path.iterdir()] == ["out.ipynb"]
