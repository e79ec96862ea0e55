"""The encoder's fast paths give the same bytes as its general paths, and digests stay fixed."""

from __future__ import annotations

import array

import numpy as np
import pandas as pd
import pytest

from flowrec.fingerprints import fingerprint
from flowrec.hashing import (
    ENCODING_VERSION,
    Encoder,
    _plain_column_digest,
    _python_string_parts,
    frame_columns,
)


def column_digest(column):
    """Return the digest of one column through the general ``feed_column`` path."""
    encoder = Encoder()
    encoder.feed_column(column)
    return encoder.hasher.digest()


@pytest.mark.parametrize(
    "column",
    [
        np.arange(10, dtype=np.int8),
        np.arange(10, dtype=np.uint64),
        np.arange(10, dtype=">i4"),
        np.linspace(0.0, 1.0, 7, dtype=np.float16),
        np.linspace(0.0, 1.0, 7, dtype=np.float32),
        np.array([0.0, -0.0, np.nan, np.inf]),
        np.array([1 + 2j, 3 - 4j]),
        np.array([True, False, True]),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]"),
        np.array([1, 2], dtype="timedelta64[s]"),
        np.array([b"ab", b"c"], dtype="S2"),
        np.array(["é", "x"], dtype="U1"),
        np.zeros(3, dtype="V4"),
        np.array([], dtype=np.float64),
        np.arange(5000, dtype=np.float64),  # above the one-call size
    ],
    ids=["int8", "uint64", "big-endian", "float16", "float32", "float-specials", "complex",
         "bool", "datetime", "timedelta", "bytes", "unicode", "void", "empty", "large"],
)
def test_plain_column_matches_general_path(column):
    """The fast digest of a numpy column equals the general encoder's digest."""
    plain = _plain_column_digest(column)
    assert plain is not None
    digest, rest_part = plain
    assert digest == column_digest(column)
    assert (rest_part is not None) == (column.dtype.kind == "f")


@pytest.mark.parametrize(
    "column",
    [
        np.arange(10.0)[::2],
        np.array(["a", None], dtype=object),
        np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8")]),
        np.arange(6.0).reshape(2, 3),
        np.ma.masked_array([1.0, 2.0], mask=[False, True]),
    ],
    ids=["strided", "object", "structured", "two-dimensional", "masked"],
)
def test_plain_column_declines_other_arrays(column):
    """Arrays outside the fast path's rules are left to the general encoder."""
    assert _plain_column_digest(column) is None


def test_frame_digest_same_through_either_path():
    """A frame whose blocks are contiguous and one whose blocks are strided hash alike."""
    values = np.arange(24.0).reshape(6, 4)
    contiguous_rows = pd.DataFrame(np.asfortranarray(values), copy=False)
    strided_rows = pd.DataFrame(values, copy=False)
    fast = [_plain_column_digest(column) for column in frame_columns(contiguous_rows)]
    slow = [_plain_column_digest(column) for column in frame_columns(strided_rows)]
    assert all(part is not None for part in fast)
    assert all(part is None for part in slow)
    assert fingerprint(contiguous_rows).digest == fingerprint(strided_rows).digest
    assert fingerprint(contiguous_rows).summary == fingerprint(strided_rows).summary


def test_frame_columns_match_series_values():
    """Columns read from blocks equal those read one at a time, the fallback's way."""
    frame = pd.DataFrame({
        "i": np.arange(3),
        "f": np.linspace(0.0, 1.0, 3),
        "g": np.ones(3),
        "s": ["a", "b", "c"],
        "t": pd.date_range("2024-01-01", periods=3),
        "u": pd.date_range("2024-02-01", periods=3),
        "z": pd.date_range("2024-01-01", periods=3, tz="Europe/Paris"),
        "d": pd.to_timedelta([1, 2, 3], unit="s"),
        "k": pd.Categorical(["x", "y", "x"]),
        "n": pd.array([1, None, 3], dtype="Int64"),
    }).copy()
    from_blocks = frame_columns(frame)
    one_at_a_time = [frame.iloc[:, position]._values for position in range(frame.shape[1])]
    assert len(from_blocks) == len(one_at_a_time)
    for name, block_column, series_column in zip(frame.columns, from_blocks, one_at_a_time):
        assert type(block_column) is type(series_column), name
        assert block_column.shape == series_column.shape, name
        assert column_digest(block_column) == column_digest(series_column), name


def string_parts_one_by_one(items):
    """Encode strings item by item: the definition the bulk path must match."""
    valid = bytes(type(item) is str for item in items)
    encoded = [item.encode("utf-8", "surrogatepass") if type(item) is str else b""
               for item in items]
    lengths = array.array("q", [len(item) for item in encoded]).tobytes()
    return valid, lengths, b"".join(encoded)


@pytest.mark.parametrize(
    "items",
    [
        ["a", "bb", ""],
        ["é", "日本", "x"],
        ["😀", "a\udc80"],
        ["a\ud83d", "\ude00b"],
        ["a", None, "c"],
        [None, float("nan")],
        [],
    ],
    ids=["ascii", "multibyte", "emoji-and-surrogate", "split-surrogate-pair", "missing",
         "all-missing", "empty"],
)
def test_string_parts_match_item_by_item(items):
    """Validity, UTF-8 lengths and bytes of strings equal those made one string at a time."""
    valid, lengths, data = _python_string_parts(items)
    expected_valid, expected_lengths, expected_data = string_parts_one_by_one(items)
    assert bytes(valid) == expected_valid
    assert bytes(lengths) == expected_lengths
    assert bytes(data) == expected_data


# Digests of encoding version 5. A change here changes what saved records
# mean: bump ENCODING_VERSION with it, then update this table.
PINNED_VERSION = 5
PINNED = {
    "small frame": "4741de1e2da3b28bd688bc9e4c35ed8f",
    "labelled frame": "394aed7935a9d02ad25779a5e3724080",
    "series": "c971e0ba19b25325044e191c263f29b1",
    "array": "05cc8cc03b0d32a65e476324fa141951",
    "list": "94997b04b564e36f295cf30171aa5052",
    "dict": "66df8ef9b10f79eafb2b4441fc7baa38",
}


def pinned_values():
    """Build values whose dtypes do not depend on the pandas version's defaults."""
    labels = pd.Index(["a", "b", "c"], dtype=object)
    return {
        "small frame": pd.DataFrame(
            {"a": np.arange(10), "b": np.linspace(0, 1, 10),
             "c": pd.array(list("abcdefghij"), dtype="string[python]")},
        ).set_axis(labels, axis=1),
        "labelled frame": pd.DataFrame(
            {"i": pd.array([1, None], dtype="Int64"),
             "k": pd.Categorical(["u", "v"], categories=["v", "u"]),
             "t": np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]")},
            index=pd.Index(["r1", "r2"], dtype=object, name="row"),
        ).set_axis(labels, axis=1),
        "series": pd.Series([0.5, 1.5], name="s", index=pd.RangeIndex(2, name="n")),
        "array": np.arange(6, dtype=np.int32).reshape(2, 3),
        "list": [1, "a", 2.5, None, float("nan")],
        "dict": {"k": (1, 2), "f": -0.0},
    }


def test_digests_pinned_for_encoding_version():
    """Known values keep their digests until the encoding version changes."""
    assert ENCODING_VERSION == PINNED_VERSION, "update PINNED for the new encoding version"
    for name, value in pinned_values().items():
        assert fingerprint(value).digest == PINNED[name], name
