"""Fingerprints: content equality, type sensitivity, stability and opaque values."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import io
import json
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from flowrec.fingerprints import CHUNK_BYTES, Fingerprint, fingerprint


def digest(value):
    return fingerprint(value).digest


class Colour(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Point:
    x: float
    y: float


Pair = collections.namedtuple("Pair", "left right")


def test_equal_values_equal_digests():
    """Two separately built equal values share a digest."""
    assert digest([1, "a", (2.5, None)]) == digest([1, "a", (2.5, None)])
    assert digest({"a": np.arange(3)}) == digest({"a": np.arange(3)})
    assert digest(Point(1.0, 2.0)) == digest(Point(1.0, 2.0))


@pytest.mark.parametrize(
    "first, second",
    [
        (1, 1.0),
        (1, True),
        (1, "1"),
        (1, np.int64(1)),
        (np.int64(1), np.int32(1)),
        (1.0, np.float64(1.0)),
        ([1, 2], (1, 2)),
        ([1, 2], [2, 1]),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ({1, 2}, frozenset({1, 2})),
        (b"ab", "ab"),
        (0.0, -0.0),
        (None, 0),
        (Colour.RED, Colour.BLUE),
        (Point(1.0, 2.0), Point(2.0, 1.0)),
        (Pair(1, 2), (1, 2)),
        ([[1], [2]], [[1, 2]]),
        ("ab", "a b"),
    ],
)
def test_different_values_differ(first, second):
    """Values that differ in type, order or content get different digests."""
    assert digest(first) != digest(second)


def test_set_order_independent():
    """A set's digest does not depend on insertion order."""
    words = ["delta", "alpha", "charlie", "bravo"]
    assert digest(set(words)) == digest(set(reversed(words)))
    assert digest(frozenset(words)) == digest(frozenset(sorted(words)))


def test_nan_payloads_hash_alike():
    """Every NaN float hashes alike, in Python floats and numpy scalars."""
    quiet = float("nan")
    other = np.frombuffer(np.array([0x7FF8000000000001], dtype=np.uint64).tobytes(),
                          dtype=np.float64)[0]
    assert digest(quiet) == digest(float(other))
    assert digest(np.float64(quiet)) == digest(other)
    assert digest([quiet]) == digest([float("nan")])


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided", "sliced"])
def test_array_layout_does_not_matter(layout):
    """An array's digest depends on its values, not its memory layout."""
    base = np.arange(60, dtype=np.float64).reshape(6, 10)
    if layout == "fortran":
        view, copy = np.asfortranarray(base), base.copy()
    elif layout == "transposed":
        view, copy = base.T, np.ascontiguousarray(base.T)
    elif layout == "strided":
        view, copy = base[::2, ::3], np.ascontiguousarray(base[::2, ::3])
    else:
        view, copy = base[:, 2:5], np.ascontiguousarray(base[:, 2:5])
    assert not view.flags.c_contiguous or layout == "fortran"
    assert digest(view) == digest(copy)


def test_array_dtype_and_shape_matter():
    """Arrays with equal bytes but another dtype or shape differ."""
    values = np.arange(6, dtype=np.int64)
    assert digest(values) != digest(values.reshape(2, 3))
    assert digest(values) != digest(values.astype(np.int32))
    assert digest(values) != digest(values.view(np.float64))


@pytest.mark.parametrize(
    "array",
    [
        np.array(3.5),
        np.zeros((0, 4)),
        np.array([True, False]),
        np.array(["a", "bc"]),
        np.array([b"x", b"yz"]),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"),
        np.array([1, 2], dtype="timedelta64[s]"),
        np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.array([1 + 2j]),
        np.array([1, "a", None], dtype=object),
        np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]),
    ],
)
def test_array_kinds_fingerprinted(array):
    """Arrays of every dtype family get a stable, non-opaque digest."""
    first = fingerprint(array)
    assert not first.opaque, first.opaque_reason
    assert first.digest == fingerprint(array.copy()).digest
    assert first.shape == array.shape


def test_masked_array_mask_matters():
    """Two masked arrays with equal data and different masks differ."""
    assert digest(np.ma.masked_array([1, 2], mask=[0, 1])) != digest(
        np.ma.masked_array([1, 2], mask=[1, 0]))


def test_large_strided_array_in_chunks():
    """A strided view bigger than one chunk hashes like its contiguous copy."""
    rows = CHUNK_BYTES // (8 * 64) * 3
    base = np.random.default_rng(0).random((rows, 128))
    view = base[:, ::2]
    assert digest(view) == digest(np.ascontiguousarray(view))


def test_dataframe_parts_matter():
    """Values, column names, dtypes and index each change a DataFrame's digest."""
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert digest(frame) == digest(frame.copy())
    assert digest(frame) != digest(frame.rename(columns={"a": "c"}))
    assert digest(frame) != digest(frame.astype({"a": "float32"}))
    assert digest(frame) != digest(frame.set_axis([5, 6]))
    changed = frame.copy()
    changed.loc[1, "b"] = "z"
    assert digest(frame) != digest(changed)


def test_pandas_series_and_index():
    """Series names and Index values are part of their digests."""
    series = pd.Series([1, 2, 3], name="s")
    assert digest(series) != digest(series.rename("t"))
    assert digest(pd.Index([1, 2])) != digest(pd.Index([2, 1]))
    multi = pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["n", "l"])
    assert digest(multi) == digest(multi.copy())
    categorical = pd.Series(pd.Categorical(["a", "b", "a"]))
    assert not fingerprint(categorical).opaque


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2024, 5, 1, 12, 30),
        decimal.Decimal("1.10"),
        pathlib.Path("data/input.csv"),
        Pair(1, 2),
        Colour.RED,
        lambda x: x + 1,
        json,
        Point,
        collections.OrderedDict(a=1),
    ],
)
def test_other_objects_fingerprinted(value):
    """Common non-container objects get a digest rather than opaque."""
    result = fingerprint(value)
    assert not result.opaque, result.opaque_reason
    assert result.digest


@pytest.mark.parametrize(
    "value, reason",
    [
        ((x for x in range(3)), "generator"),
        (iter([1, 2]), None),
        (io.StringIO("text"), "file"),
        (threading.Lock(), "lock"),
    ],
)
def test_unreadable_values_opaque(value, reason):
    """Generators, files and locks are opaque and left unconsumed."""
    result = fingerprint(value)
    assert result.opaque
    assert result.digest == ""
    if reason:
        assert reason in result.opaque_reason


def test_generator_not_consumed():
    """Fingerprinting a generator leaves every item for the user."""
    numbers = (n for n in range(3))
    fingerprint(numbers)
    assert list(numbers) == [0, 1, 2]


def test_file_not_read(tmp_path):
    """Fingerprinting an open file neither reads nor closes it."""
    path = tmp_path / "data.txt"
    path.write_text("line one\nline two\n")
    with path.open() as stream:
        fingerprint(stream)
        assert not stream.closed
        assert stream.readline() == "line one\n"


def test_cycles_terminate():
    """Self-referencing containers get a digest, and different cycles differ."""
    first = [1]
    first.append(first)
    second = [2]
    second.append(second)
    assert digest(first)
    assert digest(first) != digest(second)
    mapping = {}
    mapping["self"] = mapping
    assert not fingerprint(mapping).opaque


def test_deep_nesting_opaque():
    """Nesting beyond the depth limit gives an opaque result, not a crash."""
    value = []
    for _ in range(5000):
        value = [value]
    result = fingerprint(value)
    assert result.opaque
    assert "deeper" in result.opaque_reason or "too deeply" in result.opaque_reason


def test_failing_object_opaque():
    """An object whose attributes raise is opaque with the error named."""

    class Broken:
        __slots__ = ("value",)

        def __getattribute__(self, name):
            raise RuntimeError("boom")

    result = fingerprint(Broken())
    assert result.opaque
    assert "boom" in result.opaque_reason


def test_float_array_summary():
    """Float arrays carry count, NaN and infinity counts, statistics and a sample."""
    values = np.array([1.0, 2.0, np.nan, np.inf, 3.0])
    summary = fingerprint(values).summary
    assert summary.count == 5
    assert summary.nan == 1
    assert summary.inf == 1
    assert summary.min == 1.0
    assert summary.max == 3.0
    assert summary.mean == 2.0
    assert summary.complete
    assert len(summary.sample) == 5


def test_large_array_summary_sampled():
    """Large arrays keep a fixed-size sample at fixed positions."""
    values = np.linspace(0, 1, 10_000)
    summary = fingerprint(values).summary
    assert not summary.complete
    assert 0 < len(summary.sample) <= 64
    assert summary.sample[0] == (0, 0.0)
    assert summary.sample[-1] == (9999, 1.0)


def test_integer_array_has_no_summary():
    """Exact values need no tolerance summary."""
    assert fingerprint(np.arange(4)).summary is None
    assert fingerprint("text").summary is None


def test_json_round_trip():
    """A fingerprint survives its JSON form unchanged."""
    original = fingerprint(pd.DataFrame({"a": [1.0, float("nan")], "b": [1, 2]}))
    restored = Fingerprint.from_json(json.loads(json.dumps(original.to_json())))
    assert restored.to_json() == original.to_json()
    assert restored.digest == original.digest
    assert restored.shape == (2, 2)


STABILITY_SCRIPT = """
import json, collections, numpy as np, pandas as pd
from flowrec.fingerprints import fingerprint
values = {
    "set": {"alpha", "beta", "gamma", "delta"},
    "dict": {"b": 1, "a": [1.5, None]},
    "array": np.arange(24, dtype=np.float32).reshape(4, 6).T,
    "frame": pd.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]}),
    "nested": [frozenset({"x", "y"}), (1, 2.5, "z")],
    "object": collections.Counter("hello"),
}
print(json.dumps({name: fingerprint(value).digest for name, value in values.items()}))
"""


def test_stable_across_processes_and_hash_seeds():
    """Two processes with different PYTHONHASHSEED values compute the same digests."""
    results = []
    for seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        completed = subprocess.run([sys.executable, "-c", STABILITY_SCRIPT], env=environment,
                                   capture_output=True, text=True, check=True)
        results.append(json.loads(completed.stdout))
    assert results[0] == results[1]
    assert all(results[0].values())
