"""Parameter grids: the parameter sets a batch runs each notebook with.

A grid file is YAML or JSON and contains either

- a list of parameter sets, each a mapping of names to values, or
- a mapping of names to lists of values, expanded as their product (the
  first name varies slowest); a value that is not a list counts as a list
  of one.

A ``.json`` file is parsed as JSON, for its clearer error positions, and
any other file as YAML. Values are what papermill can inject: numbers,
text, booleans, null, and lists or mappings of them. Values given with
``-p`` are added to every set and replace the grid's values of the same
name.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

from .errors import BadInputError

# A product beyond this many sets is far more than one batch should run,
# and more likely a mistake in the grid than an intent.
MAX_SETS = 10_000
SLUG_LENGTH = 80
_PLAIN_TEXT = re.compile(r"^[A-Za-z0-9_.+-]+$")
_SLUG_CHARACTERS = re.compile(r"[^A-Za-z0-9_.=,+-]")

ParameterSet = dict[str, Any]


def load_grid(path: Path) -> list[ParameterSet]:
    """Read a grid file; raise BadInputError naming the file and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError(f"grid file not found: {str(path)!r}; check the path") from None
    except IsADirectoryError:
        raise BadInputError(f"grid file {str(path)!r} is a folder; give a YAML or JSON file") from None
    except UnicodeDecodeError:
        raise BadInputError(f"grid file {str(path)!r} is not UTF-8 text") from None
    except OSError as error:
        raise BadInputError(f"cannot read grid file {str(path)!r}: {error.strerror}") from None
    data = _parse(path, text)
    return grid_sets(data, str(path))


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise BadInputError(
                f"grid file {str(path)!r} is not valid JSON (line {error.lineno}, column "
                f"{error.colno}: {error.msg})") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise BadInputError(f"grid file {str(path)!r} is not valid YAML{where}: {problem}") from None


def grid_sets(data: Any, origin: str) -> list[ParameterSet]:
    """Turn the parsed content of a grid file into its list of parameter sets."""
    if isinstance(data, list):
        if not data:
            raise BadInputError(f"grid file {origin!r} lists no parameter sets; give at least one")
        sets = []
        for number, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                raise BadInputError(
                    f"parameter set {number} in grid file {origin!r} is {_kind(item)}, not a "
                    "mapping of names to values")
            sets.append({_name(name, origin): _value(value, name, origin)
                         for name, value in item.items()})
        return _distinct(sets)
    if isinstance(data, dict):
        if not data:
            raise BadInputError(f"grid file {origin!r} is an empty mapping; give names and values")
        axes = []
        total = 1
        for name, values in data.items():
            name = _name(name, origin)
            choices = values if isinstance(values, list) else [values]
            if not choices:
                raise BadInputError(
                    f"parameter {name!r} in grid file {origin!r} has an empty list of values")
            axes.append([(name, _value(value, name, origin)) for value in choices])
            total *= len(choices)
        if total > MAX_SETS:
            raise BadInputError(
                f"grid file {origin!r} expands to {total:,} parameter sets, more than "
                f"{MAX_SETS:,}; give fewer values or list the sets you mean")
        return _distinct([dict(combination) for combination in itertools.product(*axes)])
    raise BadInputError(
        f"grid file {origin!r} contains {_kind(data)}; give a list of parameter sets or a "
        "mapping of parameter names to lists of values")


def with_fixed(sets: list[ParameterSet], fixed: ParameterSet) -> list[ParameterSet]:
    """Add the ``-p`` values to every set, replacing the grid's values of the same name."""
    if not fixed:
        return sets
    return _distinct([{**values, **fixed} for values in sets])


def restrict(sets: list[ParameterSet], declared: set[str] | None) -> list[ParameterSet]:
    """Keep, in each set, the names a notebook's parameters cell assigns; drop repeated sets.

    ``declared`` is None for a notebook without a parameters cell: it runs
    once, with no parameters.
    """
    names = declared or set()
    return _distinct([{name: value for name, value in values.items() if name in names}
                      for values in sets])


def label(values: ParameterSet) -> str:
    """Return the parameter set as shown in tables: ``name=value`` pairs sorted by name."""
    if not values:
        return "defaults"
    return ", ".join(f"{name}={_shown(values[name])}" for name in sorted(values))


def describe(values: ParameterSet) -> str:
    """Return the set for a sentence: ``parameters seed=1`` or ``the default parameters``."""
    return f"parameters {label(values)}" if values else "the default parameters"


def slug(values: ParameterSet) -> str:
    """Return a file name part for the set, unique per set and safe in every file system.

    Readable sets give ``seed=1,test_size=0.2``. Characters outside
    ``[A-Za-z0-9_.=,+-]`` become ``_``, and a long or altered slug ends with
    a hash of the set, so two sets never share a file name.
    """
    if not values:
        return ""
    readable = ",".join(f"{name}={_shown(values[name])}" for name in sorted(values))
    safe = _SLUG_CHARACTERS.sub("_", readable)
    if safe == readable and len(safe) <= SLUG_LENGTH:
        return safe
    digest = hashlib.sha256(canonical(values).encode("utf-8")).hexdigest()[:10]
    return f"{safe[:SLUG_LENGTH - 11]}-{digest}"


def canonical(values: ParameterSet) -> str:
    """Return the set as JSON with sorted names: equal sets give equal text."""
    return json.dumps(values, sort_keys=True, allow_nan=False, separators=(",", ":"))


def _shown(value: Any) -> str:
    if isinstance(value, str) and _PLAIN_TEXT.match(value):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _distinct(sets: list[ParameterSet]) -> list[ParameterSet]:
    seen: set[str] = set()
    kept = []
    for values in sets:
        key = canonical(values)
        if key not in seen:
            seen.add(key)
            kept.append(values)
    return kept


def _name(name: Any, origin: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise BadInputError(
            f"invalid parameter name {name!r} in grid file {origin!r}: it must be a Python "
            "identifier")
    return name


def _value(value: Any, name: str, origin: str) -> Any:
    """Check that ``value`` is one papermill can inject: JSON types, finite numbers."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadInputError(
                f"value {value!r} of parameter {name!r} in grid file {origin!r} is not a finite "
                "number; quote it to pass it as text")
        return value
    if isinstance(value, list):
        return [_value(item, name, origin) for item in value]
    if isinstance(value, dict):
        return {str(key): _value(item, name, origin) for key, item in value.items()}
    raise BadInputError(
        f"value {value!r} of parameter {name!r} in grid file {origin!r} is {_kind(value)}; "
        "parameters are numbers, text, true/false, null, lists or mappings (quote it to pass "
        "it as text)")


def _kind(value: Any) -> str:
    kinds = {type(None): "null", bool: "a boolean", int: "a number", float: "a number",
             str: "text", list: "a list", dict: "a mapping"}
    return kinds.get(type(value), f"a {type(value).__name__}")
