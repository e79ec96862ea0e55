"""The environment captured once per kernel session."""

from __future__ import annotations

import subprocess

import numpy as np

from flowrec.environment import PackageTracker, capture_environment, git_state, top_level_module


def git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def test_git_commit_and_dirty_flag(tmp_path):
    """The commit of the repository holding the notebook, and whether it has changes."""
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "test@example.invalid")
    git(tmp_path, "config", "user.name", "Test")
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text("{}")
    git(tmp_path, "add", "analysis.ipynb")
    git(tmp_path, "commit", "-q", "-m", "add notebook")
    clean = git_state(tmp_path)
    assert len(clean["commit"]) == 40
    assert clean["dirty"] is False
    notebook.write_text('{"changed": true}')
    assert git_state(tmp_path)["dirty"] is True


def test_outside_repository(tmp_path):
    """A folder in no repository has no git state."""
    assert git_state(tmp_path) is None


def test_capture_environment(tmp_path, monkeypatch):
    """Python, platform and thread settings are captured."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    environment = capture_environment(tmp_path)
    assert environment["python"].count(".") == 2
    assert environment["variables"]["OMP_NUM_THREADS"] == "2"
    assert environment["git"] is None


def test_package_versions_reported_once():
    """Each distribution is reported by the first values that use it."""
    tracker = PackageTracker()
    first = tracker.new_packages([np, np.zeros(2)])
    assert first == {"numpy": np.__version__}
    assert tracker.new_packages([np.ones(3)]) == {}
    assert tracker.new_packages([1, "text", len]) == {}


def test_top_level_module_hostile_object():
    """A value whose attribute access raises still gives its type's package."""

    class Hostile:
        def __getattribute__(self, name):
            raise RuntimeError("no")

    assert top_level_module(Hostile()) == __name__.partition(".")[0]
    assert top_level_module(np.linalg) == "numpy"
