"""The progress display of a batch: running notebooks, their current stage, the count.

On a terminal it is a live rich display. Each running notebook has a line
with the run it is in (reference run, re-run, ...) and the stage or cell it
has reached, and a first line counts the finished notebooks. Each finished
notebook prints one line above the display. Anywhere else (a CI log, a file) it prints plain
lines: one when a notebook starts and one when it finishes.

Calls may come from several threads at once.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from .batch import BAD_INPUT, FAILED, NOT_REPRODUCED, REPRODUCED, Job, Outcome

_STYLES = {REPRODUCED: "green", NOT_REPRODUCED: "bold red", BAD_INPUT: "bold yellow",
           FAILED: "bold magenta"}


class BatchDisplay:
    """Show the progress of ``total`` jobs on ``console``, live when it is a terminal."""

    def __init__(self, console: Console, total: int, verb: str = "checked") -> None:
        self.console = console
        self.total = total
        self.verb = verb
        self.done = 0
        self.live = console.is_terminal
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._running: dict[int, TaskID] = {}
        self._swapped: list[tuple[logging.StreamHandler, Any]] = []

    def __enter__(self) -> BatchDisplay:
        if self.live:
            self._progress = Progress(SpinnerColumn(), TimeElapsedColumn(),
                                      TextColumn("{task.description}"), console=self.console,
                                      transient=True)
            self._progress.start()
            self._overall = self._progress.add_task(self._count(), total=self.total)
            self._redirect_log_handlers()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            for handler, stream in self._swapped:
                handler.setStream(stream)

    def _redirect_log_handlers(self) -> None:
        """Point flowrec's log handlers at the live display's stderr, so lines print above it."""
        for handler in logging.getLogger("flowrec").handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stderr__:
                self._swapped.append((handler, handler.setStream(sys.stderr)))

    def _count(self) -> str:
        return f"{self.done} of {self.total} {self.verb}"

    def started(self, job: Job) -> None:
        with self._lock:
            if self._progress is None:
                self.console.print(f"started  {escape(job.title)}", highlight=False)
                return
            self._running[job.number] = self._progress.add_task(
                escape(job.title), total=None)

    def reached(self, job: Job, phase: str, where: str) -> None:
        with self._lock:
            task = self._running.get(job.number)
            if self._progress is None or task is None:
                return
            self._progress.update(task, description=escape(f"{job.title}: {phase}: {where}"))

    def finished(self, outcome: Outcome) -> None:
        with self._lock:
            self.done += 1
            style = _STYLES.get(outcome.status, "")
            status = f"[{style}]{escape(outcome.status)}[/{style}]" if style else outcome.status
            line = (f"[{self.done}/{self.total}] {escape(outcome.job.title)}: {status}"
                    f" ({outcome.seconds:.1f} s)")
            if self._progress is None:
                self.console.print(line, highlight=False)
                return
            task = self._running.pop(outcome.job.number, None)
            if task is not None:
                self._progress.remove_task(task)
            assert self._overall is not None
            self._progress.update(self._overall, advance=1, description=self._count())
            self._progress.console.print(line, highlight=False)
