"""Re-execution of a notebook with papermill, with the recorder loaded.

The kernel is started with flowrec's recorder already installed (through
IPython's ``exec_lines``), so a notebook that never loads the extension is
recorded too. A ``%load_ext flowrec`` in the notebook then finds the running
recorder and does nothing more. The input notebook is only read.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import uuid
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import nbformat

from .notebook import (
    INJECTED_TAG,
    PAPERMILL_ERROR_TAG,
    RAISES_TAG,
    cell_entries,
    read_notebook,
    write_notebook_atomic,
)

log = logging.getLogger(__name__)

KERNEL_ARGUMENTS = [
    "--IPKernelApp.exec_lines=import flowrec; flowrec.start_recording()",
    # Keeps kernel start-up warnings out of the user's terminal.
    "--IPKernelApp.log_level=CRITICAL",
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


# Called before each cell runs with the cell's index in the executed
# notebook (papermill's injected cells included) and the cell itself.
CellStartHook = Callable[[int, Any], None]


def execute(input_path: Path, output_path: Path, parameters: dict[str, Any] | None,
            kernel_name: str, timeout: float | None,
            environment: dict[str, str] | None = None,
            on_cell_start: CellStartHook | None = None) -> Execution:
    """Run ``input_path`` with papermill into ``output_path``.

    ``environment`` adds variables to the kernel's environment only, so
    runs in other threads of this process keep theirs. A failing cell, a
    timeout or a dead kernel is reported in ``Execution.error`` rather than
    raised.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    # papermill saves the output while the kernel's working directory is
    # current, so a relative output path would land beside the notebook.
    input_path = input_path.resolve()
    output_path = output_path.resolve()
    start = time.perf_counter()
    error: str | None = None
    cell_raised = False
    log.info("running %s with papermill on kernel %s into %s", input_path, kernel_name,
             output_path)
    client_options: dict[str, Any] = {"kernel_manager_class": _kernel_manager_with(environment)}
    if on_cell_start is not None:
        client_options["on_cell_start"] = _cell_start_hook(on_cell_start)
    try:
        papermill.execute_notebook(
            str(input_path),
            str(output_path),
            parameters=parameters or {},
            kernel_name=kernel_name,
            # papermill takes whole seconds.
            execution_timeout=math.ceil(timeout) if timeout else None,
            progress_bar=False,
            log_output=False,
            cwd=str(input_path.parent),
            extra_arguments=list(KERNEL_ARGUMENTS),
            **client_options,
        )
    except PapermillExecutionError as failure:
        # papermill raises for every error output, even in a cell tagged
        # raises-exception; whether the run really failed is decided below.
        error = f"cell In [{failure.exec_count}] raised {failure.ename}: {failure.evalue}"
        cell_raised = True
    except Exception as failure:  # timeouts and dead kernels come from nbclient and jupyter_client
        error = _describe_failure(failure, timeout)
        log.debug("papermill run of %s failed", input_path, exc_info=True)
    duration = time.perf_counter() - start
    log.info("papermill run took %.1f s%s", duration, f" and stopped: {error}" if error else "")

    notebook = None
    stopped_at = None
    if output_path.exists():
        notebook = read_notebook(output_path)
        stopped_at = _failed_cell_index(notebook) if error else None
        if cell_raised and stopped_at is None:
            error = None  # only expected exceptions were raised
        if error and not cell_raised and stopped_at is None:
            stopped_at = _first_unrecorded_cell(notebook)
        if error and cell_raised and stopped_at is not None:
            error = _cell_error(notebook, stopped_at) or error
        notebook.metadata[CHECK_METADATA_KEY] = {"check_output": True, "source": str(input_path)}
        write_notebook_atomic(notebook, output_path)
    return Execution(output_path, notebook, duration, error, stopped_at)


def written_by_flowrec(metadata: Any) -> bool:
    """Return whether notebook metadata carries the mark of a flowrec run's output."""
    marker = metadata.get(CHECK_METADATA_KEY) if isinstance(metadata, dict) else None
    return isinstance(marker, dict) and bool(marker.get("check_output"))


def file_written_by_flowrec(path: Path) -> bool:
    """Return whether the file at ``path`` is a notebook that a flowrec run wrote.

    An unreadable file gives False, so that the code reading it next reports why.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and written_by_flowrec(data.get("metadata"))


def _kernel_manager_with(environment: dict[str, str] | None) -> type:
    """Return a kernel manager class for one run: its environment, and IPC where possible.

    Over TCP, jupyter_client picks free ports in this process and the kernel
    binds them later, so kernels started at once by other processes on the
    machine can take a port in between, and the kernel dies with "Address
    already in use". Kernels started with the IPC transport talk through
    socket files instead, so on POSIX systems flowrec uses IPC.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    added = dict(environment or {})

    class FlowrecKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc" if os.name == "posix" else "tcp"

        @default("ip")
        def _default_ip(self) -> str:
            if self.transport != "ipc":
                return super()._ip_default()
            # jupyter_client's default, "kernel-ipc", is relative to each process's working
            # directory and the same for every kernel: give each kernel its own absolute prefix.
            return os.path.join(tempfile.gettempdir(), f"flowrec-kernel-{uuid.uuid4().hex}")

        async def start_kernel(self, **options: Any) -> None:  # type: ignore[override]
            if added:
                # jupyter_client passes ``env`` on to the kernel process.
                options["env"] = {**(options.get("env") or os.environ), **added}
            await super().start_kernel(**options)

    return FlowrecKernelManager


def _cell_start_hook(callback: CellStartHook) -> Callable[..., None]:
    """Adapt ``callback`` to nbclient's ``on_cell_start`` hook, never letting it stop the run."""

    def hook(cell: Any, cell_index: int) -> None:
        try:
            callback(cell_index, cell)
        except Exception:  # progress display only: the run goes on
            log.debug("the cell start callback failed", exc_info=True)

    return hook


def _describe_failure(failure: Exception, timeout: float | None) -> str:
    name = type(failure).__name__
    if name == "CellTimeoutError" or "timed out" in str(failure).lower():
        return f"the cell timed out after {math.ceil(timeout or 0)} s"
    if name == "DeadKernelError" or "kernel died" in str(failure).lower():
        return "the kernel died"
    first_line = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
    return f"{name}: {first_line}"


def _failed_cell_index(notebook: nbformat.NotebookNode) -> int | None:
    """Return the index of the cell where the run stopped, in input numbering, or None.

    That is the first cell that raised without a ``raises-exception`` tag,
    or the cell that was still running when a timeout or a dead kernel
    ended the run.
    """
    for entry in cell_entries(notebook):
        if entry.error_output is not None and not entry.raises_expected:
            if not _is_clean_exit(entry.error_output):
                return entry.index
    index = 0
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", []) or []
        if INJECTED_TAG in tags or PAPERMILL_ERROR_TAG in tags:
            continue
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        if status == "running" or (status == "failed" and RAISES_TAG not in tags):
            # A dead kernel or timeout leaves the cell running; a usage error
            # from a magic fails the cell without an error output.
            return index
        index += 1
    return None


def _first_unrecorded_cell(notebook: nbformat.NotebookNode) -> int | None:
    """Return the first code cell without a record, where a dead kernel stopped the run.

    papermill marks every cell "completed" when the kernel dies, so the
    records are the evidence: the recorder records every cell that finishes.
    """
    entries = cell_entries(notebook)
    if not any(entry.record is not None for entry in entries):
        return None
    for entry in entries:
        if entry.record is None:
            return entry.index
    return None


def _cell_error(notebook: nbformat.NotebookNode, index: int) -> str | None:
    """Describe the error of the cell at ``index``: its error output, or a UsageError line."""
    for entry in cell_entries(notebook):
        if entry.index != index:
            continue
        if entry.error_output is not None:
            return f"raised {entry.error_output['ename']}: {entry.error_output['evalue']}"
        for output in entry.normalized_outputs:
            if output.get("stream") == "stderr":
                for line in output["text"].splitlines():
                    if line.startswith("UsageError:"):
                        return "raised " + line
    return None


def _is_clean_exit(error: dict[str, str]) -> bool:
    """``sys.exit()`` or ``sys.exit(0)`` ends a notebook without failing it, as in papermill."""
    return error.get("ename") == "SystemExit" and error.get("evalue") in ("", "0")
