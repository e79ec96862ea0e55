"""Batches of checks: notebooks found under paths, run once per parameter set.

A batch is planned first: folders are searched for notebooks, each notebook
gets the parameter sets its parameters cell can take (see :mod:`flowrec.grid`),
and each pair becomes a :class:`Job` with its output paths and reference.
A problem with one notebook (unreadable, missing reference, ...) becomes a
job that is reported as bad input without running; the others still run.

Jobs then run in parallel (:mod:`flowrec.jobs`), and every comparison and
report is made in this process.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from . import grid
from .check import (
    CheckOptions,
    CheckResult,
    ProgressCallback,
    Runner,
    declared_parameters,
    is_check_output,
    run_check,
)
from .diagnose import parameter_defaults
from .errors import BadInputError, FlowrecError
from .execute import file_written_by_flowrec
from .notebook import cell_entries, read_notebook
from .outputs import check_output_path

log = logging.getLogger(__name__)

# Folders never searched: Jupyter's autosaves, caches, installed packages.
# Hidden folders (name starting with a dot) and virtual environments (a
# folder with pyvenv.cfg) are skipped too.
SKIPPED_FOLDERS = frozenset({".ipynb_checkpoints", "__pycache__", "node_modules",
                             "site-packages"})

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
RECORDED = "recorded"
BAD_INPUT = "bad input"
# The check could not finish for a reason outside the notebook: a cluster
# that lost its workers, an unexpected error. Never counted as reproduced.
FAILED = "failed"


@dataclass
class Job:
    """One notebook with one parameter set, ready to run or already known to be bad input."""

    number: int
    notebook: Path
    name: str
    parameters: dict[str, Any]
    options: CheckOptions
    problem: str | None = None
    html_page: Path | None = None
    # Where ``flowrec record`` stores this run.
    store_path: Path | None = None

    @property
    def parameter_set(self) -> str:
        return grid.label(self.parameters)

    @property
    def title(self) -> str:
        """Return the notebook's name, with the parameter set unless it is the defaults."""
        if not self.parameters:
            return self.name
        return f"{self.name} [{self.parameter_set}]"


@dataclass
class Outcome:
    """The result of one job: its status, time, check result or error."""

    job: Job
    status: str
    seconds: float = 0.0
    result: CheckResult | None = None
    error: str | None = None
    # For ``flowrec record``: the manifest entry of the stored run.
    stored: dict[str, Any] | None = None

    @property
    def bad_input(self) -> bool:
        return self.status == BAD_INPUT


# A unit of work: runs one job with a runner and reports progress.
Work = Callable[[Job, Runner, ProgressCallback], Outcome]


@dataclass
class Plan:
    """The jobs of a batch and the notebooks they came from."""

    jobs: list[Job]
    notebooks: list[Path] = field(default_factory=list)


def find_notebooks(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Return the notebooks named or found under ``paths``, and the paths that gave none.

    A folder is searched recursively in name order, leaving out the folders
    in :data:`SKIPPED_FOLDERS`, hidden ones, virtual environments, and the
    executed notebooks that flowrec itself wrote. A notebook named directly
    is always kept, even one flowrec wrote.
    """
    found: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            inside = list(_search(path))
            if not inside:
                problems.append((path, f"{str(path)!r} is a folder, not a notebook, and no "
                                       "notebooks (.ipynb files) were found under it"))
            found.extend(inside)
        elif path.exists():
            found.append(path)
        else:
            problems.append((path, f"notebook not found: {str(path)!r}; check the path"))
    distinct: dict[Path, Path] = {}
    for path in found:
        distinct.setdefault(path.resolve(), path)
    return list(distinct.values()), problems


def _search(folder: Path):
    for root, folders, files in os.walk(folder):
        here = Path(root)
        folders[:] = sorted(name for name in folders if not _skipped_folder(here / name))
        for name in sorted(files):
            if not name.endswith(".ipynb") or name.startswith("."):
                continue
            path = here / name
            if file_written_by_flowrec(path):
                log.info("skipping %s: flowrec wrote it (an executed notebook)", path)
                continue
            yield path


def _skipped_folder(path: Path) -> bool:
    name = path.name
    return (name in SKIPPED_FOLDERS or name.startswith(".")
            or (path / "pyvenv.cfg").exists())


def relative_names(notebooks: list[Path]) -> dict[Path, str]:
    """Name each notebook by its path below the folder that contains them all."""
    if not notebooks:
        return {}
    resolved = [path.resolve() for path in notebooks]
    base = Path(os.path.commonpath([path.parent for path in resolved]))
    return {path: resolved_path.relative_to(base).as_posix()
            for path, resolved_path in zip(notebooks, resolved)}


def named_file(folder: Path, name: str, parameters: dict[str, Any], suffix: str) -> Path:
    """Return ``folder/NAME.SET.suffix``: the notebook's relative name with its parameter set."""
    relative = Path(name)
    stem = relative.name.removesuffix(".ipynb")
    part = grid.slug(parameters)
    file_name = f"{stem}.{part}{suffix}" if part else f"{stem}{suffix}"
    return folder / relative.parent / file_name


def plan(paths: list[Path], options: CheckOptions, sets: list[dict[str, Any]] | None,
         fixed: dict[str, Any]) -> Plan:
    """Find the notebooks and give each the parameter sets it can take.

    ``sets`` is the grid (None without ``--grid``) and ``fixed`` the ``-p``
    values. A notebook takes the names its parameters cell assigns. A name
    that no notebook takes is bad input for the whole batch, because it is
    most likely misspelled.
    """
    notebooks, problems = find_notebooks(paths)
    if not notebooks:
        raise BadInputError(problems[0][1] if problems else "no notebooks given")
    names = relative_names(notebooks)
    requested = grid.with_fixed(sets if sets is not None else [{}], fixed)
    jobs: list[Job] = []
    taken: set[str] = set()
    for path, message in problems:
        jobs.append(Job(len(jobs) + 1, path, str(path), {}, options, problem=message))
    for path in notebooks:
        try:
            entries = cell_entries(read_notebook(path))
        except BadInputError as error:
            jobs.append(Job(len(jobs) + 1, path, names[path], {}, options, problem=str(error)))
            continue
        declared = declared_parameters(entries)
        taken |= declared or set()
        defaults = parameter_defaults(entries)
        for parameters in grid.restrict(requested, declared):
            fresh = sets is not None and not _matches_defaults(parameters, defaults)
            job_options = replace(options, notebook=path, parameters=parameters,
                                  fresh_reference=fresh)
            jobs.append(Job(len(jobs) + 1, path, names[path], parameters, job_options))
    unused = sorted({name for values in requested for name in values} - taken)
    if unused:
        raise BadInputError(
            f"parameter {unused[0]!r} is assigned by the parameters cell of none of the "
            f"{len(notebooks)} notebook(s); check its spelling, or tag the cell that assigns "
            "it with 'parameters'")
    return Plan(jobs, notebooks)


def _matches_defaults(parameters: dict[str, Any], defaults: dict[str, Any]) -> bool:
    """True when the saved records were made with these values: each is the cell's default."""
    return all(name in defaults and defaults[name] == value
               for name, value in parameters.items())


def assign_outputs(batch: Plan, output_dir: Path | None, html_index: Path | None) -> None:
    """Give each job its executed notebook path and report page; reject paths that are taken.

    Paths are checked before anything runs: none may be an input notebook
    or a file flowrec did not write.
    """
    inputs = list(batch.notebooks)
    if output_dir is not None:
        if output_dir.exists() and not output_dir.is_dir():
            raise BadInputError(f"--output-dir {str(output_dir)!r} is a file; give a folder")
        if not output_dir.parent.is_dir():
            raise BadInputError(
                f"--output-dir {str(output_dir)!r} cannot be created: its parent folder does "
                "not exist")
    for job in batch.jobs:
        if job.problem is not None:
            continue
        if output_dir is not None:
            path = named_file(output_dir, job.name, job.parameters, ".ipynb")
            path.parent.mkdir(parents=True, exist_ok=True)
            check_output_path(path, "--output-dir", inputs, is_check_output, ".ipynb")
            job.options = replace(job.options, output=path)
        if html_index is not None:
            from .html_report import is_flowrec_html

            page = named_file(html_index.parent, job.name, job.parameters, ".html")
            page.parent.mkdir(parents=True, exist_ok=True)
            check_output_path(page, "--html", inputs + [html_index], is_flowrec_html, ".html")
            job.html_page = page


def check_job(job: Job, runner: Runner, progress: ProgressCallback) -> Outcome:
    """Run the check of one job; every error becomes its outcome, never an exception."""
    if job.problem is not None:
        return Outcome(job, BAD_INPUT, error=job.problem)
    options = replace(job.options, runner=runner, progress=progress)
    return guarded(job, lambda: _checked(job, run_check(options)))


def _checked(job: Job, result: CheckResult) -> Outcome:
    return Outcome(job, REPRODUCED if result.reproduced else NOT_REPRODUCED, result=result)


def guarded(job: Job, work: Callable[[], Outcome]) -> Outcome:
    """Run ``work`` and turn what it raises into a bad-input or failed outcome."""
    start = time.perf_counter()
    try:
        outcome = work()
    except BadInputError as error:
        outcome = Outcome(job, BAD_INPUT, error=str(error))
    except FlowrecError as error:
        outcome = Outcome(job, FAILED, error=str(error))
    except Exception as error:  # one notebook's crash must not stop the batch
        log.error("%s: unexpected %s: %s", job.title, type(error).__name__, error)
        log.debug("traceback of the failure in %s", job.title, exc_info=True)
        outcome = Outcome(job, FAILED, error=f"unexpected {type(error).__name__}: {error}")
    outcome.seconds = time.perf_counter() - start
    return outcome


def exit_status(outcomes: list[Outcome]) -> int:
    """Return 2 when any input was bad, else 1 when any job did not succeed, else 0."""
    if any(outcome.bad_input for outcome in outcomes):
        return 2
    if any(outcome.status not in (REPRODUCED, RECORDED) for outcome in outcomes):
        return 1
    return 0


def check_notebook(notebook: Path, parameters: dict[str, Any] | None = None,
                   reference_store: Path | None = None, *, kernel: str | None = None,
                   timeout: float | None = None, rtol: float | None = None,
                   atol: float | None = None, normalize: tuple[str, ...] = (), runs: int = 1,
                   hash_seeds: bool = False, output: Path | None = None,
                   runner: Runner | None = None) -> CheckResult:
    """Check one notebook with one parameter set and return its result.

    With ``reference_store`` (a folder written by ``flowrec record``) the
    new run is compared with the run stored for this notebook and set. Else
    the records saved in the notebook are the reference when the set gives
    every parameter its default value, and a first run with the set when it
    does not. Raises BadInputError for inputs that cannot be used, including
    a missing stored reference.
    """
    from .compare import DEFAULT_ATOL, DEFAULT_RTOL

    notebook = Path(notebook)
    values = dict(parameters or {})
    options = CheckOptions(notebook=notebook, parameters=values, output=output, kernel=kernel,
                           timeout=timeout, rtol=DEFAULT_RTOL if rtol is None else rtol,
                           atol=DEFAULT_ATOL if atol is None else atol,
                           normalize=list(normalize), runs=runs, hash_seeds=hash_seeds,
                           runner=runner)
    if reference_store is not None:
        from .store import ReferenceStore

        store = ReferenceStore.open(Path(reference_store))
        options = store.reference_options(options)
    elif values:
        entries = cell_entries(read_notebook(notebook))
        options.fresh_reference = not _matches_defaults(values, parameter_defaults(entries))
    return run_check(options)
