"""Detection of a cell's changes to the namespace, at a cost that grows with what it touched.

Before a cell runs, :func:`watch_cell` notes the values the cell may read or
change: names in its source, globals reached through user functions it
uses, and a cheap marker of the namespace's newest key. After it ran,
:func:`find_changes` compares. Only a cell whose source can bind names
invisibly (``exec``, ``globals()``, ``%run``, star imports) pays for a full
snapshot of the namespace's object ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .analysis import CellAnalysis
from .fingerprints import Fingerprint
from .reach import globals_reached

# Names IPython and Python bind in the user namespace (output and input
# history, __builtins__, __warningregistry__, ...). They are never part of a flow.
_IPYTHON_NAME = re.compile(
    r"^(_+|_i+|_i?\d+|_[oid]h|__\w+__|_exit_code|In|Out|get_ipython|exit|quit)$")


def is_tracked_name(name: str) -> bool:
    """Return whether a global name can be part of the flow."""
    return not _IPYTHON_NAME.match(name)


@dataclass
class Watch:
    """Notes taken on the namespace before a cell ran."""

    reads: dict[str, Fingerprint]
    read_ids: dict[str, int]
    # Globals that user functions the cell uses may store to: compared after.
    guarded: dict[str, tuple[int, Fingerprint]]
    length: int
    newest_key: str | None
    deletable: set[str]
    ids: dict[str, int] | None = None


@dataclass
class Changes:
    """Names the cell bound, changed in place, or deleted."""

    writes: dict[str, Fingerprint] = field(default_factory=dict)
    mutated: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)


Fingerprinter = Callable[[str, Any, bool], Fingerprint]


def watch_cell(namespace: dict[str, Any], analysis: CellAnalysis,
               fingerprint_of: Fingerprinter, hidden: dict[str, Any] | None = None) -> Watch:
    """Fingerprint what the cell may read, and mark the namespace for later comparison.

    ``hidden`` is IPython's ``user_ns_hidden``: names the shell itself put in
    the namespace (such as ipykernel's ``open``) are not reads while they
    still hold the shell's object.
    """
    hidden = hidden or {}
    names = [name for name in analysis.reads if name in namespace and is_tracked_name(name)
             and not (name in hidden and hidden[name] is namespace[name])]
    # A function defined and called in the same cell reads its free names now.
    for function in analysis.calls:
        for name in analysis.deferred.get(function, []):
            if name in namespace and is_tracked_name(name) and name not in names:
                names.append(name)
    reached_loads, reached_stores = globals_reached(names, namespace)
    for name in reached_loads:
        if name not in names and is_tracked_name(name):
            names.append(name)
    reads: dict[str, Fingerprint] = {}
    read_ids: dict[str, int] = {}
    for name in names:
        value = namespace[name]
        # A builtin container can change through another name bound to one of
        # its items, which the cache cannot see, so it is hashed again.
        cached = type(value) not in (list, dict, set, tuple)
        reads[name] = fingerprint_of(name, value, cached)
        read_ids[name] = id(value)
    guarded = {}
    for name in reached_stores:
        if name in namespace and name not in reads and is_tracked_name(name):
            value = namespace[name]
            guarded[name] = (id(value), fingerprint_of(name, value, True))
    ids = dict(zip(namespace, map(id, namespace.values()))) if analysis.dynamic_namespace else None
    deletable = {name for name in analysis.deletes if name in namespace}
    return Watch(reads, read_ids, guarded, len(namespace), _newest_key(namespace), deletable, ids)


def find_changes(namespace: dict[str, Any], analysis: CellAnalysis, watch: Watch,
                 fingerprint_of: Fingerprinter,
                 aliases_of: Callable[[str, Any], list[str]]) -> Changes:
    """Compare the namespace after the cell with what ``watch`` noted before it."""
    candidates: list[str] = []
    for name in [*analysis.writes, *analysis.mutations, *_added_names(namespace, watch),
                 *watch.reads, *watch.guarded, *_rebound_names(namespace, watch)]:
        if name not in candidates and is_tracked_name(name) and name in namespace:
            candidates.append(name)

    changes = Changes()
    for name in candidates:
        value = namespace[name]
        after = fingerprint_of(name, value, False)
        before_id, before = _before(name, watch)
        if before is not None and name not in analysis.writes:
            if id(value) == before_id and _same(before, after):
                continue
            if id(value) == before_id:
                changes.mutated.append(name)
        changes.writes[name] = after

    # A value changed in place is changed under every name bound to it.
    for name in list(changes.mutated):
        value = namespace[name]
        for alias in aliases_of(name, value):
            if alias not in changes.writes and is_tracked_name(alias):
                changes.writes[alias] = changes.writes[name]
                changes.mutated.append(alias)

    gone = [name for name in analysis.deletes if name not in namespace]
    if watch.ids is not None:
        gone += [name for name in watch.ids if name not in namespace]
    changes.deletes = [name for name in dict.fromkeys(gone)
                       if is_tracked_name(name) and _existed(name, watch)]
    return changes


def _before(name: str, watch: Watch) -> tuple[int | None, Fingerprint | None]:
    if name in watch.reads:
        return watch.read_ids[name], watch.reads[name]
    if name in watch.guarded:
        return watch.guarded[name]
    return None, None


def _existed(name: str, watch: Watch) -> bool:
    return name in watch.deletable or (watch.ids is not None and name in watch.ids)


def _newest_key(namespace: dict[str, Any]) -> str | None:
    return next(reversed(namespace), None) if namespace else None


def _added_names(namespace: dict[str, Any], watch: Watch) -> list[str]:
    """Return names added during the cell: dicts append new keys at the end."""
    if watch.ids is not None:
        return [name for name in namespace if name not in watch.ids]
    added = []
    for key in reversed(namespace):
        if key == watch.newest_key:
            return added
        added.append(key)
    # The newest key from before is gone, so new keys cannot be separated from
    # older ones without a full snapshot, which only dynamic cells take.
    return added if watch.newest_key is None else []


def _rebound_names(namespace: dict[str, Any], watch: Watch) -> list[str]:
    """Return names bound to another object after a cell that may rebind invisibly."""
    if watch.ids is None:
        return []
    return [name for name, ident in watch.ids.items()
            if name in namespace and id(namespace[name]) != ident]


def _same(first: Fingerprint, second: Fingerprint) -> bool:
    if first.opaque or second.opaque:
        # Opaque values cannot be compared; only rebinding counts as a write.
        return True
    return first.digest == second.digest
