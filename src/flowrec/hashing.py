"""The tagged, length-prefixed encoding behind every fingerprint.

:class:`Encoder` feeds a value into an xxh3-128 hasher. Each part of the
encoding starts with a tag naming its kind and a length, so values of
different types or structure never share an encoding. Containers of plain
scalars, numpy arrays and pandas columns take bulk paths that run at C
speed; everything else is walked item by item.
"""

from __future__ import annotations

import array
import collections.abc
import dataclasses
import enum
import io
import math
import pickle
import random
import socket
import struct
import sys
import threading
import types
from typing import Any

import numpy as np
import xxhash

from . import hashing_extras

# Bumped whenever the encoding changes, so digests made by another version
# are never compared with these.
ENCODING_VERSION = 5
CHUNK_BYTES = 1024 * 1024  # small enough that a copied slab stays in cache
MAX_DEPTH = 200
MAX_NODES = 200_000

_NAN_BYTES = struct.pack("<d", float("nan"))
_LENGTH = struct.Struct("<Q")
# Tags of parts whose payload is a 16-byte xxh3-128 digest, with the length prefixed.
_LABELS_TAG = b"labels" + _LENGTH.pack(16)
_COLUMN_TAG = b"column" + _LENGTH.pack(16)
_NONE_ENCODING = b"none" + _LENGTH.pack(0)
# Scalars whose pickled form depends on their value alone once the pickle
# memo is off. Floats are left out: their NaN payloads need canonical bytes.
_PLAIN_SCALARS = frozenset({int, str, bytes, bool, type(None)})
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_UNREADABLE_TYPES: tuple[tuple[Any, str], ...] = (
    (types.GeneratorType, "a generator would be consumed"),
    (types.AsyncGeneratorType, "an async generator would be consumed"),
    (types.CoroutineType, "a coroutine cannot be read without running it"),
    (io.IOBase, "an open file or stream is not read"),
    (socket.socket, "a socket is not read"),
    (_LOCK_TYPES, "a lock has no content to compare"),
    (threading.Thread, "a thread has no content to compare"),
    (types.FrameType, "a frame has no stable content"),
    (collections.abc.Iterator, "an iterator would be consumed"),
)


class Opaque(Exception):
    """Raised inside the encoder when a value cannot be fingerprinted; the message is the reason."""


class Encoder:
    """Feeds one value's encoding into an xxh3-128 hasher."""

    def __init__(self) -> None:
        self.hasher = xxhash.xxh3_128()
        self.nodes = 0
        self.stack: list[int] = []
        # Digest of the non-float content of the top-level Series or DataFrame.
        self.rest_digest: str | None = None
        # Columns of the top-level DataFrame, so callers need not split it again.
        self.top_columns: list[Any] | None = None
        # The float64 array of a top-level list or tuple of floats, for its summary.
        self.top_floats: np.ndarray | None = None

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()

    def digest_of(self, value: Any) -> str:
        """Return the digest of ``value`` alone, sharing this encoder's budget and cycle stack."""
        sub = Encoder()
        sub.nodes = self.nodes
        sub.stack = self.stack
        sub.feed(value)
        self.nodes = sub.nodes
        return sub.hexdigest()

    def tag(self, tag: bytes, payload: bytes = b"") -> None:
        self.hasher.update(tag + _LENGTH.pack(len(payload)) + payload)

    def text(self, tag: bytes, value: str) -> None:
        self.tag(tag, value.encode("utf-8", "surrogatepass"))

    def count(self, tag: bytes, number: int) -> None:
        self.hasher.update(tag + _LENGTH.pack(number))

    def feed(self, value: Any) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise Opaque(f"more than {MAX_NODES} nested values")
        if len(self.stack) > MAX_DEPTH:
            raise Opaque(f"nested deeper than {MAX_DEPTH} levels")
        ident = id(value)
        if ident in self.stack:
            # A cycle: encode the distance back to the container it refers to.
            self.count(b"cycle", len(self.stack) - self.stack.index(ident))
            return
        self.stack.append(ident)
        try:
            self._dispatch(value)
        finally:
            self.stack.pop()

    def _dispatch(self, value: Any) -> None:
        cls = type(value)
        if value is None:
            self.hasher.update(_NONE_ENCODING)
        elif cls is bool:
            self.tag(b"bool", b"1" if value else b"0")
        elif cls is int:
            # Bytes, not decimal text: str() of a huge int depends on a process limit.
            self.tag(b"int", value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True))
        elif cls is float:
            self.tag(b"float", float_bytes(value))
        elif cls is complex:
            self.tag(b"complex", float_bytes(value.real) + float_bytes(value.imag))
        elif cls is str:
            self.text(b"str", value)
        elif cls in (bytes, bytearray, memoryview):
            self.tag(cls.__name__.encode(), bytes(value))
        elif cls in (list, tuple):
            self._feed_sequence(cls.__name__.encode(), value)
        elif cls is dict:
            self._feed_dict(value)
        elif cls in (set, frozenset):
            digests = sorted(self.digest_of(item) for item in value)
            self.tag(cls.__name__.encode(), "".join(digests).encode())
        elif isinstance(value, np.ndarray):
            self.feed_ndarray(value)
        elif isinstance(value, np.generic):
            self._feed_numpy_scalar(value)
        elif is_pandas(value):
            self._feed_pandas(value)
        elif not hashing_extras.feed(self, value):
            self._feed_object(value)

    # Builtin containers.

    def _feed_sequence(self, tag: bytes, value: list | tuple) -> None:
        if value and type(value[0]) is float and set(map(type, value)) == {float}:
            array = np.fromiter(value, dtype=np.float64, count=len(value))
            self.count(b"floats:" + tag, len(value))
            self.hasher.update(canonical_nan(array))
            if len(self.stack) == 1:
                self.top_floats = array
            return
        if self._feed_plain(value):
            return
        self.count(tag, len(value))
        for item in value:
            self.feed(item)

    def _feed_dict(self, value: dict) -> None:
        if not self._feed_plain(value):
            self.feed_mapping(b"dict", value)

    def _feed_plain(self, value: list | tuple | dict) -> bool:
        """Feed a tree of builtin containers and scalars as one pickle, if it is one."""
        payload = plain_pickle(value)
        if payload is None:
            return False
        # Plain trees are pickled at C speed, so they do not count against the node budget.
        self.tag(b"plain", payload)
        return True

    def feed_mapping(self, tag: bytes, mapping: dict) -> None:
        self.count(tag, len(mapping))
        for key, item in mapping.items():
            self.feed(key)
            self.feed(item)

    # numpy.

    def feed_ndarray(self, array: np.ndarray) -> None:
        if isinstance(array, np.ma.MaskedArray):
            self.text(b"masked", qualified_name(type(array)))
            mask = np.ma.getmaskarray(array)
            data = np.ma.getdata(array)
            if mask.any() and not data.dtype.hasobject and not data.dtype.fields:
                # What lies under the mask is not part of the value.
                data = np.where(mask, np.zeros(1, dtype=data.dtype), data)
            self.feed_ndarray(data)
            self.feed_ndarray(mask)
            return
        if array.dtype.fields and not array.dtype.hasobject:
            packed = _without_padding(array)
            if packed is not array:
                self.feed_ndarray(packed)
                return
        if type(array) is not np.ndarray:
            self.text(b"subclass", qualified_name(type(array)))
        # One header for dtype and shape: small arrays are common in frames.
        self.tag(b"ndarray", dtype_text(array.dtype).encode()
                 + struct.pack(f"<{array.ndim}Q", *array.shape))
        if array.dtype.hasobject:
            self.feed_object_values(array.ravel(order="C") if array.ndim != 1 else array)
            return
        if array.size == 0:
            return
        # NOTE: array bytes are hashed as they are, so NaN payload bits count
        # here; rewriting NaNs would cost a second pass over the memory.
        self._update_c_order(array)

    def _update_c_order(self, array: np.ndarray) -> None:
        """Hash an array's bytes in C order, copying at most ``CHUNK_BYTES`` at a time."""
        if array.flags.c_contiguous:
            self.hasher.update(array.reshape(-1).view(np.uint8))
            return
        row_bytes = array[0:1].nbytes
        if array.ndim > 1 and row_bytes > CHUNK_BYTES:
            for row in array:
                self._update_c_order(row)
            return
        rows_per_chunk = max(1, CHUNK_BYTES // max(1, row_bytes))
        for start in range(0, array.shape[0], rows_per_chunk):
            chunk = np.ascontiguousarray(array[start : start + rows_per_chunk])
            self.hasher.update(chunk.reshape(-1).view(np.uint8))

    def feed_object_values(self, values: np.ndarray) -> None:
        """Feed a 1-d object array: strings in bulk, plain scalars pickled, others one by one."""
        kinds = set(map(type, values))
        if kinds == {str}:
            lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
            self.count(b"strings", len(values))
            self.hasher.update(lengths)
            self.hasher.update("".join(values).encode("utf-8", "surrogatepass"))
            return
        if kinds <= _PLAIN_SCALARS:
            self.tag(b"plain:objects", pickle_without_memo(values.tolist()))
            return
        self.count(b"objects", len(values))
        for item in values:
            self.feed(item)

    def _feed_numpy_scalar(self, value: np.generic) -> None:
        self.text(b"npscalar", dtype_text(value.dtype))
        if value.dtype.hasobject:
            self.feed(value.item())
            return
        raw = np.asarray(value).reshape(1)
        if raw.dtype.kind in "fc":
            self.hasher.update(canonical_nan(raw))
        else:
            self.hasher.update(np.ascontiguousarray(raw).view(np.uint8))

    # pandas.

    def _feed_pandas(self, value: Any) -> None:
        import pandas as pd

        top_level = len(self.stack) == 1
        if isinstance(value, pd.DataFrame):
            self._feed_frame(value, top_level)
        elif isinstance(value, pd.Series):
            labels = Encoder()
            labels.feed(value.name)
            labels.feed_index(value.index)
            self.count(b"Series", len(value))
            self.tag(b"labels", labels.hasher.digest())
            self.feed_column(value.array)
            if top_level:
                self.rest_digest = labels.hexdigest()
        else:
            self.feed_index(value)

    def _feed_frame(self, frame: Any, top_level: bool) -> None:
        """Feed a DataFrame as the digest of its labels, then the digest of each column.

        Labels and columns are hashed apart, so the digest of the non-float
        part (``rest_digest``) comes at no extra cost for tolerance checks.
        Its encoding is ``tag(b"labels", digest)`` and ``tag(b"column",
        digest)`` per column, assembled here as bytes in one update.
        """
        labels = Encoder()
        labels.feed_index(frame.columns)
        labels.feed_index(frame.index)
        labels_part = _LABELS_TAG + labels.hasher.digest()
        columns = frame_columns(frame)
        parts = [b"DataFrame", _LENGTH.pack(len(columns)), labels_part]
        rest_parts = [labels_part]
        for column in columns:
            # Float values are compared through the summary, so the rest digest
            # contains only their dtype. rest_part is that part, None unless float.
            plain = _plain_column_digest(column)
            if plain is not None:
                digest, rest_part = plain
            else:
                part = Encoder()
                part.feed_column(column)
                digest = part.hasher.digest()
                rest_part = None
                if isinstance(column, np.ndarray) and column.dtype.kind == "f":
                    rest_part = _text_part(b"column", column.dtype.str)
            column_part = _COLUMN_TAG + digest
            parts.append(column_part)
            rest_parts.append(column_part if rest_part is None else rest_part)
        self.hasher.update(b"".join(parts))
        if top_level:
            self.rest_digest = xxhash.xxh3_128_hexdigest(b"".join(rest_parts))
            self.top_columns = columns

    def feed_index(self, index: Any) -> None:
        import pandas as pd

        if isinstance(index, pd.RangeIndex):
            self.tag(b"RangeIndex", struct.pack("<qqq", index.start, index.stop, index.step))
            self._feed_name(index.name)
        elif isinstance(index, pd.MultiIndex):
            self.count(b"MultiIndex", index.nlevels)
            self.feed(list(index.names))
            for level in range(index.nlevels):
                self.feed_column(index.get_level_values(level).array)
        else:
            self.text(b"Index", type(index).__name__)
            self._feed_name(index.name)
            self.feed_column(index.array)

    def _feed_name(self, name: Any) -> None:
        """Feed an index name as ``feed`` does, with a shortcut for None, the most common name."""
        if name is None and self.nodes < MAX_NODES and len(self.stack) <= MAX_DEPTH:
            self.nodes += 1
            self.hasher.update(_NONE_ENCODING)
        else:
            self.feed(name)

    def feed_column(self, values: Any) -> None:
        """Feed one pandas column: a numpy array or an extension array, with its dtype."""
        dtype = values.dtype
        self.text(b"dtype", dtype_name(dtype))
        if isinstance(values, np.ndarray):
            self.feed_ndarray(values)
            return
        dtype_kind = type(dtype).__name__
        if dtype_kind == "StringDtype":
            self._feed_string_column(values)
            return
        if dtype_kind == "CategoricalDtype":
            # The codes alone would make ["a", "b"] and ["x", "y"] equal.
            self.feed(bool(values.dtype.ordered))
            self.feed_index(values.categories)
            self.feed_ndarray(np.asarray(values.codes))
            return
        # Checked early because most extension arrays (datetimes with a time
        # zone, periods, timedeltas) keep a numpy array here.
        backing = getattr(values, "_ndarray", None)
        if isinstance(backing, np.ndarray):
            self.feed_ndarray(backing)
            return
        data, mask = getattr(values, "_data", None), getattr(values, "_mask", None)
        if isinstance(data, np.ndarray) and isinstance(mask, np.ndarray):
            # Nullable integer, float and boolean columns: values where not
            # masked, so the bytes under a missing value never count.
            self.feed_ndarray(np.where(mask, np.zeros(1, dtype=data.dtype), data))
            self.feed_ndarray(mask)
            return
        # Arrow-backed and other extension arrays: their values as Python
        # objects, encoded as the numpy-backed storage of the same dtype is.
        self.feed_ndarray(np.asarray(values, dtype=object).reshape(-1))

    def _feed_string_column(self, values: Any) -> None:
        """Feed a pandas string column as validity, UTF-8 byte lengths and UTF-8 data.

        Arrow-backed columns are read from their buffers; Python-backed ones
        are encoded string by string. Both give the same bytes for the same
        content, so the storage choice never changes a digest.
        """
        chunked = getattr(values, "_pa_array", None)
        if chunked is not None and len(chunked) <= 256:
            # Python objects are cheaper than Arrow buffers for short columns.
            strings = chunked.chunk(0) if chunked.num_chunks == 1 else chunked
            parts = _python_string_parts(strings.to_pylist())
        elif chunked is not None:
            parts = _arrow_string_parts(chunked)
        else:
            parts = None
        if parts is None:
            backing = getattr(values, "_ndarray", None)
            items = backing if isinstance(backing, np.ndarray) else np.asarray(values, dtype=object)
            parts = _python_string_parts(items.reshape(-1).tolist())
        valid, lengths, data = parts
        header = b"strings" + _LENGTH.pack(len(valid))
        if len(data) <= _SMALL_COLUMN_BYTES:
            self.hasher.update(b"".join((header, valid, lengths, data)))
            return
        self.hasher.update(header)
        self.hasher.update(valid)
        self.hasher.update(lengths)
        self.hasher.update(data)

    # Other objects.

    def _feed_object(self, value: Any) -> None:
        cls = type(value)
        for unreadable, reason in _UNREADABLE_TYPES:
            if isinstance(value, unreadable):
                raise Opaque(reason)
        if isinstance(value, random.Random):
            # The Mersenne Twister state lives in C, outside the instance's __dict__.
            self.text(b"random.Random", qualified_name(cls))
            self.feed(value.getstate())
        elif isinstance(value, enum.Enum):
            self.text(b"enum", qualified_name(cls))
            self.text(b"member", value.name)
        elif isinstance(value, types.ModuleType):
            self.text(b"module", value.__name__)
            self.feed(module_version(value.__name__))
        elif isinstance(value, type):
            self.text(b"class", qualified_name(value))
            self.feed(module_version(getattr(value, "__module__", "") or ""))
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
        for cell in function.__closure__ or ():
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
        self.text(b"instance", qualified_name(cls))
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
        self.feed_mapping(b"state", state)

    def _feed_pickle(self, value: Any) -> None:
        buffers: list[pickle.PickleBuffer] = []
        try:
            payload = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
        except Exception as error:  # any failure of a foreign __reduce__ makes the value opaque
            raise Opaque(f"cannot be pickled: {type(error).__name__}: {error}") from error
        self.tag(b"pickle", payload)
        for buffer in buffers:
            self.hasher.update(buffer.raw())


class _PlainPickler(pickle.Pickler):
    """A C pickler that accepts only builtin scalars and containers.

    CPython calls ``reducer_override`` for every object except exact
    builtin scalars, lists, tuples, dicts and sets, so any other object
    aborts the pickle at C speed.
    """

    def reducer_override(self, obj: Any) -> Any:
        raise _NotPlain


class _NotPlain(Exception):
    pass


_PLAIN_CONTAINERS = frozenset({list, tuple, dict})
_PLAIN_TREE_KINDS = _PLAIN_SCALARS | {float} | _PLAIN_CONTAINERS
_PLAIN_MAX_DEPTH = 8


def is_plain_tree(value: list | tuple | dict, depth: int = 0) -> bool:
    """Return whether ``value`` holds only builtin scalars, lists, tuples and dicts, and no NaN.

    Sets are excluded because their pickled order follows the salted string
    hash, and NaN because its payload bits would count in the pickle.
    """
    if depth > _PLAIN_MAX_DEPTH:
        return False
    groups = (value.keys(), value.values()) if type(value) is dict else (value,)
    for items in groups:
        kinds = set(map(type, items))
        if not kinds <= _PLAIN_TREE_KINDS:
            return False
        if float in kinds and any(item != item for item in items if type(item) is float):
            return False
        nested = kinds & _PLAIN_CONTAINERS
        if nested and not all(is_plain_tree(item, depth + 1)
                              for item in items if type(item) in nested):
            return False
    return True


def plain_pickle(value: Any) -> bytes | None:
    """Pickle a tree of builtin scalars and containers, or return None if it is not one.

    The memo is off, so equal content gives equal bytes whatever objects are
    shared.
    """
    if not is_plain_tree(value):
        return None
    stream = io.BytesIO()
    pickler = _PlainPickler(stream, protocol=5)
    pickler.fast = True
    try:
        pickler.dump(value)
    except (_NotPlain, RecursionError, ValueError, pickle.PicklingError):
        return None
    return stream.getvalue()


def _python_string_parts(items: list[Any]) -> tuple[bytes, bytes, bytes]:
    """Return validity bytes, native int64 UTF-8 byte lengths and UTF-8 data of strings.

    Items that are not strings (None, NaN, pd.NA) are missing values.
    """
    if items and set(map(type, items)) == {str}:
        # Every item valid: encode the joined text once. UTF-8 encodes each
        # code point on its own, so this is the concatenation of the items' bytes.
        text = "".join(items)
        data = text.encode("utf-8", "surrogatepass")
        if len(data) == len(text):  # one byte per character, so byte length is string length
            lengths = array.array("q", map(len, items))
        else:
            lengths = array.array("q", [len(item.encode("utf-8", "surrogatepass"))
                                        for item in items])
        return b"\x01" * len(items), lengths.tobytes(), data
    encoded = [item.encode("utf-8", "surrogatepass") if type(item) is str else None
               for item in items]
    valid = bytes(item is not None for item in encoded)
    lengths = array.array("q", [len(item) if item is not None else 0 for item in encoded])
    return valid, lengths.tobytes(), b"".join(item for item in encoded if item is not None)


def _arrow_string_parts(chunked: Any) -> tuple[Any, np.ndarray, Any] | None:
    """Return (validity, byte lengths, data) of an Arrow string column, or None.

    None means a layout read more safely through Python objects (string
    views, null slots with data).
    """
    import pyarrow as pa

    strings = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
    if pa.types.is_string(strings.type):
        offset_type = np.int32
    elif pa.types.is_large_string(strings.type):
        offset_type = np.int64
    else:
        return None
    buffers = strings.buffers()
    count = len(strings)
    offsets = np.frombuffer(buffers[1], dtype=offset_type, count=count + 1,
                            offset=strings.offset * np.dtype(offset_type).itemsize)
    lengths = np.diff(offsets).astype(np.int64)
    if strings.null_count:
        valid = np.asarray(strings.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        if lengths[~valid].any():
            return None
    else:
        valid = np.ones(count, dtype=bool)
    start, end = int(offsets[0]), int(offsets[-1])
    data = memoryview(buffers[2])[start:end] if buffers[2] is not None else b""
    return valid, lengths, data


def _without_padding(array: np.ndarray) -> np.ndarray:
    """Return a structured array without the padding bytes between its fields.

    Padding contains whatever memory was there before, so two equal arrays
    can differ in it. The packed copy keeps only the fields.
    """
    dtype = array.dtype
    if dtype.itemsize == sum(dtype.fields[name][0].itemsize for name in dtype.names):
        return array
    from numpy.lib import recfunctions

    return recfunctions.repack_fields(array)


def pickle_without_memo(value: Any) -> bytes:
    """Pickle ``value`` with the memo off, so equal content gives equal bytes.

    With the memo on, a string object repeated by reference pickles shorter
    than the same text held in two separate objects.
    """
    stream = io.BytesIO()
    pickler = pickle.Pickler(stream, protocol=5)
    pickler.fast = True
    pickler.dump(value)
    return stream.getvalue()


def canonical_nan(array: np.ndarray) -> np.ndarray:
    """Return the bytes of a flat float array with every NaN set to one bit pattern.

    The input is only copied when it contains a NaN; otherwise it is viewed in place.
    """
    if array.dtype.kind == "c":
        parts = array.view(array.real.dtype)
        if np.isnan(parts).any():
            parts = np.where(np.isnan(parts), np.nan, parts).astype(parts.dtype)
        return parts.view(np.uint8)
    if np.isnan(array).any():
        array = np.where(np.isnan(array), np.nan, array).astype(array.dtype)
    return array.view(np.uint8)


# Per dtype of 1-d numpy columns: the encoding that ``feed_column`` writes
# before the shape, and for float dtypes the column's part of a frame's rest
# digest. Bounded, because a dtype with a datetime unit or a byte order is a
# new key.
_COLUMN_PREFIXES: dict[np.dtype, tuple[bytes, bytes | None]] = {}
_COLUMN_PREFIXES_LIMIT = 256
# Columns up to this size are copied into one buffer with their header and
# hashed in one call, which is cheaper than a streaming hasher for small data.
_SMALL_COLUMN_BYTES = 4096


def _plain_column_digest(column: Any) -> tuple[bytes, bytes | None] | None:
    """Return the digest of ``Encoder().feed_column(column)`` and the rest part, or None.

    Plain means a C-contiguous 1-d ``np.ndarray`` of a dtype without fields
    and objects, the common case of a DataFrame column. The bytes hashed are
    the ones ``feed_column`` would feed, built without its per-call checks.
    """
    if type(column) is not np.ndarray or column.ndim != 1 or not column.flags.c_contiguous:
        return None
    dtype = column.dtype
    entry = _COLUMN_PREFIXES.get(dtype)
    if entry is None:
        if dtype.hasobject or dtype.fields is not None:
            return None
        code = dtype.str.encode()
        # The bytes of tag(b"dtype", code), then feed_ndarray's tag with the code and the shape.
        prefix = (b"dtype" + _LENGTH.pack(len(code)) + code
                  + b"ndarray" + _LENGTH.pack(len(code) + 8) + code)
        rest_part = _text_part(b"column", dtype.str) if dtype.kind == "f" else None
        if len(_COLUMN_PREFIXES) >= _COLUMN_PREFIXES_LIMIT:
            _COLUMN_PREFIXES.clear()
        entry = _COLUMN_PREFIXES[dtype] = (prefix, rest_part)
    prefix, rest_part = entry
    header = prefix + _LENGTH.pack(len(column))
    if column.nbytes <= _SMALL_COLUMN_BYTES:
        return xxhash.xxh3_128_digest(header + column.tobytes()), rest_part
    hasher = xxhash.xxh3_128(header)
    hasher.update(column)
    return hasher.digest(), rest_part


def _text_part(tag: bytes, value: str) -> bytes:
    """Return the bytes ``Encoder.text(tag, value)`` feeds."""
    payload = value.encode("utf-8", "surrogatepass")
    return tag + _LENGTH.pack(len(payload)) + payload


def frame_columns(frame: Any) -> list[Any]:
    """Return a DataFrame's 1-d columns as numpy or extension arrays, in order, without copies.

    Reads pandas' block manager when it is there, and falls back to one
    column at a time. Both give the same arrays, so how pandas grouped the
    columns into blocks never changes a digest.
    """
    try:
        columns: list[Any] = [None] * len(frame.columns)
        for block in frame._mgr.blocks:
            positions = block.mgr_locs.as_array.tolist()
            values = block.values
            # Numpy blocks keep one column per row, and so do datetime and timedelta
            # blocks, whose values are 2-d arrays. Other blocks hold one 1-d array.
            if values.ndim == 1:
                columns[positions[0]] = values
            elif len(positions) == 1:
                columns[positions[0]] = values[0]
            else:
                for row, position in enumerate(positions):
                    columns[position] = values[row]
        for column in columns:
            if column is None:  # a block layout this loop does not handle
                break
        else:
            return columns
    except (AttributeError, IndexError, TypeError):
        pass
    # Series._values is the numpy array or extension array a block would hold.
    return [frame.iloc[:, position]._values for position in range(frame.shape[1])]


def float_bytes(value: float) -> bytes:
    return _NAN_BYTES if math.isnan(value) else struct.pack("<d", value)


def dtype_name(dtype: Any) -> str:
    """Return a numpy dtype's code (fast) or an extension dtype's name."""
    return dtype.str if isinstance(dtype, np.dtype) else str(dtype)


def dtype_text(dtype: np.dtype) -> str:
    return str(dtype.descr) if dtype.fields else dtype.str


def qualified_name(cls: type) -> str:
    module = getattr(cls, "__module__", None) or ""
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module == "builtins" else f"{module}.{name}"


def module_version(module_name: str) -> str | None:
    """Return the ``__version__`` of a loaded module's top-level package, if it has one."""
    top = sys.modules.get(module_name.partition(".")[0])
    version = getattr(top, "__version__", None)
    return version if isinstance(version, str) else None


def is_pandas(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return False
    return isinstance(value, (pandas.DataFrame, pandas.Series, pandas.Index))
