"""Files a cell opens, seen through Python audit hooks, with their content hashes.

CPython raises the ``open`` audit event for ``open()``, ``io.open``,
``os.open`` and every library that opens files through them: pandas
``read_csv``/``to_csv``, numpy ``load``/``save``, pickle, json and most
others. Readers that open files from native code without Python's ``open``
(h5py, pyarrow's own file system, netCDF4, image libraries in C) are not
seen. Audit hooks cannot be removed, so one hook is installed per process
and does nothing unless a cell is being recorded.
"""

from __future__ import annotations

import logging
import os
import site
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

log = logging.getLogger(__name__)

HASH_CHUNK_BYTES = 1024 * 1024
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

_hook_installed = False
_active: FileTracker | None = None


@dataclass
class FileAccess:
    """A file a cell read or wrote, hashed after the cell."""

    path: str
    mode: str  # "read", "write" or "read+write"
    size: int | None
    digest: str | None
    missing: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "mode": self.mode, "size": self.size,
                                "digest": self.digest}
        if self.missing:
            data["missing"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileAccess:
        return cls(str(data["path"]), str(data.get("mode", "read")), data.get("size"),
                   data.get("digest"), bool(data.get("missing", False)))

    @property
    def reads(self) -> bool:
        return "read" in self.mode

    @property
    def writes(self) -> bool:
        return "write" in self.mode


def _audit(event: str, args: tuple) -> None:
    if event != "open":
        return
    tracker = _active
    if tracker is not None:
        tracker.on_open(args)


class FileTracker:
    """Collects the files opened by the main thread while a cell runs."""

    def __init__(self, base_directory: Path, ignored_directories: list[str]) -> None:
        self.base_directory = base_directory
        self._ignored = tuple(os.path.join(os.path.realpath(d), "") for d in ignored_directories)
        # ipykernel compiles each cell into <temp>/ipykernel_<pid>/<hash>.py.
        self._kernel_files = os.path.join(os.path.realpath(tempfile.gettempdir()), "ipykernel_")
        # One collection per cell being run: a re-run happens inside a cell.
        self._opened: list[dict[str, set[str]]] = []
        self._main_thread = threading.main_thread().ident
        self._cache: dict[tuple[str, int, int], str] = {}

    def start(self) -> None:
        global _hook_installed, _active
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True
        self._opened.append({})
        _active = self

    def stop(self) -> list[FileAccess]:
        """Stop collecting for the innermost cell and return its files, hashed as they are now."""
        global _active
        if not self._opened:
            return []
        opened = self._opened.pop()
        if not self._opened and _active is self:
            _active = None
        return [self._describe(path, modes) for path, modes in opened.items()]

    def on_open(self, args: tuple) -> None:
        if threading.get_ident() != self._main_thread:
            return
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if isinstance(path, int) or path is None:
            return
        try:
            text = os.fsdecode(path)
        except (TypeError, ValueError):
            return
        absolute = os.path.realpath(os.path.join(os.getcwd(), text))
        if absolute.startswith(self._ignored) or "/__pycache__/" in absolute:
            return
        if absolute.startswith(self._kernel_files):
            return
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS and mode is None)
        for opened in self._opened:
            opened.setdefault(absolute, set()).add("write" if writes else "read")

    def _describe(self, absolute: str, modes: set[str]) -> FileAccess:
        mode = "read+write" if len(modes) > 1 else next(iter(modes))
        shown = self._relative(absolute)
        try:
            status = os.stat(absolute)
        except OSError:
            return FileAccess(shown, mode, None, None, missing=True)
        if not os.path.isfile(absolute):
            return FileAccess(shown, mode, None, None)
        key = (absolute, status.st_size, status.st_mtime_ns)
        digest = self._cache.get(key)
        if digest is None:
            digest = hash_file(absolute)
            if digest is not None:
                self._cache[key] = digest
        return FileAccess(shown, mode, status.st_size, digest)

    def _relative(self, absolute: str) -> str:
        try:
            return Path(absolute).relative_to(self.base_directory.resolve()).as_posix()
        except ValueError:
            return absolute


def hash_file(path: str) -> str | None:
    """Return the xxh3-128 digest of a file's bytes, or None if it cannot be read."""
    hasher = xxhash.xxh3_128()
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(HASH_CHUNK_BYTES):
                hasher.update(chunk)
    except OSError as error:
        log.info("cannot hash %s: %s", path, error)
        return None
    return hasher.hexdigest()


def default_ignored_directories(extra: list[str] | None = None) -> list[str]:
    """Return folders whose files are never part of a flow: Python's own, caches, devices."""
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/proc", "/sys", "/dev", "/etc",
               "/usr/lib", "/usr/lib64", "/lib", "/usr/share/zoneinfo", "/usr/share/fonts"}
    try:
        folders.update(site.getsitepackages())
    except AttributeError:  # virtualenv's old site module has no getsitepackages
        pass
    user_site = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user_site, str):
        folders.add(user_site)
    for variable in ("JUPYTER_RUNTIME_DIR", "MPLCONFIGDIR", "IPYTHONDIR"):
        if os.environ.get(variable):
            folders.add(os.environ[variable])
    home = Path.home()
    folders.update(str(home / name) for name in (".ipython", ".cache", ".matplotlib",
                                                  ".local/share/jupyter", ".jupyter"))
    # flowrec's own files (the panel's browser code), wherever flowrec is installed.
    folders.add(str(Path(__file__).resolve().parent))
    folders.update(extra or [])
    return sorted(folders)
