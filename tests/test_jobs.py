"""Running jobs: in this process, in worker processes, and after a worker dies."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from flowrec.batch import FAILED, REPRODUCED, Job, Outcome, check_job, plan
from flowrec.check import CheckOptions
from flowrec.jobs import run_jobs

TEMPLATE = CheckOptions(notebook=Path())


class RecordingDisplay:
    """Keep every call the jobs make, in order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def started(self, job):
        self.events.append(("started", job.name))

    def reached(self, job, phase, where):
        self.events.append(("reached", job.name, phase, where))

    def finished(self, outcome):
        self.events.append(("finished", outcome.job.name, outcome.status))


def crash_in_worker(job: Job, runner, progress) -> Outcome:
    """Kill the worker process for the job named crash.ipynb; pass the others."""
    if job.name == "crash.ipynb":
        os._exit(3)
    logging.getLogger("flowrec.test_jobs").warning("worker ran %s", job.name)
    return Outcome(job, REPRODUCED)


def fake_jobs(names: list[str]) -> list[Job]:
    return [Job(number, Path(name), name, {}, TEMPLATE)
            for number, name in enumerate(names, start=1)]


@pytest.mark.kernel
def test_processes_match_sequential(batch_folder):
    """Two worker processes give the verdicts of one-at-a-time runs, with stage progress."""
    jobs = plan([batch_folder], TEMPLATE, None, {}).jobs
    sequential = RecordingDisplay()
    one = run_jobs(jobs, check_job, 1, sequential)
    parallel = RecordingDisplay()
    two = run_jobs(jobs, check_job, 2, parallel)
    assert [outcome.status for outcome in two] == [outcome.status for outcome in one]
    assert [outcome.status for outcome in one] == [REPRODUCED, REPRODUCED, "not reproduced"]
    for display in (sequential, parallel):
        finished = [event for event in display.events if event[0] == "finished"]
        assert len(finished) == 3
        reached = [event for event in display.events if event[0] == "reached"]
        assert ("reached", "steady.ipynb", "re-run", "one") in reached
        assert ("reached", "seeded.ipynb", "re-run", "draw") in reached
        assert ("reached", "steady.ipynb", "re-run", "cell 1") in reached


def test_dead_worker_fails_its_job_only(caplog):
    """A worker that dies fails its own job after one more try; the others finish."""
    jobs = fake_jobs(["a.ipynb", "crash.ipynb", "b.ipynb"])
    display = RecordingDisplay()
    with caplog.at_level(logging.WARNING, logger="flowrec"):
        outcomes = run_jobs(jobs, crash_in_worker, 2, display)
    statuses = {outcome.job.name: outcome.status for outcome in outcomes}
    assert statuses == {"a.ipynb": REPRODUCED, "crash.ipynb": FAILED, "b.ipynb": REPRODUCED}
    crashed = next(outcome for outcome in outcomes if outcome.job.name == "crash.ipynb")
    assert "ended unexpectedly, twice" in crashed.error
    assert "a worker process ended unexpectedly" in caplog.text


def test_worker_logs_reach_parent(caplog):
    """Log records made in worker processes are handled by this process's loggers."""
    jobs = fake_jobs(["a.ipynb", "b.ipynb"])
    with caplog.at_level(logging.WARNING, logger="flowrec"):
        outcomes = run_jobs(jobs, crash_in_worker, 2, RecordingDisplay())
    assert [outcome.status for outcome in outcomes] == [REPRODUCED, REPRODUCED]
    assert "worker ran a.ipynb" in caplog.text
    assert "worker ran b.ipynb" in caplog.text


def test_bad_input_jobs_never_run():
    """Jobs found bad while planning finish at once, without a worker."""
    jobs = fake_jobs(["bad.ipynb"])
    jobs[0].problem = "notebook not found: 'bad.ipynb'; check the path"
    display = RecordingDisplay()
    outcomes = run_jobs(jobs, check_job, 2, display)
    assert outcomes[0].status == "bad input"
    assert outcomes[0].error == jobs[0].problem
    assert display.events == [("finished", "bad.ipynb", "bad input")]
