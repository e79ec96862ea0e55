"""The JSON form of a cell record."""

from __future__ import annotations

import json

import pytest

from flowrec.errors import RecordFormatError
from flowrec.fingerprints import fingerprint
from flowrec.record import CellRecord, Upstream


def make_record():
    return CellRecord(
        session="abc", execution_count=4, code_hash="f00", started_at="2026-01-01T00:00:00.000+00:00",
        duration=0.25, stage="train", after=["load"], ignore=["seconds"],
        reads={"x": fingerprint([1.0, 2.0])}, writes={"model": fingerprint({"w": 1})},
        deletes=["tmp"], mutated=[], upstream=[Upstream("x", "load", 3, "d1")],
        error={"ename": "ValueError", "evalue": "bad"}, packages={"numpy": "2.0.0"},
        environment={"python": "3.11.7"}, notes=["n is opaque: a lock"],
    )


def test_round_trip():
    """A record read back from its JSON equals the original, field by field."""
    original = make_record()
    restored = CellRecord.from_json(json.loads(json.dumps(original.to_json())))
    assert restored.to_json() == original.to_json()
    assert restored.label == "train"


def test_unnamed_step_label():
    """An unnamed step is labelled by its execution count."""
    step = make_record()
    step.stage = None
    assert step.label == "step [4]"


@pytest.mark.parametrize(
    "payload, message",
    [
        ([], "a flowrec record must be a JSON object, not list"),
        ({"version": 2}, "flowrec record version 2 is not supported"),
        ({"version": 1}, "malformed flowrec record: KeyError: 'session'"),
        ({"version": 1, "session": "s", "code_hash": "h", "started_at": "t", "duration": "slow"},
         "malformed flowrec record: ValueError"),
    ],
)
def test_malformed(payload, message):
    """Malformed records raise RecordFormatError naming the problem."""
    with pytest.raises(RecordFormatError, match=message):
        CellRecord.from_json(payload)
