"""Running the jobs of a batch: in this process, in worker processes, or on a cluster.

- One job at a time (``--jobs 1``) runs in this process.
- More run in a pool of worker processes started with ``spawn``, each of
  which runs one check at a time with its own papermill and kernel. Workers
  send their progress and log records back through a queue, so the display
  and the log stay in this process.
- With a cluster runner (:mod:`flowrec.cluster`), jobs run in threads of
  this process: each papermill run is a task on the cluster, and the thread
  waits for its executed notebook and compares it here.

A worker process that dies takes the pool with it. The jobs that had not
finished are run once more, each in a pool of its own, and a job whose
second worker dies too is reported as failed.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import queue as queue_module
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from .batch import FAILED, Job, Outcome, Work
from .check import Runner
from .execute import execute

log = logging.getLogger(__name__)

# Loggers whose records a worker process sends back to this one.
FORWARDED_LOGGERS = ("flowrec", "papermill", "traitlets", "nbclient", "jupyter_client")
POLL_SECONDS = 0.1


class Display(Protocol):
    """The receiver of job progress while jobs run (see :mod:`flowrec.progress`)."""

    def started(self, job: Job) -> None: ...

    def reached(self, job: Job, phase: str, where: str) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


def run_jobs(jobs: list[Job], work: Work, parallel: int, display: Display,
             runner: Runner | None = None) -> list[Outcome]:
    """Run every job with ``work`` and return their outcomes in job order.

    ``runner`` sends papermill runs elsewhere (a cluster); without it they
    run on this machine, ``parallel`` at a time.
    """
    outcomes: dict[int, Outcome] = {}
    ready = [job for job in jobs if job.problem is not None]
    for job in ready:  # bad input found while planning: nothing to run
        outcomes[job.number] = work(job, execute, lambda phase, where: None)
        display.finished(outcomes[job.number])
    pending = [job for job in jobs if job.problem is None]
    if runner is not None:
        _run_in_threads(pending, work, parallel, display, runner, outcomes)
    elif parallel <= 1 or len(pending) <= 1:
        for job in pending:
            outcomes[job.number] = _run_here(job, work, display, execute)
    else:
        _run_in_processes(pending, work, parallel, display, outcomes)
    return [outcomes[job.number] for job in jobs]


def _run_here(job: Job, work: Work, display: Display, runner: Runner) -> Outcome:
    display.started(job)
    outcome = work(job, runner, lambda phase, where: display.reached(job, phase, where))
    display.finished(outcome)
    return outcome


def _run_in_threads(jobs: list[Job], work: Work, parallel: int, display: Display,
                    runner: Runner, outcomes: dict[int, Outcome]) -> None:
    pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="flowrec-job")
    try:
        futures = {pool.submit(_run_here, job, work, display, runner): job for job in jobs}
        for future, job in futures.items():
            outcomes[job.number] = future.result()
    except BaseException:
        # On Ctrl-C, return at once: closing the cluster client then ends the running threads.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


# Set in each worker process by _start_worker.
_events: Any = None


def _start_worker(events: Any, levels: dict[str, int]) -> None:
    """Send this worker's log records and progress to the parent through ``events``."""
    global _events
    _events = events
    handler = logging.handlers.QueueHandler(events)
    for name, level in levels.items():
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False


def _work_in_worker(work: Work, job: Job) -> Outcome:
    _events.put(("started", job.number, "", ""))

    def progress(phase: str, where: str) -> None:
        _events.put(("reached", job.number, phase, where))

    return work(job, execute, progress)


def _run_in_processes(jobs: list[Job], work: Work, parallel: int, display: Display,
                      outcomes: dict[int, Outcome]) -> None:
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    levels = {name: logging.getLogger(name).getEffectiveLevel() for name in FORWARDED_LOGGERS}
    by_number = {job.number: job for job in jobs}
    broken = _run_pool(jobs, work, parallel, display, outcomes, context, events, levels,
                       by_number)
    remaining = [job for job in jobs if job.number not in outcomes]
    if broken and remaining:
        log.warning("a worker process ended unexpectedly; running the %d unfinished job(s) "
                    "again, each in a worker of its own", len(remaining))
    for job in remaining:
        # Alone in its pool, a job that kills its worker again fails no other job.
        if _run_pool([job], work, 1, display, outcomes, context, events, levels, by_number):
            log.error("%s: the worker process ended unexpectedly again", job.title)
            outcomes[job.number] = Outcome(
                job, FAILED,
                error="the worker process running this check ended unexpectedly, twice")
            display.finished(outcomes[job.number])
    events.close()


def _run_pool(jobs: list[Job], work: Work, parallel: int, display: Display,
              outcomes: dict[int, Outcome], context: Any, events: Any,
              levels: dict[str, int], by_number: dict[int, Job]) -> bool:
    """Run ``jobs`` in one pool; return True when the pool broke before they all finished."""
    broken = False
    with ProcessPoolExecutor(max_workers=min(parallel, len(jobs)), mp_context=context,
                             initializer=_start_worker, initargs=(events, levels)) as pool:
        futures: dict[Future, Job] = {pool.submit(_work_in_worker, work, job): job
                                      for job in jobs}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            _drain(events, display, by_number)
            for future in done:
                job = futures[future]
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                outcomes[job.number] = outcome
                display.finished(outcome)
    _drain(events, display, by_number)
    return broken


def _drain(events: Any, display: Display, by_number: dict[int, Job]) -> None:
    """Pass the workers' queued log records and progress on."""
    while True:
        try:
            item = events.get_nowait()
        except queue_module.Empty:
            return
        if isinstance(item, logging.LogRecord):
            logging.getLogger(item.name).handle(item)
            continue
        kind, number, phase, where = item
        job = by_number.get(number)
        if job is None:
            continue
        if kind == "started":
            display.started(job)
        else:
            display.reached(job, phase, where)
