"""Numeric summaries of floating values, for "close within tolerance" judgements.

Small values (at most ``FULL_VALUES_LIMIT`` floats) keep every value.
Larger ones keep ``SAMPLE_SIZE`` values at evenly spaced positions. Beyond
``EXACT_STATISTICS_LIMIT`` floats (262,144), the statistics and the NaN and infinity
counts are computed on a fixed sample of ``STATISTICS_SAMPLE`` positions,
because a full pass per statistic would cost several times the hashing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .hashing import frame_columns, is_pandas

FULL_VALUES_LIMIT = 256
SAMPLE_SIZE = 64
EXACT_STATISTICS_LIMIT = 1 << 18
STATISTICS_SAMPLE = 1 << 16


@dataclass(frozen=True)
class NumericSummary:
    """Statistics of the floating values of an array, frame or number.

    ``sample`` contains ``(flat index, value)`` pairs in C order, and every
    value when ``complete`` is true. NaN and infinities are left
    out of ``min``, ``max``, ``mean`` and ``std`` and counted apart.
    ``rest`` is the digest of everything else in a DataFrame (index, column
    names, non-float columns): values can only be "close" when it is equal.
    ``sampled_statistics`` is true when the statistics and the NaN and
    infinity counts come from a fixed sample of a large array.
    """

    count: int
    nan: int
    inf: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    sample: tuple[tuple[int, float], ...]
    complete: bool
    rest: str | None = None
    sampled_statistics: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "nan": self.nan,
            "inf": self.inf,
            "min": _json_float(self.min),
            "max": _json_float(self.max),
            "mean": _json_float(self.mean),
            "std": _json_float(self.std),
            "sample": [[i, _json_float(v)] for i, v in self.sample],
            "complete": self.complete,
            "rest": self.rest,
            "sampled_statistics": self.sampled_statistics,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NumericSummary:
        return cls(
            count=int(data["count"]),
            nan=int(data["nan"]),
            inf=int(data["inf"]),
            min=_float_from_json(data.get("min")),
            max=_float_from_json(data.get("max")),
            mean=_float_from_json(data.get("mean")),
            std=_float_from_json(data.get("std")),
            sample=tuple((int(i), _float_from_json(v)) for i, v in data.get("sample", [])),
            complete=bool(data.get("complete", False)),
            rest=data.get("rest"),
            sampled_statistics=bool(data.get("sampled_statistics", False)),
        )


class _FloatGrid:
    """Floating values seen as a flat C-ordered sequence, without copying them all.

    ``take`` maps sorted int64 positions to float64 values; ``everything``
    returns all values as one flat array, a view where the layout allows it.
    """

    def __init__(self, count: int, take, everything) -> None:
        self.count = count
        self.take = take
        self.everything = everything


def numeric_summary(value: Any, rest: str | None = None, columns: list[Any] | None = None,
                    floats: np.ndarray | None = None) -> NumericSummary | None:
    """Summarize the floating values of ``value``, or return None if it has none.

    The encoder computes three inputs while it hashes the value. ``rest`` is
    the digest of a pandas object's non-float content, ``columns`` a
    DataFrame's columns, and ``floats`` the float64 array built from a list
    of floats.
    """
    grid = _array_grid(floats) if floats is not None else _float_grid(value, columns)
    if grid is None:
        return None
    if isinstance(grid, list):
        return _small_summary(grid, rest)
    count = grid.count
    if count <= FULL_VALUES_LIMIT:
        return _small_summary(grid.everything().tolist(), rest)
    if count <= EXACT_STATISTICS_LIMIT:
        values = grid.everything()
        sampled_statistics = False
    else:
        values = grid.take(_spread(count, STATISTICS_SAMPLE))
        sampled_statistics = True
    finite_mask = np.isfinite(values)
    nan = int(np.count_nonzero(np.isnan(values)))
    inf = int(values.size) - nan - int(np.count_nonzero(finite_mask))
    finite = values if nan == 0 and inf == 0 else values[finite_mask]
    if finite.size:
        minimum, maximum = float(finite.min()), float(finite.max())
        mean = float(finite.mean())
        deviations = finite - mean
        # np.dot calls BLAS, whose worker threads took milliseconds to wake for
        # 65,536 values on a loaded 2-core machine, so einsum sums in this thread.
        std = math.sqrt(float(np.einsum("i,i->", deviations, deviations)) / finite.size)
    else:
        minimum = maximum = mean = std = None
    if sampled_statistics:
        scale = count / values.size
        nan, inf = round(nan * scale), round(inf * scale)
    if count <= FULL_VALUES_LIMIT:
        positions = np.arange(count, dtype=np.int64)
        complete = True
    else:
        positions = _spread(count, SAMPLE_SIZE)
        complete = False
    sample_values = grid.take(positions) if not complete else values
    sample = tuple(zip(positions.tolist(), sample_values.tolist()))
    return NumericSummary(count, nan, inf, minimum, maximum, mean, std, sample, complete,
                          rest, sampled_statistics)


def _small_summary(values: list[float], rest: str | None) -> NumericSummary:
    """Summarize a few values in plain Python, which beats numpy's per-call cost here."""
    finite = [value for value in values if value - value == 0]  # false for NaN and infinities
    if len(finite) == len(values):
        nan = inf = 0
    else:
        nan = sum(1 for value in values if value != value)
        inf = len(values) - len(finite) - nan
    if finite:
        count = len(finite)
        mean = sum(finite) / count
        std = math.sqrt(sum([(value - mean) * (value - mean) for value in finite]) / count)
        minimum, maximum = min(finite), max(finite)
    else:
        minimum = maximum = mean = std = None
    sample = tuple(enumerate(values))
    return NumericSummary(len(values), nan, inf, minimum, maximum, mean, std, sample, True, rest)


def _spread(count: int, size: int) -> np.ndarray:
    """Return up to ``size`` evenly spaced positions in ``range(count)``, first and last included."""
    if count <= size:
        return np.arange(count, dtype=np.int64)
    # Integer arithmetic keeps the positions exact, strictly increasing and stable
    # across platforms, with no duplicates to remove.
    return np.arange(size, dtype=np.int64) * (count - 1) // (size - 1)


def _array_grid(array: np.ndarray) -> _FloatGrid:
    """View a float or complex array as a flat grid; complex values count as two floats."""
    if array.dtype.kind == "c":
        shape = (*array.shape, 2)

        def take(positions: np.ndarray) -> np.ndarray:
            index = np.unravel_index(positions, shape)
            pairs = array[index[:-1]] if array.ndim else np.broadcast_to(array, (len(positions),))
            return np.where(index[-1] == 0, pairs.real, pairs.imag).astype(np.float64)

        def everything() -> np.ndarray:
            return np.ascontiguousarray(array).view(array.real.dtype).reshape(-1).astype(np.float64)

        return _FloatGrid(array.size * 2, take, everything)

    def take(positions: np.ndarray) -> np.ndarray:
        if array.ndim == 0:
            return np.full(len(positions), float(array), dtype=np.float64)
        if array.flags.c_contiguous:
            return array.reshape(-1)[positions].astype(np.float64)
        return array[np.unravel_index(positions, array.shape)].astype(np.float64)

    def everything() -> np.ndarray:
        return np.ascontiguousarray(array).reshape(-1).astype(np.float64, copy=False)

    return _FloatGrid(array.size, take, everything)


def _float_grid(value: Any, columns: list[Any] | None) -> _FloatGrid | list[float] | None:
    """Return the floating values as a grid, or as a plain list when there are only a few."""
    if columns is not None:  # the encoder sets columns for a top-level DataFrame only
        return _frame_grid(value, columns)
    cls = type(value)
    if cls is float:
        return [value]
    if cls is complex:
        return _array_grid(np.asarray([value], dtype=np.complex128))
    if isinstance(value, np.ndarray) and not isinstance(value, np.ma.MaskedArray):
        return _array_grid(value) if value.dtype.kind in "fc" else None
    if isinstance(value, np.generic) and value.dtype.kind in "fc":
        return _array_grid(np.asarray([value]))
    if cls in (list, tuple) and value and all(type(item) is float for item in value[:8]):
        if set(map(type, value)) == {float}:
            return _array_grid(np.fromiter(value, dtype=np.float64, count=len(value)))
        return None
    if is_pandas(value):
        return _pandas_grid(value)
    return None


def _pandas_grid(value: Any) -> _FloatGrid | list[float] | None:
    import pandas as pd

    if isinstance(value, pd.Series):
        values = value.array
        backing = getattr(values, "_ndarray", values)
        if isinstance(backing, np.ndarray) and backing.dtype.kind in "fc":
            return _array_grid(backing)
        return None
    if not isinstance(value, pd.DataFrame):
        return None
    return _frame_grid(value, frame_columns(value))


def _frame_grid(value: Any, all_columns: list[Any]) -> _FloatGrid | list[float] | None:
    columns = [column for column in all_columns
               if isinstance(column, np.ndarray) and column.dtype.kind == "f"]
    if not columns:
        return None
    rows = len(value)
    width = len(columns)
    if rows * width <= FULL_VALUES_LIMIT:
        if width == 1:
            return columns[0].tolist()
        return [float(item) for row in zip(*(column.tolist() for column in columns))
                for item in row]

    if width == 1:  # the column's own positions, without the row and column arithmetic
        return _array_grid(columns[0])

    def take(positions: np.ndarray) -> np.ndarray:
        # Row-major over the float columns: position = row * width + column.
        row, column = np.divmod(positions, width)
        out = np.empty(len(positions), dtype=np.float64)
        for index, array in enumerate(columns):
            selected = column == index
            if selected.any():
                out[selected] = array[row[selected]]
        return out

    def everything() -> np.ndarray:
        return np.column_stack(columns).reshape(-1).astype(np.float64, copy=False)

    return _FloatGrid(rows * width, take, everything)


def _json_float(value: float | None) -> float | str | None:
    """Encode NaN and infinities as strings, which JSON has no numbers for."""
    if value is None:
        return None
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _float_from_json(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)
