"""The kernel environment a record was made in.

Captured once per kernel session: Python, platform, thread-count settings,
and the git commit of the repository that holds the notebook. Package
versions are collected as modules get imported, so each record can list the
distributions first imported during its cell.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

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

    Jupyter Server sets ``JPY_SESSION_NAME`` to the notebook's path; without
    it, the kernel's working directory is the best guess, and is where both
    Jupyter and papermill start kernels for a notebook.
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
    """Maps newly imported top-level modules to their distributions' versions."""

    def __init__(self) -> None:
        self._seen_modules: set[str] = set()
        self._distributions: dict[str, list[str]] | None = None

    def new_packages(self) -> dict[str, str]:
        """Return ``{distribution: version}`` for top-level modules imported since the last call."""
        current = {name.partition(".")[0] for name in list(sys.modules)}
        fresh = current - self._seen_modules
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
            if module.startswith("_") or module in sys.stdlib_module_names:
                continue
            for distribution in self._distributions.get(module, []):
                try:
                    versions[distribution] = metadata.version(distribution)
                except metadata.PackageNotFoundError:
                    continue
        return versions
