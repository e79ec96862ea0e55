"""``flowrec check``: re-execute a notebook and judge every stage.

Steps: validate the inputs (notebook, parameters, kernel, output path), then
take the reference from the records saved in the notebook, from a run stored
by ``flowrec record``, or from a first papermill run. Then run it again with
papermill and compare the two runs cell by cell.

Every papermill run goes through a runner with the signature of
:func:`flowrec.execute.execute`, so a batch can send runs to a Dask cluster
while the comparison stays here.
"""

from __future__ import annotations

import ast
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .compare import DEFAULT_ATOL, DEFAULT_RTOL, Comparison, Verdict, compare_runs
from .diagnose import (
    diagnose,
    overwritten_parameters,
    parameter_changes,
    reference_warnings,
)
from .errors import BadInputError, NotebookError
from .execute import CellStartHook, Execution, execute, written_by_flowrec
from .hashing import ENCODING_VERSION
from .normalize import notebook_rules, user_rule
from .outputs import check_output_path, is_flowrec_report
from .notebook import (
    INJECTED_TAG,
    PAPERMILL_ERROR_TAG,
    PARAMETERS_TAG,
    CellEntry,
    cell_entries,
    flow_edges,
    has_records,
    kernel_name_of,
    read_notebook,
)
from .stage_line import StageLineError, parse_stage_cell

log = logging.getLogger(__name__)

DEFAULT_KERNEL = "python3"

# The signature of :func:`flowrec.execute.execute`: input, output, parameters,
# kernel, timeout, then the keyword arguments environment and on_cell_start.
Runner = Callable[..., Execution]
# Called when a run reaches a cell: the run ("reference run", "re-run", ...)
# and the cell's stage name, or "cell N" for an unnamed step.
ProgressCallback = Callable[[str, str], None]


@dataclass
class CheckOptions:
    """Options of one ``flowrec check`` run, as given on the command line."""

    notebook: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    output: Path | None = None
    kernel: str | None = None
    timeout: float | None = None
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    json_path: Path | None = None
    junit_path: Path | None = None
    html_path: Path | None = None
    normalize: list[str] = field(default_factory=list)
    runs: int = 1
    hash_seeds: bool = False
    # An executed notebook stored by ``flowrec record`` to compare with,
    # instead of the records saved in the notebook.
    reference_notebook: Path | None = None
    reference_description: str | None = None
    # Ignore the saved records and take a first run as the reference: for
    # parameter sets that the saved records were not made with.
    fresh_reference: bool = False
    runner: Runner | None = None
    progress: ProgressCallback | None = None


@dataclass
class CheckResult:
    """The comparison and where its runs came from."""

    notebook: Path
    reference_source: str
    comparison: Comparison
    output_path: Path | None
    kernel: str
    parameters: dict[str, Any]
    execution_error: str | None
    duration: float
    record_errors: list[str]
    environment_changes: list[str] = field(default_factory=list)
    # Reported even when everything reproduced: an untrustworthy reference, unused parameters.
    warnings: list[str] = field(default_factory=list)
    # The reference's flow: which cell passed which variables and files to which.
    edges: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        """True when every cell reproduced, the run finished, and every reference record was readable."""
        return (self.comparison.reproduced and self.execution_error is None
                and not self.record_errors)

    def to_json(self) -> dict[str, Any]:
        return {
            "notebook": str(self.notebook),
            "reference": self.reference_source,
            "output": str(self.output_path) if self.output_path else None,
            "kernel": self.kernel,
            "parameters": self.parameters,
            "execution_error": self.execution_error,
            "duration": round(self.duration, 3),
            "record_errors": self.record_errors,
            "environment_changes": self.environment_changes,
            "warnings": self.warnings,
            "edges": self.edges,
            **self.comparison.to_json(),
            "reproduced": self.reproduced,
        }


def run_check(options: CheckOptions) -> CheckResult:
    """Check one notebook; raise BadInputError for inputs that cannot be used."""
    notebook_path = options.notebook
    notebook = read_notebook(notebook_path)
    rules = _normalization_rules(notebook, options.normalize)
    entries = cell_entries(notebook, rules)
    check_parameters(notebook_path, entries, options.parameters)
    kernel = options.kernel or kernel_name_of(notebook) or DEFAULT_KERNEL
    runner = options.runner or execute
    if runs_here(runner):
        check_kernel(kernel)
    output_path = _check_outputs(options)
    record_errors = [error for entry in entries for error in entry.record_errors]

    def run(phase: str, into: Path, environment: dict[str, str] | None = None) -> Execution:
        hook = progress_hook(options.progress, phase) if options.progress else None
        if options.progress:
            options.progress(phase, "starting")
        return runner(notebook_path.resolve(), into, options.parameters, kernel, options.timeout,
                      environment=environment, on_cell_start=hook)

    with tempfile.TemporaryDirectory(prefix="flowrec-check-") as scratch:
        scratch_dir = Path(scratch)
        run_path = output_path or scratch_dir / notebook_path.name
        outdated = _outdated_encoding(entries)
        saved_reference = (has_records(entries) and outdated is None
                           and options.reference_notebook is None and not options.fresh_reference)
        if options.reference_notebook is not None:
            reference_entries = _stored_reference(options.reference_notebook, entries, rules)
            reference_source = (options.reference_description
                                or f"the run stored in {options.reference_notebook}")
            # The notebook's own records are not used, so only the stored run's count.
            record_errors = [error for entry in reference_entries for error in entry.record_errors]
            duration = 0.0
        elif saved_reference:
            reference_entries = entries
            reference_source = "records saved in the notebook"
            duration = 0.0
        else:
            log.info("%s: running it twice, because %s", notebook_path,
                     "the parameters differ from the saved records'" if options.fresh_reference
                     else "it has no usable flowrec records")
            first = run("reference run", scratch_dir / f"reference-{notebook_path.name}")
            check_started(kernel, first)
            reference_entries = cell_entries(first.notebook, rules)
            reference_source = _first_run_source(options, outdated)
            duration = first.duration

        log.info("reference: %s", reference_source)
        rerun = run("re-run", run_path)
        check_started(kernel, rerun)
        rerun_entries = cell_entries(rerun.notebook, rules)
        check_recorded(kernel, rerun_entries)
        # A first run or a stored run had the same parameters as the re-run; only the
        # saved records can have been made with other values.
        differing = options.parameters if saved_reference else {}
        changed = frozenset(parameter_changes(reference_entries, differing))
        comparison = compare_runs(reference_entries, rerun_entries, options.rtol, options.atol,
                                  rerun.stopped_at, rerun.error, changed)
        environment = diagnose(comparison, reference_entries, rerun_entries, differing)
        warnings = overwritten_parameters(rerun_entries)
        if saved_reference:
            warnings = reference_warnings(entries) + warnings
        for number in range(2, options.runs + 1):
            extra = run(f"run {number}", scratch_dir / f"run-{number}.ipynb")
            duration += extra.duration
            extra_entries = cell_entries(extra.notebook, rules) if extra.notebook else []
            _count_agreement(comparison, compare_runs(
                reference_entries, extra_entries, options.rtol, options.atol, extra.stopped_at,
                extra.error, changed))
        if options.runs > 1:
            _flag_flaky(comparison)
        if options.hash_seeds:
            duration += _confirm_hash_seed(comparison, run, scratch_dir, options, rules)
    return CheckResult(
        notebook=notebook_path,
        reference_source=reference_source,
        comparison=comparison,
        output_path=output_path,
        kernel=kernel,
        parameters=options.parameters,
        execution_error=rerun.error,
        duration=duration + rerun.duration,
        record_errors=record_errors,
        environment_changes=environment,
        warnings=warnings,
        edges=flow_edges(reference_entries),
    )


def _first_run_source(options: CheckOptions, outdated: int | None) -> str:
    """Describe why a first run is the reference."""
    if outdated is not None:
        return (f"a first run (the saved records use fingerprint encoding {outdated}, this "
                f"flowrec uses {ENCODING_VERSION}; run and save the notebook to refresh them)")
    if options.fresh_reference:
        return "a first run with these parameters (the saved records were made with others)"
    return "a first run (the notebook had no saved records)"


def _stored_reference(path: Path, entries: list[CellEntry], rules: tuple) -> list[CellEntry]:
    """Read a stored reference run, with the current notebook's cell sources.

    The stored run keeps the sources it ran, so its records always match
    them. Taking the sources of the notebook being checked instead lets the
    comparison see cells edited since the reference was recorded.
    """
    stored = cell_entries(read_notebook(path), rules)
    outdated = _outdated_encoding(stored)
    if outdated is not None:
        raise BadInputError(
            f"the reference run {str(path)!r} uses fingerprint encoding {outdated} and this "
            f"flowrec uses {ENCODING_VERSION}; record it again with flowrec record")
    current = {entry.index: entry.source for entry in entries}
    for entry in stored:
        if entry.index in current:
            entry.source = current[entry.index]
    return stored


def progress_hook(progress: ProgressCallback, phase: str) -> CellStartHook:
    """Turn nbclient's cell start events into (phase, stage or cell) progress calls."""
    added = 0  # cells papermill inserted before this one: injected parameters, error banners

    def hook(index: int, cell: Any) -> None:
        nonlocal added
        tags = cell.get("metadata", {}).get("tags", []) or []
        if INJECTED_TAG in tags or PAPERMILL_ERROR_TAG in tags:
            added += 1
            return
        label = f"cell {index - added + 1}"
        try:
            stage = parse_stage_cell(cell.get("source", ""))
        except StageLineError:
            stage = None
        progress(phase, stage.name if stage is not None else label)

    return hook


def _count_agreement(primary: Comparison, extra: Comparison) -> None:
    """Count, per cell, the runs that reproduced the reference."""
    verdicts = {stage.cell: stage.verdict for stage in extra.stages}
    for stage in primary.stages:
        if stage.runs == 0:
            stage.runs, stage.agreed = 1, int(stage.verdict.reproduced)
        stage.runs += 1
        verdict = verdicts.get(stage.cell)
        stage.agreed += int(verdict is not None and verdict.reproduced)


def _flag_flaky(comparison: Comparison) -> None:
    """Turn a cell that reproduced in only some of the runs into a divergence."""
    for stage in comparison.stages:
        if stage.runs > 1 and stage.agreed < stage.runs and stage.verdict.reproduced:
            stage.verdict = Verdict.DIVERGED
            stage.root = True
            stage.reason = (f"flaky: reproduced in {stage.agreed} of {stage.runs} runs; "
                            f"{stage.reason}")


HASH_SEEDS = ("0", "0", "1")


def _confirm_hash_seed(comparison: Comparison, run: Callable[..., Execution], scratch: Path,
                       options: CheckOptions, rules: tuple) -> float:
    """Name the cells that agree under one hash seed but differ under another.

    Two runs under ``PYTHONHASHSEED=0`` show which cells vary anyway, such as
    random draws and clock readings. A cell is confirmed to depend on the
    seed only when those two runs agree and a run under ``PYTHONHASHSEED=1``
    differs.
    """
    runs = []
    duration = 0.0
    for seed in HASH_SEEDS:
        execution = run(f"PYTHONHASHSEED={seed} run", scratch / f"hashseed-{len(runs)}.ipynb",
                        {"PYTHONHASHSEED": seed})
        duration += execution.duration
        runs.append(cell_entries(execution.notebook, rules) if execution.notebook else [])
    same_seed = compare_runs(runs[0], runs[1], options.rtol, options.atol)
    varying = {stage.cell for stage in same_seed.stages if not stage.verdict.reproduced}
    other_seed = compare_runs(runs[0], runs[2], options.rtol, options.atol)
    differing = {stage.cell for stage in other_seed.stages
                 if stage.verdict is Verdict.DIVERGED and stage.root and stage.cell not in varying}
    for stage in comparison.stages:
        if stage.cell in differing:
            cause = ("confirmed hash-seed dependence: two runs under PYTHONHASHSEED=0 agree, "
                     "a run under PYTHONHASHSEED=1 differs")
            stage.causes = [cause] + [c for c in stage.causes if c != "no cause found in the records"]
    return duration


def _normalization_rules(notebook: Any, patterns: list[str]) -> tuple:
    """Return the notebook's own normalization rules and those given with --normalize."""
    try:
        rules = list(notebook_rules(notebook.get("metadata", {})))
        rules += [user_rule(pattern, origin=" given with --normalize") for pattern in patterns]
    except ValueError as error:
        raise BadInputError(str(error)) from None
    return tuple(rules)


def _outdated_encoding(entries: list) -> int | None:
    """Return the fingerprint encoding of saved records made by another flowrec, if any."""
    for entry in entries:
        if entry.record is not None and entry.record.encoding != ENCODING_VERSION:
            return entry.record.encoding
    return None


def declared_parameters(entries: list[CellEntry]) -> set[str] | None:
    """Return the names the cell tagged ``parameters`` assigns.

    Returns None when no cell is tagged ``parameters`` or when that cell is
    not valid Python (papermill reports that one when it runs).
    """
    cells = [entry for entry in entries if PARAMETERS_TAG in entry.tags]
    if not cells:
        return None
    declared: set[str] = set()
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            declared.add(node.id)
    return declared


def check_parameters(path: Path, entries: list, parameters: dict[str, Any]) -> None:
    """Reject parameter names that are not identifiers or that the parameters cell never assigns."""
    if not parameters:
        return
    for name in parameters:
        if not name.isidentifier():
            raise BadInputError(f"invalid parameter name {name!r}: it must be a Python identifier")
    if not any(PARAMETERS_TAG in entry.tags for entry in entries):
        raise BadInputError(
            f"{str(path)!r} has no cell tagged {PARAMETERS_TAG!r}, so parameter "
            f"{next(iter(parameters))!r} would be set nowhere; tag the cell that assigns "
            "the defaults with 'parameters'"
        )
    declared = declared_parameters(entries)
    if declared is None:
        return  # papermill itself reports a parameters cell it cannot use
    unknown = sorted(set(parameters) - declared)
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise BadInputError(
            f"invalid parameter {unknown[0]!r}: the parameters cell of {str(path)!r} "
            f"does not assign it (it assigns: {known})"
        )


def runs_here(runner: Runner) -> bool:
    """Return whether ``runner`` starts kernels on this machine, so its kernel specs apply.

    A cluster runner (with ``remote = True``) starts them on its workers.
    A kernel missing there makes the run fail to start, and check_started
    reports that as bad input.
    """
    return not getattr(runner, "remote", False)


def check_kernel(kernel: str, option: str = "--kernel") -> None:
    """Raise BadInputError unless a kernel spec named ``kernel`` is installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(kernel)
    except NoSuchKernel:
        available = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise BadInputError(
            f"unknown kernel {kernel!r}; installed kernels: {available} "
            f"(choose one with {option})"
        ) from None


def check_started(kernel: str, execution: Execution) -> None:
    """Fail as bad input when the kernel never ran a cell: it could not start."""
    ran = execution.notebook is not None and any(
        entry.execution_count is not None for entry in cell_entries(execution.notebook))
    if execution.error and not ran:
        raise BadInputError(
            f"kernel {kernel!r} could not run the notebook ({execution.error}); check that the "
            "kernel starts in Jupyter, or choose another with --kernel"
        )
    if execution.notebook is None:
        raise BadInputError(f"kernel {kernel!r} could not run the notebook: papermill wrote no output")


def check_recorded(kernel: str, entries: list) -> None:
    """Fail clearly when the kernel ran cells but recorded none: flowrec is missing there."""
    ran = [entry for entry in entries if entry.execution_count is not None]
    if ran and not has_records(entries):
        raise BadInputError(
            f"kernel {kernel!r} ran the notebook but recorded nothing: install flowrec in that "
            "kernel's Python environment, or choose a kernel that has it with --kernel"
        )


def is_check_output(path: Path) -> bool:
    """Return whether ``path`` is a notebook that flowrec executed, which it may replace."""
    try:
        existing = read_notebook(path)
    except NotebookError:
        return False
    return written_by_flowrec(existing.metadata)


def _check_outputs(options: CheckOptions) -> Path | None:
    """Validate --output and --json before anything runs."""
    output = options.output
    if output is not None:
        check_output_path(output, "--output", [options.notebook], is_check_output, ".ipynb")
    others = [options.notebook] + ([output] if output is not None else [])
    if options.json_path is not None:
        check_output_path(options.json_path, "--json", others, is_flowrec_report, ".json")
        others.append(options.json_path)
    if options.junit_path is not None:
        from .junit import is_flowrec_junit

        check_output_path(options.junit_path, "--junit", others, is_flowrec_junit, ".xml")
        others.append(options.junit_path)
    if options.html_path is not None:
        from .html_report import is_flowrec_html

        check_output_path(options.html_path, "--html", others, is_flowrec_html, ".html")
    return output
