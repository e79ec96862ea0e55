"""``flowrec check`` on several notebooks or parameter sets, and ``flowrec record``.

Both plan the batch (:mod:`flowrec.batch`), check every output path before
anything runs, run the jobs with a progress display on standard error
(:mod:`flowrec.jobs`, :mod:`flowrec.progress`), and print one summary table
on standard output. Exit status: 0 when every job succeeded, 1 when one did
not reproduce or failed, 2 when any input was bad.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator

from rich.console import Console

from .batch import Outcome, Plan, Work, assign_outputs, check_job, exit_status, plan
from .check import CheckOptions, Runner
from .compare import DEFAULT_ATOL, DEFAULT_RTOL
from .errors import BadInputError
from .outputs import check_output_path

log = logging.getLogger(__name__)


def run_batch_check(args: argparse.Namespace) -> int:
    """Check every notebook under ``args.paths`` once per parameter set."""
    from .batch_report import (
        print_summary,
        summary_console,
        write_batch_html,
        write_batch_json,
        write_batch_junit,
    )

    if args.output is not None:
        raise BadInputError(
            "--output names one executed notebook, but this check runs several notebooks or "
            "parameter sets; use --output-dir DIR to keep them all")
    _check_normalize(args.normalize)
    template = CheckOptions(
        notebook=Path(), kernel=args.kernel, timeout=args.timeout,
        rtol=DEFAULT_RTOL if args.rtol is None else args.rtol,
        atol=DEFAULT_ATOL if args.atol is None else args.atol,
        normalize=list(args.normalize), runs=args.runs, hash_seeds=args.hash_seeds)
    batch = _plan(args, template)
    if args.reference is not None:
        from .store import ReferenceStore, assign_references

        assign_references(batch.jobs, ReferenceStore.open(args.reference))
    _check_report_paths(args, batch)
    assign_outputs(batch, args.output_dir, args.html)
    outcomes = _run(args, batch, check_job, "checked")
    status = exit_status(outcomes)
    title = f"flowrec check: {len(batch.notebooks)} notebook(s)"
    if args.json is not None:
        write_batch_json(outcomes, status, args.json)
    if args.junit is not None:
        write_batch_junit(outcomes, args.junit)
    if args.html is not None:
        write_batch_html(outcomes, args.html, title)
    print_summary(outcomes, summary_console(), title)
    return status


def run_record(args: argparse.Namespace) -> int:
    """Execute every notebook under ``args.paths`` once per parameter set and store the runs."""
    from .batch_report import print_record_summary, summary_console
    from .batch import RECORDED
    from .store import ReferenceStore, assign_store_paths, record_job

    store = ReferenceStore.open_for_recording(args.store)
    template = CheckOptions(notebook=Path(), kernel=args.kernel, timeout=args.timeout)
    batch = _plan(args, template)
    assign_store_paths(batch.jobs, store, batch.notebooks)
    outcomes = _run(args, batch, record_job, "recorded")
    for outcome in outcomes:
        if outcome.status == RECORDED:
            store.add(outcome)
    store.save()
    print_record_summary(outcomes, summary_console(), f"flowrec record into {args.store}")
    return exit_status(outcomes)


def _check_normalize(patterns: list[str]) -> None:
    """Reject an invalid --normalize pattern once, instead of in every job."""
    from .normalize import user_rule

    for pattern in patterns:
        try:
            user_rule(pattern, origin=" given with --normalize")
        except ValueError as error:
            raise BadInputError(str(error)) from None


def _plan(args: argparse.Namespace, template: CheckOptions) -> Plan:
    from .cli import parameters_of
    from .grid import load_grid

    sets = load_grid(args.grid) if args.grid is not None else None
    return plan(list(args.paths), template, sets, parameters_of(args))


def _check_report_paths(args: argparse.Namespace, batch: Plan) -> None:
    """Reject report paths that are inputs, each other, or files flowrec did not write."""
    from .html_report import is_flowrec_html
    from .junit import is_flowrec_junit
    from .outputs import is_flowrec_report

    taken = list(batch.notebooks)
    for path, option, written, suffix in ((args.json, "--json", is_flowrec_report, ".json"),
                                          (args.junit, "--junit", is_flowrec_junit, ".xml"),
                                          (args.html, "--html", is_flowrec_html, ".html")):
        if path is not None:
            check_output_path(path, option, taken, written, suffix)
            taken.append(path)


def _run(args: argparse.Namespace, batch: Plan, work: Work, verb: str) -> list[Outcome]:
    from .jobs import run_jobs
    from .progress import BatchDisplay

    with _runner(args) as runner:
        if args.jobs is not None:
            parallel = args.jobs
        elif runner is not None:
            parallel = runner.worker_threads  # type: ignore[attr-defined]
        else:
            parallel = os.cpu_count() or 1
        log.info("%d job(s), %d at a time", len(batch.jobs), parallel)
        with BatchDisplay(Console(stderr=True), len(batch.jobs), verb) as display:
            return run_jobs(batch.jobs, work, parallel, display, runner)


@contextlib.contextmanager
def _runner(args: argparse.Namespace) -> Iterator[Runner | None]:
    if args.scheduler is None:
        if args.retries is not None:
            raise BadInputError("--retries applies to runs on a cluster; give --scheduler too")
        yield None
        return
    from .cluster import DEFAULT_RETRIES, connect

    retries = DEFAULT_RETRIES if args.retries is None else args.retries
    with connect(args.scheduler, retries) as runner:
        yield runner
