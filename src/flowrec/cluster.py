"""Papermill runs on a Dask distributed cluster (``--scheduler ADDRESS``).

Each run is one task: a worker runs papermill with the recorder loaded and
returns the executed notebook as JSON text. Everything else (the reference,
the comparison, the reports) happens in the client, as for local runs, so
verdicts do not depend on where the kernels ran.

A task is sent the notebook's path and its content. A worker that can read
the same file at that path runs it in place, in its folder, so relative
paths inside the notebook work. Otherwise it writes the content into a
temporary folder and runs it there. A task that raises, or whose worker is lost, is
retried ``retries`` times by Dask (``retries=`` of ``Client.submit``); after
that the check is reported as failed, never as reproduced. The scheduler's
``distributed.scheduler.allowed-failures`` setting bounds, separately, how
often one task may be running on a worker that dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator

import nbformat

from .errors import BadInputError, FlowrecError
from .execute import CHECK_METADATA_KEY, CellStartHook, Execution, execute
from .notebook import write_notebook_atomic

log = logging.getLogger(__name__)

LOCAL = "local"
LOCAL_WORKERS = 2
DEFAULT_RETRIES = 2
# For the cluster that --scheduler local starts: a task whose worker died
# once more than this is reported lost, instead of being tried again.
LOCAL_ALLOWED_FAILURES = 1
PROGRESS_TOPIC = "flowrec-progress"
# Enough of a cell's source to read its %%flow_stage line for the progress display.
PROGRESS_SOURCE_CHARACTERS = 400


class ClusterError(FlowrecError):
    """The cluster could not finish a run, even after its retries."""


class ClusterRunner:
    """Run papermill on the cluster behind ``client``; called like :func:`flowrec.execute.execute`."""

    # Kernels start on the workers, so the client's kernel specs do not apply.
    remote = True

    def __init__(self, client: Any, retries: int = DEFAULT_RETRIES) -> None:
        self.client = client
        self.retries = retries
        self._hooks: dict[str, CellStartHook] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)

    @property
    def worker_threads(self) -> int:
        """Return how many tasks the cluster runs at once: its workers' threads."""
        return max(1, sum(self.client.nthreads().values()))

    def __call__(self, input_path: Path, output_path: Path, parameters: dict[str, Any] | None,
                 kernel_name: str, timeout: float | None,
                 environment: dict[str, str] | None = None,
                 on_cell_start: CellStartHook | None = None) -> Execution:
        content = input_path.read_text(encoding="utf-8")
        token = uuid.uuid4().hex
        if on_cell_start is not None:
            with self._lock:
                self._hooks[token] = on_cell_start
        future = self.client.submit(
            run_on_worker, str(input_path), content, parameters or {}, kernel_name, timeout,
            environment, token, key=f"flowrec-run-{input_path.stem}-{token}",
            retries=self.retries, pure=False)
        try:
            reply = future.result()
        except Exception as error:  # KilledWorker, a lost connection, a task that always raised
            log.error("the cluster could not run %s after %d retries: %s: %s", input_path,
                      self.retries, type(error).__name__, error)
            raise ClusterError(
                f"the cluster could not run the notebook after {self.retries} retries: "
                f"{type(error).__name__}: {error}") from None
        finally:
            with self._lock:
                self._hooks.pop(token, None)
        if not reply["in_place"] and str(input_path) not in self._warned:
            self._warned.add(str(input_path))
            log.warning("the worker cannot see %s, so it ran the notebook's content in a "
                        "temporary folder, where files the notebook opens by relative path are "
                        "missing", input_path)
        notebook = None
        if reply["notebook"] is not None:
            notebook = nbformat.reads(reply["notebook"], as_version=4)
            notebook.metadata[CHECK_METADATA_KEY] = {"check_output": True,
                                                     "source": str(input_path)}
            write_notebook_atomic(notebook, output_path)
        return Execution(output_path, notebook, reply["duration"], reply["error"],
                         reply["stopped_at"])

    def _on_progress(self, event: tuple[float, dict[str, Any]]) -> None:
        message = event[1]
        with self._lock:
            hook = self._hooks.get(message.get("token"))
        if hook is not None:
            cell = {"source": message.get("source", ""), "metadata": {"tags": message.get("tags", [])}}
            hook(message.get("index", 0), cell)


def run_on_worker(path: str, content: str, parameters: dict[str, Any], kernel_name: str,
                  timeout: float | None, environment: dict[str, str] | None,
                  token: str) -> dict[str, Any]:
    """Run one notebook with papermill on this worker; return its executed notebook as JSON."""
    candidate = Path(path)
    in_place = candidate.is_file() and _same_content(candidate, content)
    with tempfile.TemporaryDirectory(prefix="flowrec-worker-") as scratch:
        folder = Path(scratch)
        source = candidate
        if not in_place:
            source = folder / "input" / candidate.name
            source.parent.mkdir()
            source.write_text(content, encoding="utf-8")
        execution = execute(source, folder / candidate.name, parameters, kernel_name, timeout,
                            environment, _publisher(token))
        text = nbformat.writes(execution.notebook) if execution.notebook is not None else None
    return {"notebook": text, "duration": execution.duration, "error": execution.error,
            "stopped_at": execution.stopped_at, "in_place": in_place}


def _same_content(path: Path, content: str) -> bool:
    try:
        on_disk = path.read_bytes()
    except OSError:
        return False
    return hashlib.sha256(on_disk).digest() == hashlib.sha256(content.encode("utf-8")).digest()


def _publisher(token: str) -> CellStartHook:
    """Return a cell start hook that sends each cell's start to the client as a Dask event."""
    from distributed import get_worker

    worker = get_worker()

    def publish(index: int, cell: Any) -> None:
        tags = list(cell.get("metadata", {}).get("tags", []) or [])
        worker.log_event(PROGRESS_TOPIC, {
            "token": token, "index": index, "tags": tags,
            "source": str(cell.get("source", ""))[:PROGRESS_SOURCE_CHARACTERS]})

    return publish


@contextlib.contextmanager
def connect(address: str, retries: int = DEFAULT_RETRIES) -> Iterator[ClusterRunner]:
    """Connect to the scheduler at ``address``, or start a local cluster for ``local``."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise BadInputError(
            "--scheduler needs the distributed package; install it with "
            "pip install 'flowrec[cluster]'") from None
    cluster = None
    if address == LOCAL:
        log.info("starting a local Dask cluster: %d worker processes on 127.0.0.1",
                 LOCAL_WORKERS)
        with dask.config.set({"distributed.scheduler.allowed-failures": LOCAL_ALLOWED_FAILURES}):
            cluster = LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0")
        client = Client(cluster)
    else:
        try:
            # Waits up to dask's distributed.comm.timeouts.connect, 30 s unless configured.
            client = Client(address)
        except (OSError, TimeoutError, ValueError) as error:
            raise BadInputError(
                f"cannot connect to the Dask scheduler at {address!r}: {error}; check the "
                "address (such as tcp://127.0.0.1:8786) and that the scheduler is running") from None
    log.info("connected to the Dask scheduler at %s", client.scheduler.address)
    try:
        yield ClusterRunner(client, retries)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
