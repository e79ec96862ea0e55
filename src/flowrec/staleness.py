"""Staleness of recorded cells: cells whose inputs changed after they ran.

A cell is stale when a value it read now has another fingerprint, written
by a later run of another cell, or when a cell it depends on is stale.
Nothing re-runs by itself: ``%flow stale`` lists stale cells and
``%flow rerun`` runs them again in the order they last ran.
"""

from __future__ import annotations

from .record import CellRecord, Upstream


def find_stale(latest: dict[str, CellRecord], last_writer: dict[str, Upstream],
               last_file_writer: dict[str, Upstream] | None = None,
               run_owner: dict[tuple[str, int | None], str] | None = None) -> dict[str, str]:
    """Return ``{node key: reason}`` for every stale cell, in the order cells last ran.

    ``latest`` maps each cell's key to its newest record, oldest run first;
    ``last_writer`` maps each variable to the run that wrote its current value,
    and ``last_file_writer`` each file path to the run that last wrote the
    file. ``run_owner`` maps every run, older ones too, to its cell's key.
    """
    owners = dict(run_owner or {})
    owners.update({(record.session, record.execution_count): key
                   for key, record in latest.items()})
    stale: dict[str, str] = {}
    for key, record in latest.items():
        reasons: list[str] = []
        for name, seen in record.reads.items():
            current = last_writer.get(name)
            if current is None or seen.opaque or not current.digest:
                continue
            if current.execution_count == record.execution_count:
                continue  # the cell changed the value itself after reading it
            if current.digest != seen.digest:
                writer = current.stage or f"In [{current.execution_count}]"
                reasons.append(f"{name} changed since it ran (now written by {writer})")
        for access in record.files:
            current = (last_file_writer or {}).get(access.path)
            if (current is None or not access.reads or not access.digest or not current.digest
                    or current.execution_count == record.execution_count):
                continue
            if current.digest != access.digest:
                writer = current.stage or f"In [{current.execution_count}]"
                reasons.append(f"file {access.path} changed since it ran (now written by {writer})")
        for link in record.upstream:
            source = owners.get((record.session, link.execution_count))
            if source is not None and source != key and source in stale:
                label = latest[source].label
                reason = f"depends on stale {label}"
                if reason not in reasons:
                    reasons.append(reason)
        if reasons:
            stale[key] = "; ".join(reasons)
    return stale
