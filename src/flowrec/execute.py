"""Re-execution of a notebook with papermill, with the recorder loaded.

The kernel is started with flowrec's recorder already installed (through
IPython's ``exec_lines``), so a notebook that never loads the extension is
recorded too; a ``%load_ext flowrec`` in the notebook then finds the running
recorder and does nothing more. The input notebook is only read.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .notebook import INJECTED_TAG, read_notebook, write_notebook_atomic

log = logging.getLogger(__name__)

KERNEL_ARGUMENTS = [
    "--IPKernelApp.exec_lines=import flowrec; flowrec.start_recording()",
    # Keeps kernel start-up warnings out of the user's terminal.
    "--IPKernelApp.log_level=ERROR",
]
CHECK_METADATA_KEY = "flowrec"


@dataclass
class Execution:
    """The outcome of one papermill run."""

    output_path: Path
    notebook: nbformat.NotebookNode | None
    duration: float
    error: str | None = None
    stopped_at: int | None = None


def execute(input_path: Path, output_path: Path, parameters: dict[str, Any] | None,
            kernel_name: str, timeout: float | None) -> Execution:
    """Run ``input_path`` with papermill into ``output_path``; never raise for a failing cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    # papermill saves the output while the kernel's working directory is
    # current, so a relative output path would land beside the notebook.
    input_path = input_path.resolve()
    output_path = output_path.resolve()
    start = time.perf_counter()
    error: str | None = None
    try:
        papermill.execute_notebook(
            str(input_path),
            str(output_path),
            parameters=parameters or {},
            kernel_name=kernel_name,
            execution_timeout=timeout,
            progress_bar=False,
            log_output=False,
            cwd=str(input_path.parent),
            extra_arguments=list(KERNEL_ARGUMENTS),
        )
    except PapermillExecutionError as failure:
        error = f"cell In [{failure.exec_count}] raised {failure.ename}: {failure.evalue}"
    except Exception as failure:  # timeouts and dead kernels come from nbclient and jupyter_client
        error = _describe_failure(failure, timeout)
        log.debug("papermill run of %s failed", input_path, exc_info=True)
    duration = time.perf_counter() - start

    notebook = None
    stopped_at = None
    if output_path.exists():
        notebook = read_notebook(output_path)
        stopped_at = _failed_cell_index(notebook) if error else None
        notebook.metadata[CHECK_METADATA_KEY] = {"check_output": True, "source": str(input_path)}
        write_notebook_atomic(notebook, output_path)
    return Execution(output_path, notebook, duration, error, stopped_at)


def _describe_failure(failure: Exception, timeout: float | None) -> str:
    name = type(failure).__name__
    if name == "CellTimeoutError" or "timed out" in str(failure).lower():
        return f"a cell timed out after {timeout} s"
    if name == "DeadKernelError" or "kernel died" in str(failure).lower():
        return "the kernel died"
    first_line = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
    return f"{name}: {first_line}"


def _failed_cell_index(notebook: nbformat.NotebookNode) -> int | None:
    """Return the index of the cell papermill marked as failed or was running, in input numbering."""
    index = 0
    last_started = None
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", []) or []
        if INJECTED_TAG in tags:
            continue
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        if status in ("failed", "running"):
            return index
        if status == "completed":
            last_started = index
        index += 1
    return None if last_started is None else last_started + 1
