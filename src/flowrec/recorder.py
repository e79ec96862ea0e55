"""The kernel-side recorder: IPython event hooks around every cell run.

``pre_run_cell`` reads the cell (stage line, static analysis) and
fingerprints the values it is about to read. ``post_run_cell`` fingerprints
what it wrote and finds read values that changed (mutation by method calls).
It then links each read to the cell run that last wrote it and publishes the
:class:`~flowrec.record.CellRecord` as a display output of the cell.

Rules kept here: the recorder never changes what user code does and never
raises into it. Any failure of its own is logged under the ``flowrec``
logger and that one cell goes unrecorded.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from .analysis import CellAnalysis, analyze_cell
from .changes import Watch, find_changes, watch_cell
from .environment import PackageTracker, capture_environment, notebook_directory
from .files import FileTracker, default_ignored_directories
from .hazards import Hazard, find_hazards, random_states
from .fingerprints import Fingerprint, fingerprint
from .record import MIME_TYPE, CellRecord, Upstream, code_hash, node_key
from .stage_line import StageOptions, StageLineError, parse_stage_cell
from .staleness import find_stale

log = logging.getLogger(__name__)

@dataclass
class _CellRun:
    """State kept between ``pre_run_cell`` and ``post_run_cell`` of one cell."""

    raw_cell: str
    cell_id: str | None
    stage: StageOptions | None
    analysis: CellAnalysis
    started_at: str
    start: float
    watch: Watch
    notes: list[str] = field(default_factory=list)
    # The record this run repeats, for cells re-run by ``%flow rerun``.
    rerun_of: CellRecord | None = None
    hazards: list[Hazard] = field(default_factory=list)
    random_start: dict[str, str] = field(default_factory=dict)


class Recorder:
    """Records every cell run of one IPython shell."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.session = uuid.uuid4().hex
        self.records: list[CellRecord] = []
        self.last_writer: dict[str, Upstream] = {}
        self._packages = PackageTracker()
        self._environment_sent = False
        # One entry per cell being run: ``%flow rerun`` runs cells inside a cell.
        self._runs: list[_CellRun | None] = []
        self._rerun_of: CellRecord | None = None
        # The newest record of each cell, and its source, for staleness and re-runs.
        self.latest: dict[str, CellRecord] = {}
        self.sources: dict[str, str] = {}
        self._cache: dict[str, tuple[int, Fingerprint]] = {}
        self.last_file_writer: dict[str, Upstream] = {}
        self._files = FileTracker(notebook_directory(), default_ignored_directories())
        self._opaque_noted: set[tuple[str, str]] = set()
        self.active = False
        # Called with no arguments after each recorded cell and after a reset:
        # the live flow panel redraws itself this way.
        self.listeners: list[Callable[[], None]] = []
        self.panel: Any = None
        self.sidebar: Any = None

    # Registration.

    def register(self) -> None:
        if self.active:
            return
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        self.active = True
        log.debug("recorder registered for session %s", self.session)

    def unregister(self) -> None:
        if not self.active:
            return
        for event, callback in (("pre_run_cell", self.pre_run_cell),
                                ("post_run_cell", self.post_run_cell)):
            try:
                self.shell.events.unregister(event, callback)
            except ValueError:
                log.debug("%s callback was already removed", event)
        while self._runs:
            self._runs.pop()
            self._files.stop()
        self.active = False

    def reset(self) -> None:
        """Forget every record and lineage link of this session."""
        self.records.clear()
        self.latest.clear()
        self.sources.clear()
        self.last_writer.clear()
        self.last_file_writer.clear()
        self._cache.clear()
        self._opaque_noted.clear()
        self._notify()

    def _notify(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # a listener must never disturb the user's cells
                log.warning("flowrec listener %r failed", listener, exc_info=True)

    def run_owners(self) -> dict[tuple[str, int | None], str]:
        """Map every recorded run, older ones too, to the key of its cell."""
        return {(record.session, record.execution_count): node_key(record)
                for record in self.records}

    def stale(self) -> dict[str, str]:
        """Return ``{cell key: reason}`` for every stale cell; see staleness.find_stale."""
        return find_stale(self.latest, self.last_writer, self.last_file_writer,
                          self.run_owners())

    def begin_current_cell(self) -> None:
        """Start recording the cell that is running now (the one that loaded flowrec)."""
        try:
            # IPython stores a cell's input in the history before running it.
            history = self.shell.history_manager.input_hist_raw
            if len(history) > 1:
                self._runs.append(self._begin(history[-1], None, None))
        except Exception:  # recording is best effort: never disturb the running cell
            log.warning("cannot record the cell that loaded flowrec", exc_info=True)

    # Event callbacks: both swallow and log their own failures.

    def pre_run_cell(self, info: Any) -> None:
        rerun_of, self._rerun_of = self._rerun_of, None
        hidden = getattr(info, "silent", False) or not getattr(info, "store_history", True)
        if hidden and rerun_of is None:
            self._runs.append(None)
            return
        try:
            run = self._begin(info.raw_cell, getattr(info, "transformed_cell", None),
                              getattr(info, "cell_id", None))
        except Exception:
            log.warning("flowrec could not start recording this cell", exc_info=True)
            run = None
        if run is not None:
            run.rerun_of = rerun_of
        self._runs.append(run)

    def post_run_cell(self, result: Any) -> None:
        if not self._runs:
            return  # the cell that registered the hooks
        run = self._runs.pop()
        if run is None:
            return
        try:
            record = self._finish(run, result)
        except Exception as failure:
            log.warning("flowrec could not record this cell", exc_info=True)
            record = self._fallback_record(run, result, failure)
        self.records.append(record)
        key = node_key(record)
        self.latest.pop(key, None)  # keep ``latest`` in the order cells last ran
        self.latest[key] = record
        self.sources[key] = run.raw_cell
        if run.rerun_of is None:
            self._publish(record)
        self._notify()

    def rerun(self, record: CellRecord) -> Any:
        """Run the source of ``record``'s cell again and record it; return IPython's result.

        The new record is kept in the kernel, not published: it would land in
        the outputs of the cell that asked for the re-run.
        """
        source = self.sources[node_key(record)]
        self._rerun_of = record
        try:
            return self.shell.run_cell(source, store_history=False)
        finally:
            self._rerun_of = None

    # Recording.

    def _begin(self, raw_cell: str, transformed: str | None, cell_id: str | None) -> _CellRun | None:
        try:
            stage = parse_stage_cell(raw_cell)
        except StageLineError:
            # The magic itself rejects the line with a usage error; the cell body never runs.
            return None
        if transformed is None:
            transformed = self.shell.transform_cell(raw_cell)
        analysis = analyze_cell(transformed)
        watch = watch_cell(self.shell.user_ns, analysis, self._fingerprint_for_watch,
                           getattr(self.shell, "user_ns_hidden", None))
        hazards = find_hazards(transformed)
        random_start = random_states() if any(h.kind == "random" for h in hazards) else {}
        run = _CellRun(
            raw_cell=raw_cell,
            cell_id=cell_id,
            stage=stage,
            analysis=analysis,
            started_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            start=time.perf_counter(),
            watch=watch,
            hazards=hazards,
            random_start=random_start,
        )
        self._files.start()
        return run

    def _finish(self, run: _CellRun, result: Any) -> CellRecord:
        duration = time.perf_counter() - run.start
        files = self._files.stop()
        namespace = self.shell.user_ns
        analysis = run.analysis
        changes = find_changes(namespace, analysis, run.watch,
                               lambda name, value, cached: self._fingerprint(
                                   name, value, use_cache=cached, notes=run.notes),
                               self._aliases)
        writes, mutated, deletes = changes.writes, changes.mutated, changes.deletes
        for name, value_fingerprint in writes.items():
            # Aliases share the fingerprint computed under the mutated name.
            self._cache[name] = (id(namespace[name]), value_fingerprint)
        for name in deletes:
            self._cache.pop(name, None)
            self.last_writer.pop(name, None)

        execution_count = getattr(result, "execution_count", None)
        if run.rerun_of is not None:
            # A re-run takes the place of the run it repeats in the flow.
            execution_count = run.rerun_of.execution_count
            cell_id = run.rerun_of.cell_id
            run.cell_id = cell_id
        stage_name = run.stage.name if run.stage else None
        upstream = [self.last_writer[name] for name in run.watch.reads
                    if name in self.last_writer]
        upstream += [self.last_file_writer[access.path] for access in files
                     if access.reads and access.path in self.last_file_writer]
        for name, value_fingerprint in writes.items():
            self.last_writer[name] = Upstream(name, stage_name, execution_count,
                                              value_fingerprint.digest)
        for access in files:
            if access.writes:
                self.last_file_writer[access.path] = Upstream(
                    access.path, stage_name, execution_count, access.digest or "", kind="file")

        record = CellRecord(
            session=self.session,
            execution_count=execution_count,
            code_hash=code_hash(run.raw_cell),
            started_at=run.started_at,
            duration=round(duration, 6),
            stage=stage_name,
            after=list(run.stage.after) if run.stage else [],
            ignore=list(run.stage.ignore) if run.stage else [],
            cell_id=run.cell_id,
            reads=dict(run.watch.reads),
            writes=writes,
            files=files,
            hazards=run.hazards,
            random_state={name: [start, random_states().get(name, "")]
                          for name, start in run.random_start.items()},
            deletes=deletes,
            mutated=mutated,
            upstream=upstream,
            error=_error_of(result),
            packages=self._packages.new_packages(namespace[name] for name in writes),
            notes=run.notes,
        )
        if run.stage is not None:
            seen = {earlier.stage for earlier in self.records}
            for name in run.stage.after:
                if name not in seen:
                    record.notes.append(
                        f"--after names stage {name!r}, which has not run in this session")
            for name in run.stage.ignore:
                if name not in writes:
                    record.notes.append(f"--ignore names {name!r}, which this cell did not write")
        if analysis.syntax_error:
            record.notes.append(f"the cell could not be analyzed: {analysis.syntax_error}")
        if not self._environment_sent:
            record.environment = capture_environment()
            self._environment_sent = True
        return record

    def _fallback_record(self, run: _CellRun, result: Any, failure: Exception) -> CellRecord:
        """Build a record that keeps the cell's place in the flow and notes why it is empty."""
        return CellRecord(
            session=self.session,
            execution_count=getattr(result, "execution_count", None),
            code_hash=code_hash(run.raw_cell),
            started_at=run.started_at,
            duration=round(time.perf_counter() - run.start, 6),
            stage=run.stage.name if run.stage else None,
            cell_id=run.cell_id,
            error=_error_of(result),
            notes=[f"flowrec could not record this cell: {type(failure).__name__}: {failure}"],
        )

    def _fingerprint_for_watch(self, name: str, value: Any, cached: bool) -> Fingerprint:
        return self._fingerprint(name, value, use_cache=cached)

    def _aliases(self, name: str, value: Any) -> list[str]:
        """Return other recorded names bound to the same object as ``name``."""
        namespace = self.shell.user_ns
        ident = id(value)
        return [other for other, (cached_id, _) in self._cache.items()
                if other != name and cached_id == ident and namespace.get(other) is value]

    def _fingerprint(self, name: str, value: Any, use_cache: bool = True,
                     notes: list[str] | None = None) -> Fingerprint:
        # NOTE: a cached fingerprint is reused while the name still refers to
        # the same object. A value mutated outside any recorded cell (a widget
        # callback, a function that changes a global it was not given) keeps
        # its stale fingerprint until a recorded cell reads and re-hashes it.
        if use_cache:
            cached = self._cache.get(name)
            if cached is not None and cached[0] == id(value):
                return cached[1]
        result = fingerprint(value)
        self._cache[name] = (id(value), result)
        if result.opaque and notes is not None:
            key = (name, result.opaque_reason or "")
            if key not in self._opaque_noted:
                self._opaque_noted.add(key)
                notes.append(f"{name} is opaque: {result.opaque_reason}")
        return result

    def _publish(self, record: CellRecord) -> None:
        bundle: dict[str, Any] = {MIME_TYPE: record.to_json()}
        if record.stage is not None:
            bundle["text/plain"] = record.summary_line()
        try:
            self.shell.display_pub.publish(data=bundle, metadata={})
        except Exception:
            log.warning("flowrec could not publish the record of %s", record.label, exc_info=True)


def _error_of(result: Any) -> dict[str, str] | None:
    error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
    if error is None:
        return None
    return {"ename": type(error).__name__, "evalue": str(error)[:500]}
