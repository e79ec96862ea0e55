"""Comparison of a re-run with its reference: one verdict per recorded cell.

Cells are matched by their position in the notebook (see
:class:`~flowrec.notebook.CellEntry`). For each cell the values it wrote
are compared by fingerprint, floats within ``rtol``/``atol`` from their
numeric summaries, and its normalized outputs by digest.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .fingerprints import Fingerprint, NumericSummary
from .graph import describe_fingerprint
from .notebook import CellEntry
from .record import CellRecord

log = logging.getLogger(__name__)

DEFAULT_RTOL = 1e-05
DEFAULT_ATOL = 1e-08


class Verdict(str, Enum):
    """The outcome for one stage or step."""

    IDENTICAL = "identical"
    CLOSE = "close"
    DIVERGED = "diverged"
    FAILED = "failed"
    CHANGED_CODE = "changed code"
    NOT_RUN = "not run"
    NEW = "new"
    # Only for single values: an opaque value has no digest to compare.
    NOT_COMPARED = "not compared"

    @property
    def reproduced(self) -> bool:
        return self in (Verdict.IDENTICAL, Verdict.CLOSE, Verdict.NOT_COMPARED)


@dataclass
class ValueDiff:
    """Comparison of one written variable between the reference and the re-run."""

    name: str
    verdict: Verdict
    detail: str
    reference: Fingerprint | None = None
    rerun: Fingerprint | None = None
    differing: int | None = None
    compared: int | None = None
    max_abs: float | None = None
    max_rel: float | None = None
    judged_on_sample: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "reference": self.reference.to_json() if self.reference else None,
            "rerun": self.rerun.to_json() if self.rerun else None,
            "differing": self.differing,
            "compared": self.compared,
            "max_abs": _finite_or_none(self.max_abs),
            "max_rel": _finite_or_none(self.max_rel),
            "judged_on_sample": self.judged_on_sample,
        }


@dataclass
class StageResult:
    """The verdict for one recorded cell, with the evidence behind it."""

    cell: int
    stage: str | None
    verdict: Verdict
    reason: str
    values: list[ValueDiff] = field(default_factory=list)
    outputs_differ: bool = False
    root: bool = False
    inherited_from: list[str] = field(default_factory=list)
    reference_duration: float | None = None
    rerun_duration: float | None = None
    ignored: list[str] = field(default_factory=list)
    input_files_changed: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    # With --runs N: how many runs there were, and how many reproduced the reference.
    runs: int = 0
    agreed: int = 0
    # A unified diff of the normalized text outputs, when they differ.
    output_diff: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.stage if self.stage is not None else f"cell {self.cell}"

    @property
    def diverged_values(self) -> list[ValueDiff]:
        return [value for value in self.values if value.verdict is Verdict.DIVERGED]

    def to_json(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "stage": self.stage,
            "label": self.label,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "root": self.root,
            "inherited_from": self.inherited_from,
            "outputs_differ": self.outputs_differ,
            "values": [value.to_json() for value in self.values],
            "ignored": self.ignored,
            "input_files_changed": self.input_files_changed,
            "causes": self.causes,
            "output_diff": self.output_diff,
            "runs": self.runs or 1,
            "agreed_runs": self.agreed if self.runs else int(self.verdict.reproduced),
            "reference_duration": self.reference_duration,
            "rerun_duration": self.rerun_duration,
        }


@dataclass
class Comparison:
    """Verdicts for every recorded cell, in notebook order."""

    stages: list[StageResult]
    normalizations: list[str]
    rtol: float
    atol: float

    @property
    def reproduced(self) -> bool:
        return all(stage.verdict.reproduced for stage in self.stages)

    @property
    def not_compared(self) -> list[str]:
        """Return ``stage.variable`` for every value that could not be compared."""
        return [f"{stage.label}.{value.name}" for stage in self.stages for value in stage.values
                if value.verdict is Verdict.NOT_COMPARED]

    @property
    def first_divergence(self) -> StageResult | None:
        for stage in self.stages:
            if not stage.verdict.reproduced:
                return stage
        return None

    def to_json(self) -> dict[str, Any]:
        first = self.first_divergence
        return {
            "reproduced": self.reproduced,
            "first_divergence": first.label if first else None,
            "rtol": self.rtol,
            "atol": self.atol,
            "normalizations": self.normalizations,
            "stages": [stage.to_json() for stage in self.stages],
        }


def compare_runs(reference: list[CellEntry], rerun: list[CellEntry],
                 rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                 stopped_at: int | None = None,
                 execution_error: str | None = None,
                 changed_parameters: frozenset[str] = frozenset()) -> Comparison:
    """Compare the cells of a re-run with those of its reference.

    ``stopped_at`` is the index of the cell where the re-run stopped (a
    failure, timeout or dead kernel), which fails with ``execution_error``;
    later cells are "not run". ``changed_parameters`` are names given
    another value with ``-p`` than the reference had.
    """
    by_index = {entry.index: entry for entry in reference}
    results: list[StageResult] = []
    normalizations: set[str] = set()
    changed_values: dict[str, str] = {}  # variable -> label of the stage whose write of it diverged
    for new in rerun:
        old = by_index.get(new.index)
        normalizations |= new.normalizations
        if old is not None:
            normalizations |= old.normalizations
        result = _compare_cell(old, new, rtol, atol, stopped_at, execution_error)
        if result is None:
            continue
        if not result.verdict.reproduced:
            # A changed input file explains a failure or divergence better than anything else.
            causes = file_changes(old.record if old is not None else None, new.record)
            if causes:
                result.input_files_changed = causes
                result.reason = "; ".join(causes) + "; " + result.reason
        if result.verdict is Verdict.DIVERGED:
            _mark_root_or_inherited(result, old, new, changed_values, changed_parameters)
        if new.record is not None and not result.verdict.reproduced:
            if result.verdict is Verdict.DIVERGED:
                names = [value.name for value in result.values
                         if value.verdict is Verdict.DIVERGED]
            else:
                names = list(new.record.writes)  # changed code or failed: all it wrote
            for name in names:
                changed_values[name] = result.label
        log.debug("cell %d (%s): %s: %s", result.cell, result.label, result.verdict.value,
                  result.reason)
        results.append(result)
    return Comparison(results, sorted(normalizations), rtol, atol)


def _compare_cell(old: CellEntry | None, new: CellEntry, rtol: float, atol: float,
                  stopped_at: int | None, execution_error: str | None) -> StageResult | None:
    record = new.record
    reference = old.record if old is not None else None
    stage = record.stage if record is not None else None
    if stage is None and reference is not None:
        stage = reference.stage
    cell = new.index + 1

    if record is None:
        if stopped_at is not None and new.index == stopped_at:
            return StageResult(cell, stage, Verdict.FAILED,
                               execution_error or "the cell did not finish")
        if reference is None and (old is None or old.execution_count is None):
            return None  # never run in either: nothing to say
        if stopped_at is not None and new.index > stopped_at:
            return StageResult(cell, stage, Verdict.NOT_RUN,
                               f"the re-run stopped at cell {stopped_at + 1} before reaching it")
        return StageResult(cell, stage, Verdict.NOT_RUN, "the re-run left no record for this cell")

    result = StageResult(cell, stage, Verdict.IDENTICAL, "",
                         rerun_duration=record.duration,
                         reference_duration=reference.duration if reference else None)

    if reference is None:
        if old is None or old.execution_count is None:
            result.verdict = Verdict.NEW
            result.reason = "the reference never ran this cell"
            return result
        # Executed in the reference but unrecorded (it ran before flowrec was
        # loaded): its outputs are all there is to compare.
        if old.outputs_digest != new.outputs_digest:
            result.verdict = Verdict.DIVERGED
            result.outputs_differ = True
            result.reason = "outputs differ (no reference record; compared outputs only)"
        else:
            result.reason = "outputs equal (no reference record; compared outputs only)"
        return _with_failure(result, new, record.error)

    edited = old is not None and old.code_changed
    expected_error = new.raises_expected
    # A failure comes first: the run stopped here, whatever else changed.
    if record.error and not expected_error:
        _with_failure(result, new, record.error)
        if execution_error and "timed out" in execution_error and new.index == stopped_at:
            result.reason = execution_error  # nbclient interrupts the cell on timeout
        if edited:
            result.reason += " (the cell was also edited after its reference run)"
        return result
    if edited:
        result.verdict = Verdict.CHANGED_CODE
        result.reason = "the cell was edited after the reference run that its record describes"
        return result
    if reference.stage != record.stage:
        result.verdict = Verdict.CHANGED_CODE
        result.reason = f"stage name changed from {reference.label!r} to {record.label!r}"
        return result

    if expected_error and (record.error or {}).get("ename") != (reference.error or {}).get("ename"):
        result.verdict = Verdict.DIVERGED
        result.reason = (f"expected exception changed from {_error_name(reference.error)} "
                         f"to {_error_name(record.error)}")
        return result
    if reference.error and not record.error:
        result.verdict = Verdict.DIVERGED
        result.reason = f"the reference raised {_error_name(reference.error)}; the re-run did not"
        return result

    ignored = set(reference.ignore) | set(record.ignore)
    result.ignored = sorted(name for name in ignored if name in reference.writes or name in record.writes)
    for name in list(dict.fromkeys([*reference.writes, *record.writes])):
        if name in ignored:
            continue
        result.values.append(compare_fingerprints(name, reference.writes.get(name),
                                                  record.writes.get(name), rtol, atol))
    result.values.extend(_written_files(reference, record))
    result.outputs_differ = old is not None and old.outputs_digest != new.outputs_digest
    if result.outputs_differ and old is not None:
        result.output_diff = output_diff(old.normalized_outputs, new.normalized_outputs)

    diverged = [value for value in result.values if value.verdict is Verdict.DIVERGED]
    close = [value for value in result.values if value.verdict is Verdict.CLOSE]
    if diverged or result.outputs_differ:
        result.verdict = Verdict.DIVERGED
        parts = [f"{value.name}: {value.detail}" for value in diverged]
        if result.outputs_differ:
            parts.append("outputs differ")
        result.reason = "; ".join(parts)
    elif close:
        result.verdict = Verdict.CLOSE
        result.reason = "; ".join(f"{value.name}: {value.detail}" for value in close)
    else:
        compared = [value for value in result.values if value.verdict is Verdict.IDENTICAL]
        count = len(compared)
        result.reason = f"{count} value(s) and outputs identical" if count else "outputs identical"
    skipped = [value for value in result.values if value.verdict is Verdict.NOT_COMPARED]
    if skipped:
        names = ", ".join(f"{value.name} ({value.detail.removeprefix('not compared, ')})"
                          for value in skipped)
        result.reason += f"; not compared: {names}"
    return result


OUTPUT_DIFF_LINES = 40


def output_diff(reference: list[dict[str, Any]], rerun: list[dict[str, Any]]) -> list[str]:
    """Return a short unified diff of two cells' normalized outputs, as text lines."""
    import difflib
    import json

    def lines(outputs: list[dict[str, Any]]) -> list[str]:
        shown: list[str] = []
        for output in outputs:
            if "stream" in output:
                shown += [f"[{output['stream']}] {line}" for line in output["text"].splitlines()]
            elif "error" in output:
                shown.append(f"[error] {output['error']}: {output['value']}")
            else:
                for mime, value in output.get("display", {}).items():
                    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
                    if mime.startswith("image/"):
                        text = f"<{len(text)} characters of {mime}>"
                    shown += [f"[{mime}] {line}" for line in text.splitlines()[:50]]
        return shown

    diff = list(difflib.unified_diff(lines(reference), lines(rerun), "reference", "re-run",
                                     lineterm="", n=1))
    if len(diff) > OUTPUT_DIFF_LINES:
        diff = diff[:OUTPUT_DIFF_LINES] + [f"... {len(diff) - OUTPUT_DIFF_LINES} more lines"]
    return diff


def _written_files(reference: CellRecord, record: CellRecord) -> list[ValueDiff]:
    """Compare the files a cell wrote in both runs, as values named ``file:PATH``."""
    before = {access.path: access for access in reference.files if access.writes}
    diffs = []
    for access in record.files:
        earlier = before.get(access.path)
        if not access.writes or earlier is None or not earlier.digest or not access.digest:
            continue
        name = f"file:{access.path}"
        if earlier.digest == access.digest:
            diffs.append(ValueDiff(name, Verdict.IDENTICAL, "identical"))
        else:
            diffs.append(ValueDiff(name, Verdict.DIVERGED,
                                   f"written file differs ({earlier.size} bytes, "
                                   f"{earlier.digest[:12]} -> {access.size} bytes, "
                                   f"{access.digest[:12]})"))
    return diffs


def _with_failure(result: StageResult, new: CellEntry, error: dict[str, str] | None) -> StageResult:
    if error and not new.raises_expected:
        result.verdict = Verdict.FAILED
        result.reason = f"raised {_error_name(error)}"
    return result


def file_changes(reference: CellRecord | None, record: CellRecord | None) -> list[str]:
    """Describe the input files that are missing or changed since the reference run."""
    if reference is None or record is None:
        return []
    before = {access.path: access for access in reference.files if access.reads}
    changes: list[str] = []
    for access in record.files:
        earlier = before.get(access.path)
        if earlier is None or not access.reads:
            continue
        if access.missing and not earlier.missing:
            changes.append(f"input file missing: {access.path}")
        elif earlier.digest and access.digest and earlier.digest != access.digest:
            changes.append(f"input file changed: {access.path} ({earlier.size} bytes, "
                           f"{earlier.digest[:12]} -> {access.size} bytes, {access.digest[:12]})")
    return changes


def _mark_root_or_inherited(result: StageResult, old: CellEntry | None, new: CellEntry,
                            changed_values: dict[str, str],
                            changed_parameters: frozenset[str] = frozenset()) -> None:
    """Mark a diverged stage as inherited when an input it read had already diverged."""
    reference = old.record if old is not None else None
    record = new.record
    causes: list[str] = []
    unexplained: list[str] = []
    if reference is not None and record is not None:
        # A read file whose content changed because an earlier stage wrote it differently.
        earlier_files = {access.path: access for access in reference.files if access.reads}
        for access in record.files:
            earlier = earlier_files.get(access.path)
            source = changed_values.get(f"file:{access.path}")
            if (access.reads and earlier is not None and source is not None
                    and earlier.digest != access.digest):
                causes.append(f"file {access.path} from {source}")
        for name, fingerprint in record.reads.items():
            earlier = reference.reads.get(name)
            if earlier is None or earlier.digest == fingerprint.digest:
                continue
            source = changed_values.get(name)
            if source is not None:
                causes.append(f"{name} from {source}")
            else:
                unexplained.append(name)
    if causes:
        result.inherited_from = causes
        return
    result.root = True
    parameters = [name for name in unexplained if name in changed_parameters]
    if parameters:
        result.reason += f"; its input {', '.join(parameters)} was set with -p"
        unexplained = [name for name in unexplained if name not in changed_parameters]
    if unexplained:
        # The input differs although no earlier cell changed it in this run.
        result.reason += (f"; its input {', '.join(unexplained)} differed from the reference "
                          "although no earlier cell changed it: the reference was probably "
                          "recorded out of order or from state left by a deleted cell")


def compare_fingerprints(name: str, reference: Fingerprint | None, rerun: Fingerprint | None,
                         rtol: float, atol: float) -> ValueDiff:
    """Compare two fingerprints of one variable, within tolerance for floats."""
    if reference is None:
        return ValueDiff(name, Verdict.DIVERGED, "written only in the re-run", None, rerun)
    if rerun is None:
        return ValueDiff(name, Verdict.DIVERGED, "written only in the reference", reference, None)
    if reference.opaque or rerun.opaque:
        reason = rerun.opaque_reason or reference.opaque_reason
        return ValueDiff(name, Verdict.NOT_COMPARED, f"not compared, opaque: {reason}",
                         reference, rerun)
    if reference.digest == rerun.digest:
        return ValueDiff(name, Verdict.IDENTICAL, "identical", reference, rerun)
    if reference.type_name != rerun.type_name:
        return ValueDiff(name, Verdict.DIVERGED,
                         f"type changed from {reference.type_name} to {rerun.type_name}",
                         reference, rerun)
    if reference.shape != rerun.shape:
        return ValueDiff(name, Verdict.DIVERGED,
                         f"shape changed from {reference.shape} to {rerun.shape}", reference, rerun)
    if reference.dtype != rerun.dtype:
        return ValueDiff(name, Verdict.DIVERGED,
                         f"dtype changed from {reference.dtype} to {rerun.dtype}", reference, rerun)
    if reference.length != rerun.length:
        return ValueDiff(name, Verdict.DIVERGED,
                         f"length changed from {reference.length} to {rerun.length}",
                         reference, rerun)
    if reference.summary is None or rerun.summary is None:
        description = describe_fingerprint(reference).rsplit(" ", 1)[0]
        return ValueDiff(name, Verdict.DIVERGED,
                         f"{description}: content differs (digest {reference.digest[:12]} "
                         f"vs {rerun.digest[:12]})", reference, rerun)
    return _compare_summaries(name, reference, rerun, rtol, atol)


def _compare_summaries(name: str, reference: Fingerprint, rerun: Fingerprint,
                       rtol: float, atol: float) -> ValueDiff:
    old: NumericSummary = reference.summary  # type: ignore[assignment]
    new: NumericSummary = rerun.summary  # type: ignore[assignment]
    description = describe_fingerprint(reference).rsplit(" ", 1)[0]
    if old.rest != new.rest:
        return ValueDiff(name, Verdict.DIVERGED,
                         f"{description}: index, column names or non-float columns differ",
                         reference, rerun)
    if old.count != new.count or old.nan != new.nan or old.inf != new.inf:
        return ValueDiff(name, Verdict.DIVERGED,
                         f"{description}: NaN or infinity counts differ ({old.nan} NaN, {old.inf} inf "
                         f"vs {new.nan} NaN, {new.inf} inf)", reference, rerun)

    old_sample = dict(old.sample)
    new_sample = dict(new.sample)
    positions = [position for position in old_sample if position in new_sample]
    differing = 0
    max_abs = 0.0
    max_rel = 0.0
    beyond = 0
    for position in positions:
        a, b = old_sample[position], new_sample[position]
        if a == b or (math.isnan(a) and math.isnan(b)):
            continue
        differing += 1
        difference = abs(b - a) if math.isfinite(a) and math.isfinite(b) else math.inf
        max_abs = max(max_abs, difference)
        if a != 0:
            max_rel = max(max_rel, difference / abs(a))
        elif difference:
            max_rel = math.inf
        if not difference <= atol + rtol * abs(a):
            beyond += 1

    # Statistics stand in for the values left out of the sample.
    stats_close = all(
        _close(x, y, rtol, atol)
        for x, y in ((old.min, new.min), (old.max, new.max), (old.mean, new.mean), (old.std, new.std))
    )
    on_sample = not (old.complete and new.complete)
    if old.count == 1 and not on_sample and positions:
        a, b = old_sample[positions[0]], new_sample[positions[0]]
        counted = f"{a!r} became {b!r}" if differing else "equal"
    else:
        counted = (f"{differing} of {len(positions)} elements differ" if not on_sample
                   else f"{differing} of {len(positions)} sampled elements differ")
    magnitude = ""
    if differing and old.count > 1:
        magnitude = f", max abs diff {max_abs:.3g}, max rel diff {max_rel:.3g}"
    detail = f"{description}: {counted}{magnitude}"
    verdict = Verdict.CLOSE if beyond == 0 and stats_close else Verdict.DIVERGED
    if verdict is Verdict.CLOSE:
        detail += f" (within rtol={rtol:g}, atol={atol:g}"
        detail += ", judged on summary and sample)" if on_sample else ")"
    elif beyond == 0:
        detail += "; summary statistics differ beyond tolerance"
    return ValueDiff(name, verdict, detail, reference, rerun, differing, len(positions),
                     max_abs if differing else 0.0, max_rel if differing else 0.0, on_sample)


def _close(a: float | None, b: float | None, rtol: float, atol: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= atol + rtol * abs(a)


def _error_name(error: dict[str, str] | None) -> str:
    if not error:
        return "no exception"
    value = error.get("evalue", "")
    return f"{error.get('ename', 'an exception')}: {value}" if value else error.get("ename", "")


def _finite_or_none(value: float | None) -> float | str | None:
    if value is None:
        return None
    if math.isinf(value):
        return "inf"
    return value
