"""Likely causes of a divergence, from the evidence the records carry.

For each stage where a divergence starts (a root) or that failed, the
diagnosis looks, in this order, at: input files that changed or went
missing, random generators drawn from without a seed (with the generators'
states at the stage's start as evidence), the wall clock and other per-run
values, values that depend on the hash seed, papermill parameters that
differ from the reference, and the environment (Python, platform, package
versions, thread settings). When nothing explains it, it says so.
"""

from __future__ import annotations

import ast
import logging
from typing import Any

from .compare import Comparison, Verdict
from .notebook import PARAMETERS_TAG, CellEntry

log = logging.getLogger(__name__)

NO_CAUSE = "no cause found in the records"


def diagnose(comparison: Comparison, reference: list[CellEntry], rerun: list[CellEntry],
             parameters: dict[str, Any]) -> list[str]:
    """Attach likely causes to root and failed stages; return the environment changes."""
    environment = environment_changes(reference, rerun)
    changed_parameters = parameter_changes(reference, parameters)
    old_by_index = {entry.index: entry for entry in reference}
    new_by_index = {entry.index: entry for entry in rerun}
    for stage in comparison.stages:
        if not ((stage.verdict is Verdict.DIVERGED and stage.root)
                or stage.verdict is Verdict.FAILED):
            continue
        old = old_by_index.get(stage.cell - 1)
        new = new_by_index.get(stage.cell - 1)
        causes = list(stage.input_files_changed)
        if new is not None and new.record is not None:
            causes += _hazard_causes(old.record if old is not None else None, new.record)
            for name, change in changed_parameters.items():
                if name in new.record.reads:
                    causes.append(change)
        error = new.record.error if new is not None and new.record is not None else None
        if stage.verdict is Verdict.FAILED and error and error.get("ename") == "NameError":
            causes.append(f"hidden state: {error.get('evalue')}; no cell saved in the notebook "
                          "defines it, so a deleted or edited cell did in the reference run")
        if not causes and stage.verdict is Verdict.DIVERGED:
            causes += [f"changed environment: {change}" for change in environment]
        stage.causes = causes or [NO_CAUSE]
        log.debug("cell %d (%s): causes: %s", stage.cell, stage.label, "; ".join(stage.causes))
    return environment


def _hazard_causes(reference: Any, record: Any) -> list[str]:
    causes: list[str] = []
    random_hazards = [hazard for hazard in record.hazards if hazard.kind == "random"]
    for hazard in random_hazards:
        evidence = ""
        generator = _generator_of(hazard.call)
        if (generator and reference is not None and generator in record.random_state
                and generator in reference.random_state):
            if reference.random_state[generator] == record.random_state[generator]:
                continue  # same state before and after: seeded earlier, draws reproduced
            if reference.random_state[generator][0] != record.random_state[generator][0]:
                evidence = (f"; the {generator} generator state at the stage's start differs "
                            "from the reference")
        fix = {"python": "random.seed(0)", "numpy": "rng = np.random.default_rng(0) or "
               "np.random.seed(0)"}.get(generator or "", "a generator created with a seed")
        causes.append(f"unseeded random generator: {hazard.call} at line {hazard.line} "
                      f"({hazard.detail}){evidence}; seed it, for example with {fix}")
    for hazard in record.hazards:
        if hazard.kind == "clock":
            causes.append(f"per-run value: {hazard.call} at line {hazard.line} {hazard.detail}; "
                          "pass it in as a parameter or --ignore the variable")
        elif hazard.kind == "hash":
            causes.append(f"hash-seed dependent value: {hazard.call} at line {hazard.line} "
                          f"({hazard.detail}); use a stable hash such as hashlib")
        elif hazard.kind == "set order":
            causes.append(f"hash-seed dependent ordering: {hazard.call} at line {hazard.line} "
                          f"({hazard.detail}); sort it, or set PYTHONHASHSEED")
    return causes


def _generator_of(call: str) -> str | None:
    """Return which global generator a call draws from: ``python``, ``numpy`` or None."""
    if call.startswith("random."):
        return "python"
    if call.startswith(("np.random.", "numpy.random.")):
        return "numpy"
    return None


def reference_warnings(entries: list[CellEntry]) -> list[str]:
    """Describe why saved records may not be a trustworthy reference: order and hidden state."""
    from .audit import FAILED, hidden_state_item, top_to_bottom_item

    warnings = []
    for item in (top_to_bottom_item(entries), hidden_state_item(entries)):
        if item.status == FAILED:
            warnings.append(f"the reference may not be trustworthy: {item.evidence}")
    return warnings


def overwritten_parameters(entries: list[CellEntry]) -> list[str]:
    """Name parameters that a later cell assigns again, so a value given with -p is never used."""
    defaults = parameter_defaults(entries)
    position = next((entry.index for entry in entries if PARAMETERS_TAG in entry.tags), None)
    if not defaults or position is None:
        return []
    warnings = []
    for entry in entries:
        if entry.index <= position or entry.record is None:
            continue
        for name in defaults:
            if name in entry.record.writes and name not in entry.record.mutated:
                warnings.append(f"parameter {name} is assigned again by {entry.record.label} "
                                f"(cell {entry.index + 1}), so a value given with -p only "
                                "reaches the cells before it")
    return warnings


def parameter_changes(reference: list[CellEntry], parameters: dict[str, Any]) -> dict[str, str]:
    """Return ``{name: description}`` for -p values that differ from the parameters cell."""
    defaults = parameter_defaults(reference)
    changes = {}
    for name, value in parameters.items():
        if name in defaults and defaults[name] != value:
            changes[name] = (f"parameter {name} is {value!r} in this run and {defaults[name]!r} "
                             "in the reference")
    return changes


def parameter_defaults(entries: list[CellEntry]) -> dict[str, Any]:
    """Return the literal values assigned in the cell tagged ``parameters``."""
    for entry in entries:
        if PARAMETERS_TAG not in entry.tags:
            continue
        try:
            tree = ast.parse(entry.source)
        except SyntaxError:
            return {}
        values = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                    node.targets[0], ast.Name):
                try:
                    values[node.targets[0].id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    continue
        return values
    return {}


def environment_changes(reference: list[CellEntry], rerun: list[CellEntry]) -> list[str]:
    """Describe how the environment of the re-run differs from the reference's."""
    before, after = recorded_environment(reference), recorded_environment(rerun)
    if not before or not after:
        return []
    changes = []
    for key in ("python", "implementation", "platform", "machine"):
        if before.get(key) != after.get(key):
            changes.append(f"{key} {before.get(key)} -> {after.get(key)}")
    old_variables, new_variables = before.get("variables", {}), after.get("variables", {})
    for name in sorted(set(old_variables) | set(new_variables)):
        if old_variables.get(name) != new_variables.get(name):
            changes.append(f"{name} {old_variables.get(name, 'unset')} -> "
                           f"{new_variables.get(name, 'unset')}")
    old_packages, new_packages = before.get("packages", {}), after.get("packages", {})
    for name in sorted(set(old_packages) & set(new_packages)):
        if old_packages[name] != new_packages[name]:
            changes.append(f"{name} {old_packages[name]} -> {new_packages[name]}")
    return changes


def recorded_environment(entries: list[CellEntry]) -> dict[str, Any]:
    """Merge the environment and package versions recorded in a run's records."""
    merged: dict[str, Any] = {}
    packages: dict[str, str] = {}
    for entry in entries:
        record = entry.record
        if record is None:
            continue
        if record.environment and not merged:
            merged = dict(record.environment)
        packages.update(record.packages)
    if merged:
        merged["packages"] = packages
    return merged
