"""Reference stores: runs recorded by ``flowrec record`` for later checks to compare with.

A store is a folder holding executed notebooks (papermill outputs with
their flowrec records) and a manifest, ``flowrec-references.json``, with
one entry per notebook and parameter set::

    {"flowrec_store": 1, "references": [
        {"notebook": "analysis/model.ipynb", "parameters": {"seed": 1},
         "parameter_set": "seed=1", "file": "analysis/model.seed=1.ipynb",
         "recorded_at": "2025-01-31T02:00:00+00:00", "kernel": "python3",
         "duration": 12.5, "environment": {"python": "3.11.7", ...}}]}

Notebooks are keyed by their path relative to the current folder (the
absolute path for a notebook outside it), so record and check from the same
folder, such as a repository's root in CI. A notebook is never matched by
its file name alone: another notebook of the same name is another notebook.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import __version__, grid
from .batch import BAD_INPUT, FAILED, RECORDED, Job, Outcome, guarded, named_file
from .check import (
    DEFAULT_KERNEL,
    CheckOptions,
    ProgressCallback,
    Runner,
    check_kernel,
    check_parameters,
    check_recorded,
    check_started,
    is_check_output,
    progress_hook,
    runs_here,
)
from .diagnose import recorded_environment
from .errors import BadInputError
from .notebook import cell_entries, kernel_name_of, read_notebook
from .outputs import check_output_path, write_text_atomic

log = logging.getLogger(__name__)

MANIFEST_NAME = "flowrec-references.json"
STORE_VERSION = 1


def notebook_key(path: Path) -> str:
    """Return the store's key for a notebook: its path relative to the current folder."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


class ReferenceStore:
    """A folder of recorded runs and its manifest."""

    def __init__(self, folder: Path, references: list[dict[str, Any]]) -> None:
        self.folder = folder
        self.references = references

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST_NAME

    @classmethod
    def open(cls, folder: Path) -> ReferenceStore:
        """Open an existing store for checking; raise BadInputError when it is not one."""
        if not folder.is_dir():
            raise BadInputError(
                f"reference store {str(folder)!r} is not a folder; record references into it "
                "first with flowrec record PATH... --store FOLDER")
        manifest = folder / MANIFEST_NAME
        if not manifest.exists():
            raise BadInputError(
                f"{str(folder)!r} is not a flowrec reference store: it has no {MANIFEST_NAME}; "
                "record references into it first with flowrec record PATH... --store FOLDER")
        return cls(folder, _read_manifest(manifest))

    @classmethod
    def open_for_recording(cls, folder: Path) -> ReferenceStore:
        """Open a store, creating the folder when missing; never write into a user's folder."""
        if folder.exists() and not folder.is_dir():
            raise BadInputError(f"--store {str(folder)!r} is a file; give a folder")
        manifest = folder / MANIFEST_NAME
        if manifest.exists():
            return cls(folder, _read_manifest(manifest))
        if folder.is_dir() and any(folder.iterdir()):
            raise BadInputError(
                f"--store {str(folder)!r} is a folder with other files and no {MANIFEST_NAME}; "
                "give an empty or new folder, or an existing reference store")
        if not folder.parent.is_dir():
            raise BadInputError(
                f"--store {str(folder)!r} cannot be created: its parent folder does not exist")
        folder.mkdir(exist_ok=True)
        return cls(folder, [])

    def path_for(self, notebook: Path, parameters: dict[str, Any]) -> Path:
        """Return where the run of ``notebook`` with ``parameters`` is stored."""
        return named_file(self.folder, notebook_key(notebook).lstrip("/"), parameters, ".ipynb")

    def find(self, notebook: Path, parameters: dict[str, Any]) -> dict[str, Any]:
        """Return the entry for ``notebook`` and ``parameters``; raise BadInputError when none."""
        key = notebook_key(notebook)
        expected = grid.canonical(parameters)
        matches = [entry for entry in self.references
                   if entry["notebook"] == key and grid.canonical(entry["parameters"]) == expected]
        if not matches:
            raise BadInputError(self._missing(notebook, key, parameters))
        entry = matches[0]
        if not (self.folder / entry["file"]).is_file():
            raise BadInputError(
                f"the reference run of {key!r} with {grid.describe(parameters)} is listed in "
                f"{str(self.manifest)!r} but its file {entry['file']!r} is missing; record it "
                "again with flowrec record")
        return entry

    def _missing(self, notebook: Path, key: str, parameters: dict[str, Any]) -> str:
        stored = sorted(grid.label(entry["parameters"]) for entry in self.references
                        if entry["notebook"] == key)
        message = (f"no reference run of {key!r} with {grid.describe(parameters)} in "
                   f"store {str(self.folder)!r}")
        if stored:
            message += f" (stored sets: {'; '.join(stored)})"
        return (message + f"; record it with flowrec record {str(notebook)!r} --store "
                f"{str(self.folder)!r}, with the same --grid and -p")

    def reference_options(self, options: CheckOptions) -> CheckOptions:
        """Return ``options`` set to compare with the run stored for its notebook and parameters."""
        entry = self.find(options.notebook, options.parameters)
        path = self.folder / entry["file"]
        description = f"the run stored in {path} (recorded {entry.get('recorded_at', 'at an unknown time')})"
        return replace(options, reference_notebook=path, reference_description=description,
                       fresh_reference=False)

    def add(self, outcome: Outcome) -> None:
        """Add a recorded run, replacing the entry of the same notebook and parameters."""
        assert outcome.stored is not None and outcome.job.store_path is not None
        entry = {**outcome.stored,
                 "file": outcome.job.store_path.relative_to(self.folder).as_posix()}
        outcome.stored = entry
        expected = grid.canonical(entry["parameters"])
        self.references = [other for other in self.references
                           if not (other["notebook"] == entry["notebook"]
                                   and grid.canonical(other["parameters"]) == expected)]
        self.references.append(entry)

    def save(self) -> None:
        """Write the manifest atomically.

        NOTE: two ``flowrec record`` commands writing into one store at once
        each write the manifest they read at their start plus their own runs,
        so the last to finish drops the other's new entries.
        """
        ordered = sorted(self.references,
                         key=lambda entry: (entry["notebook"], grid.canonical(entry["parameters"])))
        payload = {"flowrec_store": STORE_VERSION, "references": ordered}
        write_text_atomic(self.manifest, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInputError(f"cannot read reference store manifest {str(path)!r}: {error}") from None
    if not isinstance(data, dict) or data.get("flowrec_store") != STORE_VERSION:
        raise BadInputError(
            f"{str(path)!r} is not a manifest of flowrec reference store version "
            f"{STORE_VERSION}; record the references again into a new folder")
    references = data.get("references")
    if not isinstance(references, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("notebook"), str)
            and isinstance(entry.get("parameters"), dict) and isinstance(entry.get("file"), str)
            for entry in references):
        raise BadInputError(f"{str(path)!r} has malformed entries; record the references again")
    return references


def assign_store_paths(jobs: list[Job], store: ReferenceStore, inputs: list[Path]) -> None:
    """Give each job the file it is recorded into; reject files that are not flowrec's."""
    for job in jobs:
        if job.problem is not None:
            continue
        path = store.path_for(job.notebook, job.parameters)
        if path.parent.is_dir():  # else created when the run is stored
            check_output_path(path, "--store", inputs, is_check_output, ".ipynb")
        job.store_path = path


def assign_references(jobs: list[Job], store: ReferenceStore) -> None:
    """Point each job at its stored reference; a missing one makes that job bad input."""
    for job in jobs:
        if job.problem is not None:
            continue
        try:
            job.options = store.reference_options(job.options)
        except BadInputError as error:
            job.problem = str(error)


def record_job(job: Job, runner: Runner, progress: ProgressCallback) -> Outcome:
    """Execute one job and store its run; a run that stopped with an error is not stored."""
    if job.problem is not None:
        return Outcome(job, BAD_INPUT, error=job.problem)
    return guarded(job, lambda: _record(job, runner, progress))


def _record(job: Job, runner: Runner, progress: ProgressCallback) -> Outcome:
    assert job.store_path is not None
    options = job.options
    notebook = read_notebook(job.notebook)
    check_parameters(job.notebook, cell_entries(notebook), job.parameters)
    kernel = options.kernel or kernel_name_of(notebook) or DEFAULT_KERNEL
    if runs_here(runner):
        check_kernel(kernel)
    store_folder = job.store_path.parent
    store_folder.mkdir(parents=True, exist_ok=True)
    # A scratch folder beside the stored file lets the finished run be renamed into place.
    with tempfile.TemporaryDirectory(prefix=".flowrec-record-", dir=store_folder) as scratch:
        scratch_path = Path(scratch) / job.store_path.name
        progress("reference run", "starting")
        execution = runner(job.notebook.resolve(), scratch_path, job.parameters, kernel,
                           options.timeout, on_cell_start=progress_hook(progress, "reference run"))
        check_started(kernel, execution)
        entries = cell_entries(execution.notebook)
        check_recorded(kernel, entries)
        if execution.error:
            return Outcome(job, FAILED, error=f"the run stopped: {execution.error}; nothing "
                                              "was stored")
        os.replace(scratch_path, job.store_path)
    environment = recorded_environment(entries)
    entry = {
        "notebook": notebook_key(job.notebook),
        "parameters": job.parameters,
        "parameter_set": job.parameter_set,
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "kernel": kernel,
        "duration": round(execution.duration, 3),
        "environment": {
            "flowrec": __version__,
            **{key: environment.get(key) for key in ("python", "implementation", "platform",
                                                     "machine")},
            "packages": environment.get("packages", {}),
        },
    }
    return Outcome(job, RECORDED, stored=entry)
