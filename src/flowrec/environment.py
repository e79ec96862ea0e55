"""The kernel environment a record was made in.

The session part is captured once per kernel session: Python, platform,
thread-count settings, and the git commit of the repository that contains
the notebook. Package versions come from the values each cell writes, so
each record lists the distributions its cell used first.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
import types
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

# Environment variables that change numeric results or their order.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "PYTHONHASHSEED",
)
GIT_TIMEOUT_SECONDS = 5


def notebook_directory() -> Path:
    """Return the folder of the notebook this kernel serves, as far as it is known.

    Jupyter Server sets ``JPY_SESSION_NAME`` to the notebook's path. Without
    it, the kernel's working directory is the best guess, because Jupyter and
    papermill both start a notebook's kernel in the notebook's folder.
    """
    session_name = os.environ.get("JPY_SESSION_NAME")
    if session_name:
        candidate = Path(session_name)
        if not candidate.is_absolute():
            candidate = Path.cwd() / candidate
        if candidate.parent.is_dir():
            return candidate.parent
    return Path.cwd()


def capture_environment(directory: Path | None = None) -> dict[str, Any]:
    """Return the session-wide facts that can change a notebook's results."""
    directory = directory or notebook_directory()
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "executable": sys.executable,
        "variables": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
        "git": git_state(directory),
    }


def git_state(directory: Path) -> dict[str, Any] | None:
    """Return the commit and the dirty flag of the repository holding ``directory``.

    Returns None when the folder is in no repository or git is not installed.
    """
    try:
        commit = _git(directory, "rev-parse", "HEAD")
        if commit is None:
            return None
        status = _git(directory, "status", "--porcelain", "--untracked-files=no")
        root = _git(directory, "rev-parse", "--show-toplevel")
    except OSError:
        return None
    return {"commit": commit, "dirty": bool(status), "root": root}


def _git(directory: Path, *args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("git %s timed out after %s s in %s", args[0], GIT_TIMEOUT_SECONDS, directory)
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


class PackageTracker:
    """Finds the distributions behind the values a notebook uses, and their versions.

    A cell's written values name their packages: a module bound by an
    import, or the module that defines a value's type or function. Each
    distribution is reported once per session, by the first cell that
    used it.
    """

    def __init__(self) -> None:
        self._seen_modules: set[str] = set()
        self._distributions: dict[str, list[str]] | None = None

    def new_packages(self, values: Iterable[Any]) -> dict[str, str]:
        """Return ``{distribution: version}`` for packages of ``values`` not reported yet."""
        fresh: set[str] = set()
        for value in values:
            module = top_level_module(value)
            if module and module not in self._seen_modules:
                fresh.add(module)
        self._seen_modules |= fresh
        if not fresh:
            return {}
        if self._distributions is None:
            try:
                self._distributions = dict(metadata.packages_distributions())
            except Exception:  # broken metadata of one installed package must not stop recording
                log.warning("cannot read installed package metadata", exc_info=True)
                self._distributions = {}
        versions: dict[str, str] = {}
        for module in sorted(fresh):
            if module in sys.stdlib_module_names or module in ("builtins", "__main__"):
                continue
            for distribution in self._distributions.get(module, []):
                try:
                    versions[distribution] = metadata.version(distribution)
                except metadata.PackageNotFoundError:
                    continue
        return versions


def top_level_module(value: Any) -> str | None:
    """Return the top-level package a value comes from: a module's own, or its type's.

    Only the value's type is inspected through ``isinstance``-free checks, so
    objects with a hostile ``__getattribute__`` are never touched.
    """
    cls = type(value)
    try:
        if issubclass(cls, types.ModuleType):
            name = types.ModuleType.__getattribute__(value, "__name__")
        elif cls in (types.FunctionType, types.BuiltinFunctionType, type):
            name = object.__getattribute__(value, "__module__")
        else:
            name = cls.__module__
    except Exception:  # a module or function without the usual attributes
        return None
    return str(name or "").partition(".")[0] or None
