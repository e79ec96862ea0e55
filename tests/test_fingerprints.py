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

from flowrec.fingerprints import Fingerprint, fingerprint
from flowrec.hashing import CHUNK_BYTES, frame_columns


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


@pytest.mark.parametrize(
    "column",
    [
        pd.array([1, None, 3], dtype="Int64"),
        pd.array([True, None, False], dtype="boolean"),
        pd.array([1.5, None, 2.5], dtype="Float64"),
        pd.Categorical(["low", "high", "low"], categories=["low", "high"], ordered=True),
        pd.date_range("2024-01-01", periods=3, tz="Europe/Paris"),
        pd.array(["a", None, "c"], dtype="string"),
        pd.Series(["x", "y", None], dtype=object),
        pd.period_range("2024-01", periods=3, freq="M"),
        pd.timedelta_range("1s", periods=3),
    ],
    ids=["Int64", "boolean", "Float64", "categorical", "datetime-tz", "string", "object",
         "period", "timedelta"],
)
def test_pandas_column_kinds(column):
    """Every pandas column kind hashes stably, and a changed value changes the digest."""
    frame = pd.DataFrame({"c": column})
    first = fingerprint(frame)
    assert not first.opaque, first.opaque_reason
    assert first.digest == fingerprint(frame.copy()).digest
    changed = frame.iloc[[1, 0, 2]].reset_index(drop=True)
    assert fingerprint(changed).digest != first.digest


def test_nullable_mask_hides_stale_bytes():
    """The bytes under a missing nullable value do not count."""
    first = pd.array([1, 2, 3], dtype="Int64")
    second = pd.array([1, 9, 3], dtype="Int64")
    first[1] = pd.NA
    second[1] = pd.NA
    assert digest(pd.Series(first)) == digest(pd.Series(second))


def test_string_storage_does_not_matter():
    """A string column hashes alike whether pandas keeps it in Python or in Arrow."""
    pytest.importorskip("pyarrow")
    python = pd.Series(["a", "bb", None], dtype=pd.StringDtype("python", na_value=np.nan))
    arrow = pd.Series(["a", "bb", None], dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    assert digest(python) == digest(arrow)


def test_frame_block_layout_does_not_matter():
    """Equal frames hash alike whether or not pandas consolidated their blocks."""
    built = pd.DataFrame({"a": [1.0, 2.0]})
    built["b"] = [3.0, 4.0]
    built["c"] = ["x", "y"]
    consolidated = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": ["x", "y"]})
    assert len(built._mgr.blocks) != len(consolidated._mgr.blocks)
    assert digest(built) == digest(consolidated)


@pytest.mark.parametrize(
    "make_column",
    [
        lambda: pd.date_range("2024-01-01", periods=3),
        lambda: pd.date_range("2024-01-01", periods=3, tz="UTC"),
        lambda: pd.to_timedelta([1, 2, 3], unit="s"),
    ],
    ids=["datetime", "datetime-tz", "timedelta"],
)
def test_datetime_block_layout_does_not_matter(make_column):
    """Datetime columns hash alike whether pandas keeps them in one block or in several."""
    together = pd.DataFrame({"t": make_column(), "u": make_column()}).copy()
    apart = pd.concat([together[["t"]], together[["u"]].copy()], axis=1)
    assert len(apart._mgr.blocks) == 2  # pandas consolidates only the zone-free columns
    assert digest(together) == digest(apart)
    for frame in (together, apart, pd.DataFrame({"t": make_column()})):
        assert [column.shape for column in frame_columns(frame)] == [(3,)] * frame.shape[1]


def test_multiindex_content():
    """A MultiIndex hashes by its labels, not by how its levels are stored."""
    first = pd.MultiIndex.from_tuples([("b", 1), ("a", 2)], names=["k", "n"])
    second = pd.MultiIndex.from_arrays([["b", "a"], [1, 2]], names=["k", "n"])
    assert digest(first) == digest(second)
    assert digest(first) != digest(first.set_names(["k", "m"]))


def test_function_code_defaults_closure():
    """A function's code, defaults and closure values are part of its digest."""

    def make(offset):
        def shift(x, scale=2):
            return x * scale + offset

        return shift

    assert digest(make(1)) == digest(make(1))
    assert digest(make(1)) != digest(make(2))

    def other(x, scale=3):
        return x * scale

    def same_body(x, scale=2):
        return x * scale

    assert digest(other) != digest(same_body)


def test_class_and_module_versions():
    """Classes and modules hash by name and their package's version."""
    assert digest(np) == digest(np)
    assert digest(np.ndarray) != digest(pd.DataFrame)
    assert fingerprint(np).kind == "object"


def test_sklearn_estimator_fitted_state():
    """An estimator's parameters and fitted attributes are part of its digest."""
    linear_model = pytest.importorskip("sklearn.linear_model")
    features = np.arange(20, dtype=float).reshape(10, 2)
    target = np.array([0, 1] * 5)
    first = linear_model.LogisticRegression().fit(features, target)
    second = linear_model.LogisticRegression().fit(features, target)
    assert digest(first) == digest(second)
    assert digest(first) != digest(linear_model.LogisticRegression(C=0.5).fit(features, target))
    assert digest(first) != digest(linear_model.LogisticRegression())


def test_matplotlib_figure_data():
    """A figure hashes by the data it draws, not its pixels or object ids."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def draw(values, title):
        figure, axes = plt.subplots()
        axes.plot(values, label="series")
        axes.scatter([1, 2], [3, 4])
        axes.set_title(title)
        axes.bar([0, 1], [2, 3])
        axes.imshow(np.eye(2))
        return figure

    first, second = draw([1, 2, 3], "t"), draw([1, 2, 3], "t")
    assert not fingerprint(first).opaque
    assert digest(first) == digest(second)
    assert digest(first) != digest(draw([1, 2, 4], "t"))
    assert digest(first) != digest(draw([1, 2, 3], "other"))
    assert digest(first.axes[0]) == digest(second.axes[0])
    line = first.axes[0].get_lines()[0]
    assert "image output" in fingerprint(line).opaque_reason
    plt.close("all")


def test_scipy_sparse_canonical():
    """Equal sparse matrices hash alike in any storage format."""
    sparse = pytest.importorskip("scipy.sparse")
    dense = np.array([[0, 1.5], [2.0, 0]])
    assert digest(sparse.csr_matrix(dense)) == digest(sparse.coo_matrix(dense))
    assert digest(sparse.csr_matrix(dense)) != digest(sparse.csr_matrix(dense * 2))


def test_pyarrow_table():
    """Arrow tables hash by schema and content, whatever their chunking."""
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"x": [1, 2, 3], "s": ["a", "b", None]})
    rechunked = pa.concat_tables([table.slice(0, 1), table.slice(1)])
    assert digest(table) == digest(rechunked)
    assert digest(table) != digest(table.rename_columns(["y", "s"]))


def test_polars_frame():
    """polars frames hash by column names, dtypes and values."""
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"x": [1, 2], "s": ["a", None]})
    assert digest(frame) == digest(frame.clone())
    assert digest(frame) != digest(frame.with_columns(pl.col("x") * 2))


def test_xarray_data_array():
    """xarray objects hash by dims, coordinates, values and attributes."""
    xr = pytest.importorskip("xarray")
    array = xr.DataArray(np.arange(4.0), dims=["t"], coords={"t": [0, 1, 2, 3]}, name="v")
    assert digest(array) == digest(array.copy())
    assert digest(array) != digest(array.assign_coords(t=[1, 2, 3, 4]))
    assert digest(xr.Dataset({"v": array})) != digest(xr.Dataset({"w": array}))


def test_torch_tensor():
    """CPU tensors hash by dtype, shape and values."""
    torch = pytest.importorskip("torch")
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert digest(tensor) == digest(tensor.clone())
    assert digest(tensor) != digest(tensor.T.contiguous())


def test_fraction_and_dataclass():
    """Fractions and dataclass instances hash by value."""
    import fractions

    assert digest(fractions.Fraction(1, 3)) == digest(fractions.Fraction(2, 6))
    assert digest(fractions.Fraction(1, 3)) != digest(fractions.Fraction(1, 4))


def test_list_fast_path_matches_content():
    """Equal lists of strings hash alike whether or not they share string objects."""
    shared = "value"
    built = "".join(["val", "ue"])
    assert built is not shared
    assert digest([shared, shared]) == digest([shared, built])
    assert digest({"a": shared, "b": shared}) == digest({"a": shared, "b": built})
    assert digest([1, "a", None, True]) != digest([1, "a", None, 1])


def test_large_array_statistics_sampled():
    """Statistics of very large arrays come from a fixed sample, which is flagged."""
    summary = fingerprint(np.linspace(0.0, 1.0, 3_000_000)).summary
    assert summary.sampled_statistics
    assert summary.count == 3_000_000
    assert summary.min == 0.0
    assert summary.max == 1.0
    assert abs(summary.mean - 0.5) < 1e-3


def test_float_frame_summary_row_major():
    """A frame's float summary lists values row by row over the float columns."""
    frame = pd.DataFrame({"a": [1.0, 2.0], "label": ["x", "y"], "b": [10.0, 20.0]})
    summary = fingerprint(frame).summary
    assert [value for _, value in summary.sample] == [1.0, 10.0, 2.0, 20.0]
    assert summary.rest is not None


@pytest.mark.parametrize("rows", [5_000, 400_000], ids=["exact", "sampled"])
def test_one_float_column_summary(rows):
    """A frame with one float column is summarized like that column's array."""
    values = np.linspace(-1.0, 1.0, rows)
    values[::7] = np.nan
    values[::11] = np.inf
    frame_summary = fingerprint(pd.DataFrame({"n": np.arange(rows), "f": values})).summary
    array_summary = fingerprint(values).summary
    assert frame_summary.count == array_summary.count
    assert frame_summary.nan == array_summary.nan
    assert frame_summary.inf == array_summary.inf
    frame_sample = [(index, repr(value)) for index, value in frame_summary.sample]
    array_sample = [(index, repr(value)) for index, value in array_summary.sample]
    assert frame_sample == array_sample  # as text, because NaN never equals NaN
    assert frame_summary.sampled_statistics == (rows > 262_144)
    assert frame_summary.mean == pytest.approx(array_summary.mean, rel=1e-12)
    assert frame_summary.std == pytest.approx(array_summary.std, rel=1e-12)


def test_categorical_labels_and_order():
    """Categoricals hash their labels and ordered flag, not only their codes."""
    first = pd.Series(["cat", "dog", "cat"], dtype="category")
    assert digest(first) != digest(pd.Series(["ham", "spam", "ham"], dtype="category"))
    assert digest(first) != digest(first.cat.add_categories(["zebra"]))
    assert digest(first) != digest(first.cat.as_ordered())
    assert digest(pd.CategoricalIndex(["a", "b"])) != digest(pd.CategoricalIndex(["x", "y"]))


def test_random_generator_state():
    """A random.Random hashes its state, so a draw changes its digest."""
    import random

    generator = random.Random(0)
    before = digest(generator)
    generator.random()
    assert digest(generator) != before
    assert digest(random.Random(0)) != digest(random.Random(1))
    assert digest(random.Random(0)) == digest(random.Random(0))


def test_huge_integers():
    """Integers of any size hash, whatever the process's int-to-text limit."""
    assert not fingerprint(2 ** 20000).opaque
    assert digest(2 ** 20000) != digest(2 ** 20000 + 1)
    assert digest(-1) != digest(1)
    assert digest(255) != digest(-1)


def test_values_not_part_of_content():
    """Padding bytes, data under a mask and explicit sparse zeros do not count."""
    sparse = pytest.importorskip("scipy.sparse")
    layout = np.dtype({"names": ["a", "b"], "formats": ["i4", "f8"], "offsets": [0, 8],
                       "itemsize": 16})
    clean = np.zeros(2, dtype=layout)
    dirty = np.zeros(2, dtype=layout)
    dirty.view(np.uint8).reshape(2, 16)[:, 5] = 7
    assert np.array_equal(clean, dirty)
    assert digest(clean) == digest(dirty)
    assert digest(np.ma.masked_array([1, 2], mask=[0, 1])) == digest(
        np.ma.masked_array([1, 9], mask=[0, 1]))
    stored_zero = sparse.csr_matrix(([0.0, 1.0], ([0, 1], [0, 1])), shape=(2, 2))
    no_zero = sparse.csr_matrix(([1.0], ([1], [1])), shape=(2, 2))
    assert digest(stored_zero) == digest(no_zero)


def test_container_classes_matter():
    """Sparse matrices and arrays, Arrow tables and record batches differ."""
    sparse = pytest.importorskip("scipy.sparse")
    pa = pytest.importorskip("pyarrow")
    identity = np.eye(2)
    assert digest(sparse.csr_matrix(identity)) != digest(sparse.csr_array(identity))
    assert digest(pa.table({"a": [1]})) != digest(pa.record_batch({"a": [1]}))


def test_system_exit_in_reduce_opaque():
    """A __reduce_ex__ that raises SystemExit makes the value opaque instead of exiting."""

    class Exiting:
        __slots__ = ()

        def __reduce_ex__(self, protocol):
            raise SystemExit(3)

    result = fingerprint(Exiting())
    assert result.opaque
    assert "SystemExit" in result.opaque_reason
