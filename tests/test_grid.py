"""Grid files: both forms, -p values, per-notebook sets, labels and file names."""

from __future__ import annotations

import json

import pytest

from flowrec.errors import BadInputError
from flowrec.grid import MAX_SETS, label, load_grid, restrict, slug, with_fixed


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_mapping_expands_product(tmp_path):
    """A mapping of names to lists gives every combination, the first name slowest."""
    path = write(tmp_path, "grid.yaml", "seed: [1, 2]\nsize: [0.2, 0.3]\nmode: fast\n")
    assert load_grid(path) == [
        {"seed": 1, "size": 0.2, "mode": "fast"},
        {"seed": 1, "size": 0.3, "mode": "fast"},
        {"seed": 2, "size": 0.2, "mode": "fast"},
        {"seed": 2, "size": 0.3, "mode": "fast"},
    ]


def test_json_list_of_sets(tmp_path):
    """A JSON list keeps its sets in order and drops repeated ones."""
    sets = [{"seed": 1}, {"seed": 2, "layers": [32, 16]}, {"seed": 1}]
    path = write(tmp_path, "grid.json", json.dumps(sets))
    assert load_grid(path) == [{"seed": 1}, {"seed": 2, "layers": [32, 16]}]


def test_yaml_list_with_null_and_booleans(tmp_path):
    """YAML scalars become papermill values: null, booleans, text."""
    path = write(tmp_path, "grid.yml", "- {flag: true, limit: null, name: a b}\n")
    assert load_grid(path) == [{"flag": True, "limit": None, "name": "a b"}]


@pytest.mark.parametrize("name, text, message", [
    ("grid.json", "{\"seed\": [1, 2]", "is not valid JSON (line 1"),
    ("grid.yaml", "seed: [1, 2\n", "is not valid YAML (line"),
    ("grid.yaml", "[]", "lists no parameter sets"),
    ("grid.yaml", "{}", "is an empty mapping"),
    ("grid.yaml", "seed: []", "parameter 'seed' in grid file"),
    ("grid.yaml", "- 3\n", "parameter set 1 in grid file"),
    ("grid.yaml", "7", "contains a number; give a list of parameter sets"),
    ("grid.yaml", "1seed: [1]", "invalid parameter name '1seed'"),
    ("grid.yaml", "day: [2024-01-01]", "is a date; parameters are numbers"),
    ("grid.yaml", "rate: [.nan]", "is not a finite number"),
    ("grid.yaml", "", "contains null"),
])
def test_invalid_grids(tmp_path, name, text, message):
    """Every malformed grid names the file and the problem."""
    path = write(tmp_path, name, text)
    with pytest.raises(BadInputError, match="grid file") as caught:
        load_grid(path)
    assert message in str(caught.value)


def test_missing_grid_file(tmp_path):
    """A grid path that does not exist is bad input."""
    with pytest.raises(BadInputError, match="grid file not found"):
        load_grid(tmp_path / "absent.yaml")


def test_grid_too_large(tmp_path):
    """A product beyond the limit is rejected before anything runs."""
    path = write(tmp_path, "grid.json", json.dumps({"a": list(range(200)), "b": list(range(200))}))
    with pytest.raises(BadInputError, match=f"more than {MAX_SETS:,}"):
        load_grid(path)


def test_fixed_values_replace_grid_values():
    """-p values join every set and replace the same name; equal sets collapse."""
    sets = [{"seed": 1, "size": 0.2}, {"seed": 2, "size": 0.2}]
    assert with_fixed(sets, {"size": 0.5}) == [{"seed": 1, "size": 0.5}, {"seed": 2, "size": 0.5}]
    assert with_fixed(sets, {"seed": 3}) == [{"seed": 3, "size": 0.2}]
    assert with_fixed(sets, {}) == sets


def test_restrict_to_declared_names():
    """A notebook gets only the names its parameters cell assigns, each distinct set once."""
    sets = [{"seed": 1, "horizon": 12}, {"seed": 2, "horizon": 12}, {"seed": 1, "horizon": 24}]
    assert restrict(sets, {"seed"}) == [{"seed": 1}, {"seed": 2}]
    assert restrict(sets, {"horizon"}) == [{"horizon": 12}, {"horizon": 24}]
    assert restrict(sets, None) == [{}]


def test_label_and_slug():
    """Labels sort names; slugs are file-safe and distinct for distinct sets."""
    assert label({}) == "defaults"
    assert label({"seed": 1, "alpha": 0.5}) == "alpha=0.5, seed=1"
    assert label({"name": "a b", "flag": True}) == 'flag=true, name="a b"'
    assert slug({}) == ""
    assert slug({"seed": 1, "alpha": 0.5}) == "alpha=0.5,seed=1"
    odd = slug({"path": "data/run 1.csv"})
    assert "/" not in odd
    assert " " not in odd
    assert odd != slug({"path": "data_run_1.csv"})
    long = slug({"text": "x" * 500})
    assert len(long) <= 80
    assert long != slug({"text": "x" * 501})
