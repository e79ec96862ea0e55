"""``flowrec audit``: a reproducibility checklist scored from saved records, with no kernel.

Each item is passed, failed or unknown, with the evidence and the fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .notebook import CellEntry, flow_of

PASSED, FAILED, UNKNOWN = "passed", "failed", "unknown"
PIN_FILES = ("requirements.txt", "environment.yml", "environment.yaml", "pyproject.toml",
             "poetry.lock", "Pipfile.lock", "uv.lock", "conda-lock.yml")
_PIN_LINE = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-]+)\s*==?\s*([A-Za-z0-9_.+!\-]+)")


@dataclass
class AuditItem:
    """One checklist item: its status, the evidence behind it, and what to do."""

    name: str
    status: str
    evidence: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"item": self.name, "status": self.status, "evidence": self.evidence,
                "fix": self.fix}


def audit(path: Path, entries: list[CellEntry], report: dict[str, Any] | None) -> list[AuditItem]:
    """Score the notebook at ``path`` against the checklist."""
    recorded = [entry for entry in entries if entry.record is not None]
    if not recorded:
        reason = "the notebook holds no flowrec records"
        fix = "load flowrec (%load_ext flowrec), run all cells and save the notebook"
        return [AuditItem(name, UNKNOWN, reason, fix) for name in (
            "executed top to bottom", "no hidden state", "random generators seeded",
            "input files recorded", "environment pinned", "code committed", "last check reproduced")]
    return [
        top_to_bottom_item(entries),
        hidden_state_item(entries),
        _seeded(recorded),
        _input_files(recorded),
        _pinned(path, recorded),
        _committed(recorded),
        _last_check(report, path),
    ]


def top_to_bottom_item(entries: list[CellEntry]) -> AuditItem:
    fix = "restart the kernel, run all cells from the top, and save"
    executed = [entry for entry in entries if entry.execution_count is not None]
    skipped = [entry.index + 1 for entry in entries
               if entry.execution_count is None and entry.source.strip()]
    previous = None
    for entry in executed:
        if previous is not None and entry.execution_count <= previous.execution_count:
            return AuditItem("executed top to bottom", FAILED,
                             f"cell {entry.index + 1} ran as In [{entry.execution_count}], before "
                             f"cell {previous.index + 1} (In [{previous.execution_count}])", fix)
        previous = entry
    if skipped:
        return AuditItem("executed top to bottom", FAILED,
                         f"cells never run: {', '.join(map(str, skipped))}", fix)
    counts = [entry.execution_count for entry in executed]
    missing = sorted(set(range(counts[0], counts[-1] + 1)) - set(counts)) if counts else []
    if missing:
        shown = ", ".join(f"In [{count}]" for count in missing[:5])
        return AuditItem("executed top to bottom", FAILED,
                         f"{shown} ran but no saved cell shows it: a cell was re-run, edited "
                         "or deleted after running", fix)
    return AuditItem("executed top to bottom", PASSED,
                     f"{len(executed)} code cells ran in order, In [{executed[0].execution_count}] "
                     f"to In [{executed[-1].execution_count}]" if executed else "no code cells")


def hidden_state_item(entries: list[CellEntry]) -> AuditItem:
    graph = flow_of(entries)
    missing = [(node.key, name) for node in graph.nodes for name in node.missing_upstream]
    if missing:
        shown = ", ".join(f"{name} (read by {key})" for key, name in missing[:5])
        return AuditItem("no hidden state", FAILED,
                         f"read values that no saved cell wrote: {shown}",
                         "restart the kernel, run all cells from the top, and save; a deleted or "
                         "edited cell left these values behind")
    return AuditItem("no hidden state", PASSED,
                     "every value a cell read was written by a cell saved in the notebook")


def _seeded(recorded: list[CellEntry]) -> AuditItem:
    findings = []
    seeded: set[str] = set()  # global generators seeded by an earlier cell
    for entry in recorded:
        for hazard in entry.record.hazards:
            owner = hazard.call.rsplit(".", 1)[0]
            if hazard.kind == "seed":
                seeded.add(owner)
            elif hazard.kind == "random" and owner in seeded:
                continue
            elif hazard.kind in ("random", "hash"):
                findings.append(f"{entry.record.label}, line {hazard.line}: {hazard.call} "
                                f"({hazard.detail})")
    if findings:
        return AuditItem("random generators seeded", FAILED, "; ".join(findings[:5]),
                         "create generators with a seed, e.g. rng = np.random.default_rng(0), "
                         "or call random.seed(0) and np.random.seed(0) before drawing")
    return AuditItem("random generators seeded", PASSED, "no unseeded random draw in the records")


def _input_files(recorded: list[CellEntry]) -> AuditItem:
    reads = [(entry.record.label, access) for entry in recorded for access in entry.record.files
             if access.reads]
    if not reads:
        return AuditItem("input files recorded", PASSED, "no cell read a file through Python")
    unhashed = [f"{path.path} (read by {label})" for label, path in reads
                if path.missing or not path.digest]
    if unhashed:
        return AuditItem("input files recorded", FAILED,
                         f"files read without a hash: {', '.join(unhashed[:5])}",
                         "make the files available where the notebook reads them and run it again")
    return AuditItem("input files recorded", PASSED,
                     f"{len(reads)} file read(s) recorded with size and hash")


def _pinned(path: Path, recorded: list[CellEntry]) -> AuditItem:
    fix = ("write the recorded versions with `flowrec export NOTEBOOK --format requirements "
           "-o requirements.txt` beside the notebook")
    folders = [path.resolve().parent]
    for entry in recorded:
        git = (entry.record.environment or {}).get("git")
        if git and git.get("root"):
            folders.append(Path(git["root"]))
    unique = list(dict.fromkeys(folder.resolve() for folder in folders))
    found = [folder / name for folder in unique for name in PIN_FILES if (folder / name).is_file()]
    if not found:
        return AuditItem("environment pinned", FAILED,
                         f"no {', '.join(PIN_FILES[:3])} or lock file beside the notebook or at "
                         "the root of its repository", fix)
    recorded_versions: dict[str, str] = {}
    for entry in recorded:
        recorded_versions.update(entry.record.packages)
    pins: dict[str, str] = {}
    for pin_file in found:
        if pin_file.name in ("requirements.txt", "environment.yml", "environment.yaml"):
            for line in pin_file.read_text(encoding="utf-8", errors="replace").splitlines():
                match = _PIN_LINE.match(line)
                if match:
                    pins[_normalized(match.group(1))] = match.group(2)
    mismatches = [f"{name} {version} recorded, {pins[_normalized(name)]} pinned"
                  for name, version in sorted(recorded_versions.items())
                  if _normalized(name) in pins and pins[_normalized(name)] != version]
    if mismatches:
        return AuditItem("environment pinned", FAILED,
                         f"{found[0].name} disagrees with the recorded versions: "
                         + "; ".join(mismatches[:5]), fix)
    return AuditItem("environment pinned", PASSED,
                     f"{', '.join(str(p.name) for p in found)} found"
                     + (f"; {len(pins)} pin(s) agree with the recorded versions" if pins else ""))


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _committed(recorded: list[CellEntry]) -> AuditItem:
    states = [(entry.record.environment or {}).get("git") for entry in recorded
              if entry.record.environment]
    if not states or states[-1] is None:
        return AuditItem("code committed", UNKNOWN,
                         "the notebook was not run inside a git repository",
                         "keep the notebook and its code in a git repository and commit before "
                         "running")
    state = states[-1]
    if state.get("dirty"):
        return AuditItem("code committed", FAILED,
                         f"the repository had uncommitted changes at commit {state['commit'][:12]}",
                         "commit your changes, then run the notebook again and save it")
    return AuditItem("code committed", PASSED, f"ran at commit {state['commit'][:12]} with no "
                     "uncommitted changes")


def _last_check(report: dict[str, Any] | None, path: Path) -> AuditItem:
    fix = "run `flowrec check NOTEBOOK --json report.json` and pass it with --report"
    if report is None:
        return AuditItem("last check reproduced", UNKNOWN, "no check report given", fix)
    checked = report.get("notebook")
    if not checked or Path(checked).resolve() != path.resolve():
        return AuditItem("last check reproduced", UNKNOWN,
                         f"the report is for another notebook: {checked!r}", fix)
    if report.get("reproduced"):
        return AuditItem("last check reproduced", PASSED, "the given check report reproduced")
    return AuditItem("last check reproduced", FAILED,
                     f"the given check report did not reproduce; first divergence: "
                     f"{report.get('first_divergence')}", "fix the stages the check names")


def read_report(path: Path) -> dict[str, Any]:
    """Read a flowrec JSON check report; raise ValueError naming the problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read check report {str(path)!r}: {error}") from None
    if not isinstance(data, dict) or "flowrec_report" not in data:
        raise ValueError(f"{str(path)!r} is not a flowrec check report (written by --json)")
    return data
