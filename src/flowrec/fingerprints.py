"""Content fingerprints of Python values.

A fingerprint is a 128-bit xxh3 digest of a value's content, fed through a
tagged, length-prefixed encoding so that values of different types or
structure never share an encoding. It never uses ``id()``, the salted
built-in ``hash()`` or a ``repr`` that may contain an address, so equal
values get equal digests in any process on any machine of the same byte
order.

Rules that decide equality:

* type matters: ``1``, ``1.0``, ``True`` and ``"1"`` differ; a numpy array's
  dtype and shape are part of its digest;
* dicts keep insertion order as part of the value; sets and frozensets are
  order-independent (the sorted digests of their items are hashed);
* Python floats, numpy float scalars and lists of floats hash every NaN
  alike whatever its payload. In numpy arrays the bytes count as stored.
  ``-0.0`` and ``0.0`` differ everywhere, because their bytes do;
* numpy arrays are hashed in place: C-contiguous ones through a zero-copy
  byte view, others in bounded C-order chunks of at most 1 MiB;
* objects that cannot be read without side effects (generators, iterators,
  files, sockets, locks) are opaque, with the reason. So is any value whose
  fingerprinting fails or exceeds the node budget.

Float values also get a :class:`NumericSummary` so that a later comparison
can tell "close within tolerance" from "diverged" without the full values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from .hashing import Encoder, Opaque, dtype_text, frame_columns, is_pandas, qualified_name
from .summaries import NumericSummary, numeric_summary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fingerprint:
    """The content digest of one value, with what is known of its shape.

    ``digest`` is empty when the value is opaque, and ``opaque_reason`` then
    gives the reason it could not be fingerprinted.
    """

    digest: str
    kind: str
    type_name: str
    shape: tuple[int, ...] | None = None
    length: int | None = None
    dtype: str | None = None
    nbytes: int | None = None
    summary: NumericSummary | None = None
    opaque_reason: str | None = None

    @property
    def opaque(self) -> bool:
        return self.opaque_reason is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"digest": self.digest, "kind": self.kind, "type": self.type_name}
        if self.shape is not None:
            data["shape"] = list(self.shape)
        if self.length is not None:
            data["length"] = self.length
        if self.dtype is not None:
            data["dtype"] = self.dtype
        if self.nbytes is not None:
            data["nbytes"] = self.nbytes
        if self.summary is not None:
            data["summary"] = self.summary.to_json()
        if self.opaque_reason is not None:
            data["opaque"] = self.opaque_reason
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        summary = data.get("summary")
        shape = data.get("shape")
        return cls(
            digest=str(data.get("digest", "")),
            kind=str(data.get("kind", "object")),
            type_name=str(data.get("type", "")),
            shape=tuple(int(n) for n in shape) if shape is not None else None,
            length=data.get("length"),
            dtype=data.get("dtype"),
            nbytes=data.get("nbytes"),
            summary=NumericSummary.from_json(summary) if summary else None,
            opaque_reason=data.get("opaque"),
        )


def fingerprint(value: Any) -> Fingerprint:
    """Compute the content fingerprint of ``value``.

    Raises nothing but ``KeyboardInterrupt``: a value that cannot be
    fingerprinted gets an opaque result whose ``opaque_reason`` gives the reason.
    """
    type_name = qualified_name(type(value))
    encoder = Encoder()
    try:
        encoder.feed(value)
    except Opaque as reason:
        return _opaque(value, type_name, str(reason))
    except RecursionError:
        return _opaque(value, type_name, "nested too deeply for the Python stack")
    except (Exception, SystemExit) as error:  # foreign __reduce__ or properties raise anything
        log.debug("fingerprint of %s failed", type_name, exc_info=True)
        return _opaque(value, type_name, f"fingerprinting failed: {type(error).__name__}: {error}")
    try:
        kind, shape, length, dtype, nbytes = _describe(value, encoder.top_columns)
    except Exception:  # the digest is kept without the description
        log.debug("description of %s failed", type_name, exc_info=True)
        kind, shape, length, dtype, nbytes = "object", None, None, None, None
    try:
        summary = numeric_summary(value, encoder.rest_digest, encoder.top_columns,
                                  encoder.top_floats)
    except Exception:  # the digest is kept even when statistics cannot be computed
        log.debug("numeric summary of %s failed", type_name, exc_info=True)
        summary = None
    return Fingerprint(encoder.hexdigest(), kind, type_name, shape, length, dtype, nbytes,
                       summary)


def _column_nbytes(column: Any) -> int:
    if isinstance(column, np.ndarray):
        return int(column.nbytes)
    arrow = getattr(column, "_pa_array", None)  # faster than the extension array's own nbytes
    return int(arrow.nbytes if arrow is not None else getattr(column, "nbytes", 0))


def _opaque(value: Any, type_name: str, reason: str) -> Fingerprint:
    try:
        kind, shape, length, dtype, nbytes = _describe(value, None)
    except Exception:  # a value that broke the encoder may break this too
        shape = length = dtype = nbytes = None
    return Fingerprint("", "opaque", type_name, shape, length, dtype, nbytes, None, reason)


def _describe(value: Any, columns: list[Any] | None
              ) -> tuple[str, tuple[int, ...] | None, int | None, str | None, int | None]:
    """Return kind, shape, length, dtype and size in bytes, as far as cheaply known."""
    cls = type(value)
    if columns is not None:  # the encoder sets columns for a top-level DataFrame only
        nbytes = sum([_column_nbytes(column) for column in columns])
        index = value.index
        return "DataFrame", (len(index), len(columns)), None, None, nbytes + int(index.nbytes)
    if isinstance(value, np.ndarray):
        return "ndarray", tuple(value.shape), None, dtype_text(value.dtype), int(value.nbytes)
    if isinstance(value, np.generic):
        return "numpy-scalar", None, None, dtype_text(value.dtype), int(value.nbytes)
    if is_pandas(value):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            if columns is None:
                columns = frame_columns(value)
            nbytes = sum(_column_nbytes(column) for column in columns)
            nbytes += int(value.index.nbytes)
            return "DataFrame", tuple(value.shape), None, None, nbytes
        if isinstance(value, (pd.Series, pd.Index)):
            kind = "Series" if isinstance(value, pd.Series) else "Index"
            return kind, tuple(value.shape), None, str(value.dtype), int(value.memory_usage(deep=False))
    if cls in (list, tuple, dict, set, frozenset, str, bytes, bytearray):
        nbytes = len(value) if cls in (str, bytes, bytearray) else None
        return cls.__name__, None, len(value), None, nbytes
    if cls in (int, float, complex, bool) or value is None:
        return cls.__name__, None, None, None, None
    return "object", None, None, None, None
