"""Shared fixtures: small real notebooks, executed on real kernels."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable

import nbformat
import pytest
from nbclient import NotebookClient

from flowrec.notebook import CellEntry, cell_entries

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "example_notebooks"



def new_notebook(cells: list) -> nbformat.NotebookNode:
    """Build a notebook from sources; a ``(source, tags)`` tuple adds cell tags."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    for spec in cells:
        source, tags = (spec, None) if isinstance(spec, str) else spec
        if source.startswith("#md "):
            notebook.cells.append(nbformat.v4.new_markdown_cell(source[4:]))
            continue
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = list(tags)
        notebook.cells.append(cell)
    return notebook


def execute_notebook(notebook: nbformat.NotebookNode, folder: Path,
                     allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run every cell on a real python3 kernel, as "Run All" in Jupyter would."""
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            allow_errors=allow_errors,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()
    return notebook


@pytest.fixture
def write_notebook(tmp_path: Path) -> Callable[..., Path]:
    """Write a notebook into the test's folder, optionally executed to carry records."""

    def write(cells: list, name: str = "flow.ipynb", execute: bool = False,
              allow_errors: bool = False) -> Path:
        notebook = new_notebook(cells)
        if execute:
            execute_notebook(notebook, tmp_path, allow_errors=allow_errors)
        path = tmp_path / name
        nbformat.write(notebook, path)
        return path

    return write


@pytest.fixture
def run_cells(tmp_path: Path) -> Callable[..., list[CellEntry]]:
    """Execute cells on a real kernel and return the cell entries with their records."""

    def run(cells: list, allow_errors: bool = True) -> list[CellEntry]:
        notebook = execute_notebook(new_notebook(cells), tmp_path, allow_errors=allow_errors)
        nbformat.write(notebook, tmp_path / "executed.ipynb")
        return cell_entries(notebook)

    return run


def launch_chromium(playwright):
    """Start Debian's headless Chromium through Playwright, never a browser Playwright downloads."""
    return playwright.chromium.launch(
        executable_path=shutil.which("chromium"),
        args=["--disable-gpu", "--disable-background-networking", "--no-first-run"])


@pytest.fixture
def python() -> str:
    return sys.executable


# Small real notebooks for batch tests, executed once per session: a seeded
# one with a parameters cell, one without parameters, and one that draws
# without a seed, so it never reproduces.
BATCH_NOTEBOOKS = {
    "seeded.ipynb": [
        "%load_ext flowrec",
        ("seed = 0\nsize = 5", ["parameters"]),
        "%%flow_stage draw\nimport numpy as np\nvalues = np.random.default_rng(seed).random(size)",
        "%%flow_stage total\ntotal = float(values.sum())",
    ],
    "steady.ipynb": ["%load_ext flowrec", "%%flow_stage one\nx = 1", "%%flow_stage two\ny = x + 1"],
    "unseeded.ipynb": [
        "%load_ext flowrec",
        "%%flow_stage draw\nimport random\ndraws = [random.random() for _ in range(3)]",
        "%%flow_stage count\ncount = len(draws)",
    ],
}


@pytest.fixture(scope="session")
def executed_batch(tmp_path_factory) -> Path:
    """Return a folder of the batch notebooks, each executed once so it carries records."""
    folder = tmp_path_factory.mktemp("batch-notebooks")
    for name, cells in BATCH_NOTEBOOKS.items():
        notebook = execute_notebook(new_notebook(cells), folder)
        nbformat.write(notebook, folder / name)
    return folder


@pytest.fixture
def batch_folder(executed_batch: Path, tmp_path: Path) -> Path:
    """Return a fresh copy of the executed batch notebooks in the test's own folder."""
    import shutil

    folder = tmp_path / "notebooks"
    shutil.copytree(executed_batch, folder)
    return folder
