"""The record of one cell run, and its JSON form.

A record is plain JSON (never pickle): it is emitted by the kernel as a
display output of MIME type :data:`MIME_TYPE` and read back from the saved
notebook. docs/record-format.md documents every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import xxhash

from .errors import RecordFormatError
from .files import FileAccess
from .fingerprints import Fingerprint
from .hashing import ENCODING_VERSION
from .hazards import Hazard

MIME_TYPE = "application/vnd.flowrec.stage+json"
# Outputs that show the flow (listings, panels): never compared by flowrec check.
FLOW_MIME_TYPE = "application/vnd.flowrec.flow+json"
_ALWAYS_WRITTEN = frozenset({"version", "encoding", "session", "stage", "execution_count",
                             "code_hash", "started_at", "duration", "reads", "writes"})
RECORD_VERSION = 1


def code_hash(source: str) -> str:
    """Return the digest that identifies a cell's source text."""
    return xxhash.xxh3_128_hexdigest(source.encode("utf-8", "surrogatepass"))


@dataclass
class Upstream:
    """Origin of a value a cell read: the last cell run that wrote it."""

    name: str
    stage: str | None
    execution_count: int | None
    digest: str
    kind: str = "variable"  # or "file": then ``name`` is the file's path

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stage": self.stage,
            "execution_count": self.execution_count,
            "digest": self.digest,
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Upstream:
        return cls(data["name"], data.get("stage"), data.get("execution_count"),
                   data.get("digest", ""), data.get("kind", "variable"))


@dataclass
class CellRecord:
    """The recorder's account of one cell run.

    ``stage`` is None for an unnamed step (a cell without ``%%flow_stage``).
    ``reads`` contains the fingerprints of values as the cell found them,
    ``writes`` those of the values it bound or changed, as it left them.
    """

    session: str
    execution_count: int | None
    code_hash: str
    started_at: str
    duration: float
    stage: str | None = None
    after: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    cell_id: str | None = None
    reads: dict[str, Fingerprint] = field(default_factory=dict)
    writes: dict[str, Fingerprint] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    mutated: list[str] = field(default_factory=list)
    files: list[FileAccess] = field(default_factory=list)
    upstream: list[Upstream] = field(default_factory=list)
    hazards: list[Hazard] = field(default_factory=list)
    # Digests of the global random generators' states at the cell's start and end.
    random_state: dict[str, list[str]] = field(default_factory=dict)
    error: dict[str, str] | None = None
    packages: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    version: int = RECORD_VERSION
    encoding: int = ENCODING_VERSION

    @property
    def label(self) -> str:
        """The stage name, or ``step [n]`` for an unnamed step."""
        if self.stage is not None:
            return self.stage
        count = "?" if self.execution_count is None else self.execution_count
        return f"step [{count}]"

    def summary_line(self) -> str:
        """Return the one-line ``text/plain`` form shown under a stage cell."""
        wrote = ", ".join(self.writes) or "nothing"
        read = ", ".join(self.reads) or "nothing"
        status = f"failed with {self.error['ename']}" if self.error else f"{self.duration:.2f} s"
        return f"flowrec stage {self.label!r}: read {read}; wrote {wrote} ({status})"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": self.version,
            "encoding": self.encoding,
            "session": self.session,
            "stage": self.stage,
            "cell_id": self.cell_id,
            "execution_count": self.execution_count,
            "code_hash": self.code_hash,
            "started_at": self.started_at,
            "duration": self.duration,
            "after": list(self.after),
            "ignore": list(self.ignore),
            "reads": {name: fp.to_json() for name, fp in self.reads.items()},
            "writes": {name: fp.to_json() for name, fp in self.writes.items()},
            "deletes": list(self.deletes),
            "mutated": list(self.mutated),
            "files": [access.to_json() for access in self.files],
            "hazards": [hazard.to_json() for hazard in self.hazards],
            "random_state": dict(self.random_state),
            "upstream": [item.to_json() for item in self.upstream],
            "error": self.error,
            "packages": dict(self.packages),
            "notes": list(self.notes),
        }
        if self.environment is not None:
            data["environment"] = self.environment
        # Empty lists and mappings are left out: a record is sent and saved for every cell.
        return {key: value for key, value in data.items()
                if key in _ALWAYS_WRITTEN or value not in ([], {}, None)}

    @classmethod
    def from_json(cls, data: Any) -> CellRecord:
        """Build a record from its JSON form; raise RecordFormatError when it is malformed."""
        if not isinstance(data, dict):
            raise RecordFormatError(f"a flowrec record must be a JSON object, not {type(data).__name__}")
        version = data.get("version")
        if version != RECORD_VERSION:
            raise RecordFormatError(
                f"flowrec record version {version!r} is not supported (this flowrec reads "
                f"version {RECORD_VERSION}); re-run the notebook to record it again"
            )
        try:
            return cls(
                version=version,
                encoding=int(data.get("encoding", 1)),
                session=str(data["session"]),
                stage=data.get("stage"),
                cell_id=data.get("cell_id"),
                execution_count=data.get("execution_count"),
                code_hash=str(data["code_hash"]),
                started_at=str(data["started_at"]),
                duration=float(data["duration"]),
                after=list(data.get("after", [])),
                ignore=list(data.get("ignore", [])),
                reads={k: Fingerprint.from_json(v) for k, v in data.get("reads", {}).items()},
                writes={k: Fingerprint.from_json(v) for k, v in data.get("writes", {}).items()},
                deletes=list(data.get("deletes", [])),
                mutated=list(data.get("mutated", [])),
                files=[FileAccess.from_json(item) for item in data.get("files", [])],
                hazards=[Hazard.from_json(item) for item in data.get("hazards", [])],
                random_state={str(k): list(v) for k, v in data.get("random_state", {}).items()},
                upstream=[Upstream.from_json(item) for item in data.get("upstream", [])],
                error=data.get("error"),
                packages=dict(data.get("packages", {})),
                environment=data.get("environment"),
                notes=list(data.get("notes", [])),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise RecordFormatError(f"malformed flowrec record: {type(error).__name__}: {error}") from error


def node_key(record: CellRecord) -> str:
    """Return the identity of a record's cell across runs: cell id, stage name, or code."""
    if record.cell_id:
        return f"id:{record.cell_id}"
    if record.stage is not None:
        return f"stage:{record.stage}"
    return f"code:{record.code_hash}"
