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
* every float NaN hashes alike whatever its payload; ``-0.0`` and ``0.0``
  differ, as their bytes do;
* numpy arrays are hashed in place: C-contiguous ones through a zero-copy
  byte view, others in bounded C-order chunks of at most ``CHUNK_BYTES``;
* objects that cannot be read without side effects (generators, iterators,
  files, sockets, locks) are opaque, with the reason. So is any value whose
  fingerprinting fails or exceeds the node budget.

Float values also get a :class:`NumericSummary` so that a later comparison
can tell "close within tolerance" from "diverged" without the full values.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import io
import logging
import math
import pickle
import socket
import struct
import sys
import threading
import types
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

log = logging.getLogger(__name__)

CHUNK_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 200
MAX_NODES = 200_000
# Arrays with at most this many elements keep every value in their summary,
# so differences can be counted exactly; larger ones keep SAMPLE_SIZE values.
FULL_VALUES_LIMIT = 256
SAMPLE_SIZE = 64

_NAN_BYTES = struct.pack("<d", float("nan"))
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_UNREADABLE_TYPES: tuple[tuple[type, str], ...] = (
    (types.GeneratorType, "a generator would be consumed"),
    (types.AsyncGeneratorType, "an async generator would be consumed"),
    (types.CoroutineType, "a coroutine cannot be read without running it"),
    (io.IOBase, "an open file or stream is not read"),
    (socket.socket, "a socket is not read"),
    (_LOCK_TYPES, "a lock has no content to compare"),
    (threading.Thread, "a thread has no content to compare"),
    (collections.abc.Iterator, "an iterator would be consumed"),
    (types.FrameType, "a frame has no stable content"),
)


@dataclass(frozen=True)
class NumericSummary:
    """Statistics of the floating values of an array, frame or number.

    ``sample`` contains ``(flat index, value)`` pairs in C order, and every
    value when ``complete`` is true. NaN and infinities are left
    out of ``min``, ``max``, ``mean`` and ``std`` and counted apart.
    ``rest`` is the digest of everything else in a DataFrame (index, column
    names, non-float columns): values can only be "close" when it is equal.
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
        )


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


class _Opaque(Exception):
    """Raised inside the encoder when a value cannot be fingerprinted."""


class _Encoder:
    """Feeds one value's tagged encoding into an xxh3 hasher."""

    def __init__(self) -> None:
        self.hasher = xxhash.xxh3_128()
        self.nodes = 0
        self.stack: list[int] = []

    def digest_of(self, value: Any) -> str:
        sub = _Encoder()
        sub.nodes = self.nodes
        sub.stack = self.stack
        sub.feed(value)
        self.nodes = sub.nodes
        return sub.hasher.hexdigest()

    def tag(self, tag: bytes, payload: bytes = b"") -> None:
        self.hasher.update(tag + struct.pack("<Q", len(payload)) + payload)

    def text(self, tag: bytes, value: str) -> None:
        self.tag(tag, value.encode("utf-8", "surrogatepass"))

    def feed(self, value: Any) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Opaque(f"more than {MAX_NODES} nested values")
        if len(self.stack) > MAX_DEPTH:
            raise _Opaque(f"nested deeper than {MAX_DEPTH} levels")
        ident = id(value)
        if ident in self.stack:
            # A cycle: encode the distance back to the container it refers to.
            self.tag(b"cycle", struct.pack("<Q", len(self.stack) - self.stack.index(ident)))
            return
        self.stack.append(ident)
        try:
            self._dispatch(value)
        finally:
            self.stack.pop()

    def _dispatch(self, value: Any) -> None:
        cls = type(value)
        if value is None:
            self.tag(b"none")
        elif cls is bool:
            self.tag(b"bool", b"1" if value else b"0")
        elif cls is int:
            self.text(b"int", str(value))
        elif cls is float:
            self.tag(b"float", _float_bytes(value))
        elif cls is complex:
            self.tag(b"complex", _float_bytes(value.real) + _float_bytes(value.imag))
        elif cls is str:
            self.text(b"str", value)
        elif cls in (bytes, bytearray, memoryview):
            self.tag(cls.__name__.encode(), bytes(value))
        elif cls in (list, tuple):
            self.tag(cls.__name__.encode(), struct.pack("<Q", len(value)))
            for item in value:
                self.feed(item)
        elif cls is dict:
            self._feed_mapping(b"dict", value)
        elif cls in (set, frozenset):
            digests = sorted(self.digest_of(item) for item in value)
            self.tag(cls.__name__.encode(), "".join(digests).encode())
        elif isinstance(value, np.ndarray):
            self._feed_ndarray(value)
        elif isinstance(value, np.generic):
            self._feed_numpy_scalar(value)
        elif _is_pandas(value):
            self._feed_pandas(value)
        else:
            self._feed_object(value)

    def _feed_mapping(self, tag: bytes, mapping: dict) -> None:
        self.tag(tag, struct.pack("<Q", len(mapping)))
        for key, item in mapping.items():
            self.feed(key)
            self.feed(item)

    def _feed_ndarray(self, array: np.ndarray) -> None:
        if isinstance(array, np.ma.MaskedArray):
            self.text(b"masked", _qualified_name(type(array)))
            self._feed_ndarray(np.ma.getdata(array))
            self._feed_ndarray(np.ma.getmaskarray(array))
            return
        if type(array) is not np.ndarray:
            self.text(b"subclass", _qualified_name(type(array)))
        self.text(b"ndarray", _dtype_text(array.dtype))
        self.tag(b"shape", struct.pack(f"<{array.ndim}Q", *array.shape))
        if array.dtype.hasobject:
            for item in array.flat:
                self.feed(item)
            return
        if array.size == 0:
            return
        if array.flags.c_contiguous:
            self.hasher.update(array.reshape(-1).view(np.uint8))
            return
        # Strided or Fortran-ordered: hash in C order, a bounded slab at a time.
        rows_per_chunk = max(1, CHUNK_BYTES // max(1, array[0:1].nbytes))
        for start in range(0, array.shape[0], rows_per_chunk):
            chunk = np.ascontiguousarray(array[start : start + rows_per_chunk])
            self.hasher.update(chunk.reshape(-1).view(np.uint8))

    def _feed_numpy_scalar(self, value: np.generic) -> None:
        self.text(b"npscalar", _dtype_text(value.dtype))
        if value.dtype.hasobject:
            self.feed(value.item())
            return
        raw = np.asarray(value).reshape(1)
        if raw.dtype.kind == "f" and np.isnan(raw[0]):
            raw = np.full(1, np.nan, dtype=raw.dtype)  # one NaN pattern whatever the payload
        self.hasher.update(np.ascontiguousarray(raw).view(np.uint8))

    def _feed_pandas(self, value: Any) -> None:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            self.tag(b"DataFrame", struct.pack("<QQ", *value.shape))
            self._feed_pandas(value.columns)
            self._feed_pandas(value.index)
            for position in range(value.shape[1]):
                self._feed_pandas_values(value.iloc[:, position])
        elif isinstance(value, pd.Series):
            self.tag(b"Series", struct.pack("<Q", len(value)))
            self.feed(value.name)
            self._feed_pandas(value.index)
            self._feed_pandas_values(value)
        elif isinstance(value, pd.MultiIndex):
            self.text(b"MultiIndex", type(value).__name__)
            self.feed(list(value.names))
            for level in range(value.nlevels):
                self._feed_pandas_values(value.get_level_values(level))
        elif isinstance(value, pd.Index):
            self.text(b"Index", type(value).__name__)
            self.feed(value.name)
            self._feed_pandas_values(value)
        else:
            self._feed_object(value)

    def _feed_pandas_values(self, values: Any) -> None:
        import pandas as pd

        dtype = values.dtype
        self.text(b"dtype", str(dtype))
        if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
            self._feed_ndarray(values.to_numpy())
            return
        # Object, string, categorical and extension columns: pandas' own row
        # hashes, which use a fixed key and so are stable across processes.
        hashes = pd.util.hash_pandas_object(values, index=False).to_numpy()
        self.hasher.update(np.ascontiguousarray(hashes).view(np.uint8))

    def _feed_object(self, value: Any) -> None:
        cls = type(value)
        for unreadable, reason in _UNREADABLE_TYPES:
            if isinstance(value, unreadable):
                raise _Opaque(reason)
        artist = _matplotlib_artist_type()
        if artist is not None and isinstance(value, artist):
            # A figure's object graph contains callbacks, caches and renderer
            # state, so the image it draws is compared through the cell output.
            raise _Opaque("matplotlib artists are compared through the cell's image output")
        if isinstance(value, enum.Enum):
            self.text(b"enum", _qualified_name(cls))
            self.text(b"member", value.name)
        elif isinstance(value, types.ModuleType):
            self.text(b"module", value.__name__)
            self.feed(getattr(value, "__version__", None))
        elif isinstance(value, type):
            self.text(b"class", _qualified_name(value))
        elif isinstance(value, types.FunctionType):
            self._feed_function(value)
        elif isinstance(value, (types.BuiltinFunctionType, types.MethodWrapperType)):
            self.text(b"builtin", f"{getattr(value, '__module__', '')}.{value.__qualname__}")
        elif isinstance(value, types.MethodType):
            self.tag(b"method")
            self._feed_function(value.__func__)
            self.feed(value.__self__)
        elif isinstance(value, types.CodeType):
            self._feed_code(value)
        elif dataclasses.is_dataclass(value) or hasattr(value, "__dict__") or hasattr(cls, "__slots__"):
            self._feed_instance(value)
        else:
            self._feed_pickle(value)

    def _feed_function(self, function: types.FunctionType) -> None:
        self.text(b"function", f"{function.__module__}.{function.__qualname__}")
        self._feed_code(function.__code__)
        self.feed(function.__defaults__)
        self.feed(function.__kwdefaults__)
        cells = function.__closure__ or ()
        for cell in cells:
            try:
                self.feed(cell.cell_contents)
            except ValueError:
                self.tag(b"emptycell")

    def _feed_code(self, code: types.CodeType) -> None:
        self.tag(b"code", code.co_code)
        self.feed(code.co_names)
        self.feed(code.co_varnames)
        for const in code.co_consts:
            self.feed(const)

    def _feed_instance(self, value: Any) -> None:
        cls = type(value)
        self.text(b"instance", _qualified_name(cls))
        # Subclasses of builtin containers (namedtuples, OrderedDict, ...) keep
        # their items as well as their attributes.
        if isinstance(value, (tuple, list)):
            self.feed(list(value))
        elif isinstance(value, dict):
            self.feed(dict(value))
        elif isinstance(value, (set, frozenset)):
            self.feed(frozenset(value))
        state: dict[str, Any] = {}
        for klass in cls.__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if isinstance(slot, str) and slot not in ("__dict__", "__weakref__"):
                    if hasattr(value, slot):
                        state[slot] = getattr(value, slot)
        instance_dict = getattr(value, "__dict__", None)
        if isinstance(instance_dict, dict):
            state.update(instance_dict)
        if not state and not isinstance(value, (tuple, list, dict, set, frozenset)):
            self._feed_pickle(value)
            return
        self._feed_mapping(b"state", state)

    def _feed_pickle(self, value: Any) -> None:
        buffers: list[pickle.PickleBuffer] = []
        try:
            payload = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
        except Exception as error:  # any failure of a foreign __reduce__ makes the value opaque
            raise _Opaque(f"cannot be pickled: {type(error).__name__}: {error}") from error
        self.tag(b"pickle", payload)
        for buffer in buffers:
            self.hasher.update(buffer.raw())


def fingerprint(value: Any) -> Fingerprint:
    """Compute the content fingerprint of ``value``.

    Never raises: a value that cannot be fingerprinted gets an opaque result
    whose ``opaque_reason`` gives the reason.
    """
    cls = type(value)
    type_name = _qualified_name(cls)
    kind, shape, length, dtype, nbytes = "object", None, None, None, None
    encoder = _Encoder()
    try:
        kind, shape, length, dtype, nbytes = _describe(value)
        encoder.feed(value)
    except _Opaque as reason:
        return Fingerprint("", "opaque", type_name, shape, length, dtype, nbytes, None, str(reason))
    except RecursionError:
        return Fingerprint("", "opaque", type_name, shape, length, dtype, nbytes, None,
                           "nested too deeply for the Python stack")
    except Exception as error:  # a foreign __dict__ or property may raise anything
        log.debug("fingerprint of %s failed", type_name, exc_info=True)
        reason = f"fingerprinting failed: {type(error).__name__}: {error}"
        return Fingerprint("", "opaque", type_name, shape, length, dtype, nbytes, None, reason)
    try:
        summary = numeric_summary(value)
    except Exception:  # the digest is kept even when statistics cannot be computed
        log.debug("numeric summary of %s failed", type_name, exc_info=True)
        summary = None
    return Fingerprint(encoder.hasher.hexdigest(), kind, type_name, shape, length, dtype, nbytes,
                       summary)


def numeric_summary(value: Any) -> NumericSummary | None:
    """Summarize the floating values of ``value``, or return None if it has none."""
    array = _float_values(value)
    if array is None:
        return None
    flat = array.reshape(-1)
    if np.iscomplexobj(flat):
        flat = np.concatenate([flat.real, flat.imag]) if flat.size else flat.real
    flat = flat.astype(np.float64, copy=False)
    count = int(flat.size)
    finite_mask = np.isfinite(flat)
    nan = int(np.isnan(flat).sum())
    inf = count - nan - int(finite_mask.sum())
    finite = flat[finite_mask] if nan or inf else flat
    if finite.size:
        minimum, maximum = float(finite.min()), float(finite.max())
        mean, std = float(finite.mean()), float(finite.std())
    else:
        minimum = maximum = mean = std = None
    if count <= FULL_VALUES_LIMIT:
        positions = range(count)
        complete = True
    else:
        positions = sorted(set(np.linspace(0, count - 1, SAMPLE_SIZE).astype(int).tolist()))
        complete = False
    sample = tuple((int(i), float(flat[i])) for i in positions)
    return NumericSummary(count, nan, inf, minimum, maximum, mean, std, sample, complete,
                          _rest_digest(value))


def _rest_digest(value: Any) -> str | None:
    """Digest a Series' or DataFrame's content other than its float values."""
    if not _is_pandas(value):
        return None
    import pandas as pd

    if isinstance(value, pd.Series):
        encoder = _Encoder()
        encoder.feed(value.name)
        encoder.feed(value.index)
        return encoder.hasher.hexdigest()
    if not isinstance(value, pd.DataFrame):
        return None
    floats = value.select_dtypes(include=["floating", "complexfloating"]).columns
    positions = [i for i, column in enumerate(value.columns) if column not in set(floats)]
    encoder = _Encoder()
    encoder.feed(list(map(str, value.columns)))
    encoder.feed([str(dtype) for dtype in value.dtypes])
    encoder.feed(value.index)
    encoder.feed(value.iloc[:, positions])
    return encoder.hasher.hexdigest()


def _float_values(value: Any) -> np.ndarray | None:
    if type(value) in (float, complex):
        return np.asarray([value])
    if isinstance(value, np.ndarray) and not isinstance(value, np.ma.MaskedArray):
        return value if value.dtype.kind in "fc" else None
    if isinstance(value, np.generic) and value.dtype.kind in "fc":
        return np.asarray([value])
    if type(value) in (list, tuple) and value and len(value) <= 100_000:
        if all(type(item) is float for item in value):
            return np.asarray(value, dtype=np.float64)
        return None
    if _is_pandas(value):
        import pandas as pd

        if isinstance(value, pd.Series) and isinstance(value.dtype, np.dtype):
            return value.to_numpy() if value.dtype.kind in "fc" else None
        if isinstance(value, pd.DataFrame):
            floats = value.select_dtypes(include=["floating", "complexfloating"])
            if floats.shape[1] and all(isinstance(d, np.dtype) for d in floats.dtypes):
                return floats.to_numpy()
    return None


def _describe(value: Any) -> tuple[str, tuple[int, ...] | None, int | None, str | None, int | None]:
    """Return kind, shape, length, dtype and size in bytes, as far as cheaply known."""
    cls = type(value)
    if isinstance(value, np.ndarray):
        return "ndarray", tuple(value.shape), None, _dtype_text(value.dtype), int(value.nbytes)
    if isinstance(value, np.generic):
        return "numpy-scalar", None, None, _dtype_text(value.dtype), int(value.nbytes)
    if _is_pandas(value):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            nbytes = int(value.memory_usage(index=True, deep=False).sum())
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


def _matplotlib_artist_type() -> type | None:
    artist_module = sys.modules.get("matplotlib.artist")
    return getattr(artist_module, "Artist", None) if artist_module is not None else None


def _is_pandas(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return False
    return isinstance(value, (pandas.DataFrame, pandas.Series, pandas.Index))


def _dtype_text(dtype: np.dtype) -> str:
    return str(dtype.descr) if dtype.fields else dtype.str


def _float_bytes(value: float) -> bytes:
    return _NAN_BYTES if math.isnan(value) else struct.pack("<d", value)


def _qualified_name(cls: type) -> str:
    module = getattr(cls, "__module__", None) or ""
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module == "builtins" else f"{module}.{name}"


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
