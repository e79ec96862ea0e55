"""Comparison of two fingerprints of one variable."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowrec.compare import Verdict, compare_fingerprints
from flowrec.fingerprints import fingerprint


def compare(first, second, rtol=1e-05, atol=1e-08):
    return compare_fingerprints("value", fingerprint(first), fingerprint(second), rtol, atol)


def test_identical():
    """Equal values are identical."""
    assert compare([1, 2], [1, 2]).verdict is Verdict.IDENTICAL


def test_type_shape_dtype_changes():
    """A changed type, shape or dtype is named in the detail."""
    assert compare(1, "1").detail == "type changed from int to str"
    assert compare(np.zeros(3), np.zeros(4)).detail == "shape changed from (3,) to (4,)"
    assert compare(np.zeros(3), np.zeros(3, dtype=np.float32)).detail == (
        "dtype changed from <f8 to <f4")
    assert compare([1], [1, 2]).detail == "length changed from 1 to 2"


def test_small_array_exact_counts():
    """Small float arrays are compared element by element."""
    result = compare(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.5, 3.0, 5.0]))
    assert result.verdict is Verdict.DIVERGED
    assert result.differing == 2
    assert result.compared == 4
    assert result.max_abs == 1.0
    assert result.max_rel == 0.25
    assert result.detail == ("ndarray 4 <f8: 2 of 4 elements differ, max abs diff 1, "
                             "max rel diff 0.25")
    assert not result.judged_on_sample


def test_close_within_tolerance():
    """Differences within rtol and atol are close, and the tolerance is stated."""
    result = compare(np.array([1.0, 2.0]), np.array([1.0 + 1e-9, 2.0]))
    assert result.verdict is Verdict.CLOSE
    assert result.detail.endswith("(within rtol=1e-05, atol=1e-08)")


def test_scalar_values_shown():
    """A diverged float scalar shows both values."""
    result = compare(0.5, 0.75)
    assert result.verdict is Verdict.DIVERGED
    assert result.detail == "float: 0.5 became 0.75"


def test_large_array_judged_on_sample():
    """Large arrays are judged on their summary and sample, which the detail states."""
    base = np.linspace(0.0, 1.0, 100_000)
    close = compare(base, base * (1 + 1e-9))
    assert close.verdict is Verdict.CLOSE
    assert close.judged_on_sample
    assert "judged on summary and sample" in close.detail
    far = compare(base, base + 0.5)
    assert far.verdict is Verdict.DIVERGED
    assert "sampled elements differ" in far.detail


def test_statistics_catch_unsampled_change():
    """A change outside the sample still diverges when it moves the statistics."""
    base = np.linspace(0.0, 1.0, 100_000)
    changed = base.copy()
    changed[1] = 1000.0
    assert compare(base, changed).verdict is Verdict.DIVERGED


def test_nan_count_change():
    """A new NaN is a divergence whatever the tolerance."""
    result = compare(np.array([1.0, 2.0]), np.array([1.0, np.nan]), rtol=1.0, atol=1.0)
    assert result.verdict is Verdict.DIVERGED
    assert "NaN or infinity counts differ" in result.detail


def test_frame_non_float_part():
    """A DataFrame is only close when its index, names and non-float columns are equal."""
    first = pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]})
    close = pd.DataFrame({"x": [1.0, 2.0 + 1e-12], "label": ["a", "b"]})
    relabelled = pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "c"]})
    assert compare(first, close).verdict is Verdict.CLOSE
    result = compare(first, relabelled)
    assert result.verdict is Verdict.DIVERGED
    assert "non-float columns differ" in result.detail


def test_missing_and_opaque():
    """One-sided writes diverge; opaque values are not compared."""
    present = fingerprint(1)
    assert compare_fingerprints("v", None, present, 0, 0).detail == "written only in the re-run"
    assert compare_fingerprints("v", present, None, 0, 0).detail == "written only in the reference"
    opaque = fingerprint(iter([1]))
    result = compare_fingerprints("v", opaque, opaque, 0, 0)
    assert result.verdict is Verdict.NOT_COMPARED
    assert result.detail.startswith("not compared, opaque: ")
