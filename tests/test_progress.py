"""The batch progress display: plain lines off a terminal, a live display on one."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from flowrec.batch import NOT_REPRODUCED, REPRODUCED, Job, Outcome
from flowrec.check import CheckOptions
from flowrec.progress import BatchDisplay


def job(number: int, name: str, parameters=None) -> Job:
    return Job(number, Path(name), name, parameters or {}, CheckOptions(notebook=Path(name)))


def test_plain_lines_off_terminal():
    """Without a terminal, each start and finish is one line with the count."""
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=120)
    first, second = job(1, "a.ipynb"), job(2, "b.ipynb", {"seed": 1})
    with BatchDisplay(console, 2) as display:
        display.started(first)
        display.reached(first, "re-run", "train")
        display.started(second)
        display.finished(Outcome(first, REPRODUCED, seconds=1.25))
        display.finished(Outcome(second, NOT_REPRODUCED, seconds=2.0))
    assert stream.getvalue().splitlines() == [
        "started  a.ipynb",
        "started  b.ipynb [seed=1]",
        "[1/2] a.ipynb: reproduced (1.2 s)",
        "[2/2] b.ipynb [seed=1]: not reproduced (2.0 s)",
    ]


def test_live_display_on_terminal():
    """On a terminal, the running notebook shows its run and stage, then its result line."""
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120)
    first = job(1, "a.ipynb")
    with BatchDisplay(console, 1) as display:
        assert display.live
        display.started(first)
        display.reached(first, "re-run", "train")
        display._progress.refresh()
        assert "a.ipynb: re-run: train" in stream.getvalue()
        display.finished(Outcome(first, REPRODUCED, seconds=3.0))
    assert "[1/1] a.ipynb: " in stream.getvalue()
    assert "reproduced" in stream.getvalue()
