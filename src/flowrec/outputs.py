"""Safe writing of the files flowrec produces: executed notebooks and reports.

flowrec never overwrites a notebook or a file it did not write itself. A
path given for an output is checked before any work starts, and every file
is written through a temporary file in the same folder and renamed, so a
reader never sees half a file. New files get the permissions the process
umask gives, like any file the user creates.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

from .errors import BadInputError


def check_output_path(path: Path, option: str, inputs: list[Path],
                      written_by_flowrec: Callable[[Path], bool], what: str) -> Path:
    """Reject an output path that is an input, a folder, or a file flowrec did not write."""
    resolved = path.resolve()
    for other in inputs:
        if resolved == other.resolve() or (path.exists() and other.exists()
                                           and os.path.samefile(path, other)):
            raise BadInputError(
                f"{option} {str(path)!r} is the same file as {str(other)!r}; flowrec never "
                "overwrites its inputs or another output, choose another path"
            )
    if path.is_dir():
        raise BadInputError(f"{option} {str(path)!r} is a folder; give a {what} file path")
    if not path.parent.is_dir():
        raise BadInputError(f"{option} folder {str(path.parent)!r} does not exist; create it first")
    if path.exists() and not written_by_flowrec(path):
        raise BadInputError(
            f"{option} {str(path)!r} already exists and was not written by flowrec; "
            "choose another path or remove it"
        )
    return path


def is_flowrec_report(path: Path) -> bool:
    """Return whether ``path`` contains a JSON report that flowrec wrote."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "flowrec_report" in data


def write_atomic(path: Path, write: Callable[[object], None]) -> None:
    """Write a text file through a temporary sibling, then rename it over ``path``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda stream: stream.write(text))  # type: ignore[attr-defined]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
