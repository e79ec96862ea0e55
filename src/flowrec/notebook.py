"""Reading notebooks and the records saved in their outputs.

Records travel inside the .ipynb as display outputs of MIME type
:data:`~flowrec.record.MIME_TYPE`, so any front end, and papermill's output
notebook, saves them. This module finds them again, cell by cell, and
computes each cell's normalized output digest for comparison.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .errors import NotebookError, RecordFormatError
from .graph import FlowGraph
from .outputs import write_atomic
from .normalize import normalize_outputs, outputs_digest
from .record import MIME_TYPE, CellRecord, code_hash

log = logging.getLogger(__name__)

INJECTED_TAG = "injected-parameters"
# papermill adds markdown cells with this tag above a failed cell and at the top.
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
PARAMETERS_TAG = "parameters"
RAISES_TAG = "raises-exception"


@dataclass
class CellEntry:
    """A code cell of a notebook, with the record saved in its outputs, if any.

    ``index`` counts every cell of the notebook (markdown included) from 0,
    leaving out the cells that papermill adds (injected parameters, error
    banners), so that a cell has the same index in an input notebook and in
    papermill's output of it.
    """

    index: int
    source: str
    cell_id: str | None
    tags: list[str]
    execution_count: int | None
    record: CellRecord | None
    normalized_outputs: list[dict[str, Any]]
    outputs_digest: str
    normalizations: set[str] = field(default_factory=set)
    record_errors: list[str] = field(default_factory=list)
    error_output: dict[str, str] | None = None

    @property
    def code_hash(self) -> str:
        return code_hash(self.source)

    @property
    def code_changed(self) -> bool:
        """True when the cell was edited after the run its record describes."""
        return self.record is not None and self.record.code_hash != self.code_hash

    @property
    def is_parameters(self) -> bool:
        return PARAMETERS_TAG in self.tags

    @property
    def raises_expected(self) -> bool:
        return RAISES_TAG in self.tags


def read_notebook(path: str | os.PathLike[str]) -> nbformat.NotebookNode:
    """Read a notebook; raise NotebookError with a one-line reason when it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise NotebookError(f"notebook not found: {str(path)!r}; check the path")
    if path.is_dir():
        raise NotebookError(f"{str(path)!r} is a folder, not a notebook; give the path of a .ipynb file")
    if not path.is_file():
        raise NotebookError(f"{str(path)!r} is not a regular file, so it is not a notebook; "
                            "give the path of a .ipynb file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{str(path)!r} is not UTF-8 text, so it is not a Jupyter notebook") from None
    except OSError as error:
        raise NotebookError(f"cannot read {str(path)!r}: {error.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(
            f"{str(path)!r} is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg}), so it is not a Jupyter notebook"
        ) from None
    if isinstance(data, dict) and "nbformat" in data and data.get("nbformat") != 4:
        raise NotebookError(
            f"{str(path)!r} uses notebook format {data.get('nbformat')!r}; flowrec reads format 4 "
            "(open and save it in a current Jupyter to convert it)"
        )
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        raise NotebookError(
            f"{str(path)!r} is JSON but not a Jupyter notebook: it has no 'cells' and 'nbformat' keys"
        )
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises several unrelated types for bad structure
        raise NotebookError(f"{str(path)!r} is not a valid Jupyter notebook: {error}") from None
    return notebook


def write_notebook_atomic(notebook: nbformat.NotebookNode, path: str | os.PathLike[str]) -> None:
    """Write a notebook through a temporary file in the same folder, then rename it."""
    write_atomic(Path(path), lambda stream: nbformat.write(notebook, stream))


def kernel_name_of(notebook: nbformat.NotebookNode) -> str | None:
    """Return the kernel name in the notebook's metadata, or None when it names none."""
    spec = notebook.get("metadata", {}).get("kernelspec", {})
    name = spec.get("name") if isinstance(spec, dict) else None
    if name is not None and not isinstance(name, str):
        raise NotebookError(
            f"the notebook's kernelspec name {name!r} is not a kernel name; "
            "choose a kernel with --kernel"
        )
    return name


def cell_entries(notebook: nbformat.NotebookNode, rules: tuple = ()) -> list[CellEntry]:
    """Return the code cells of ``notebook`` with their saved records, in order."""
    entries: list[CellEntry] = []
    index = 0
    for cell in notebook.cells:
        tags = list(cell.get("metadata", {}).get("tags", []) or [])
        if INJECTED_TAG in tags or PAPERMILL_ERROR_TAG in tags:
            continue
        if cell.get("cell_type") == "code":
            entries.append(_entry(cell, index, tags, rules))
        index += 1
    return entries


def _entry(cell: Any, index: int, tags: list[str], rules: tuple = ()) -> CellEntry:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    outputs = list(cell.get("outputs", []))
    record: CellRecord | None = None
    errors: list[str] = []
    for output in outputs:
        data = output.get("data", {}) if isinstance(output, dict) else {}
        if MIME_TYPE not in data:
            continue
        payload = data[MIME_TYPE]
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except json.JSONDecodeError as error:
                errors.append(f"cell {index + 1}: record is not JSON: {error.msg}")
                continue
        try:
            # A cell run once has one record. If a front end kept several, the last wins.
            record = CellRecord.from_json(payload)
        except RecordFormatError as error:
            errors.append(f"cell {index + 1}: {error}")
    applied: set[str] = set()
    normalized = normalize_outputs(outputs, applied, rules)
    error_output = None
    for output in outputs:
        if output.get("output_type") == "error":
            error_output = {"ename": output.get("ename", ""), "evalue": output.get("evalue", "")}
    return CellEntry(
        index=index,
        source=source,
        cell_id=cell.get("id"),
        tags=tags,
        execution_count=cell.get("execution_count"),
        record=record,
        normalized_outputs=normalized,
        outputs_digest=outputs_digest(normalized),
        normalizations=applied,
        record_errors=errors,
        error_output=error_output,
    )


def flow_of(entries: list[CellEntry]) -> FlowGraph:
    """Build the flow graph of the records saved in a notebook, in notebook order."""
    recorded = [entry for entry in entries if entry.record is not None]
    return FlowGraph.from_records([entry.record for entry in recorded],  # type: ignore[misc]
                                  [entry.index + 1 for entry in recorded])


def flow_edges(entries: list[CellEntry]) -> list[dict[str, Any]]:
    """Return the flow's edges between cells, numbered from 1 as flowrec check numbers them."""
    graph = flow_of(entries)
    cells = {node.key: node.cell_index for node in graph.nodes}
    return [{"source": cells[edge.source], "target": cells[edge.target], "kind": edge.kind,
             "variables": list(edge.variables), "files": list(edge.files)}
            for edge in graph.edges]


def has_records(entries: list[CellEntry]) -> bool:
    return any(entry.record is not None for entry in entries)
