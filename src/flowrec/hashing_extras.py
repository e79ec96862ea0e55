"""Encodings for values of optional libraries, used only when they are imported.

matplotlib figures are hashed by the data they draw (lines, collections,
images, texts, limits), not by their pixels. pyarrow tables, polars frames,
xarray objects, scipy.sparse matrices and torch tensors are hashed by their
content. A library that is not imported is never imported here.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .hashing import Encoder


def feed(encoder: Encoder, value: Any) -> bool:
    """Feed ``value`` if an optional library's type is recognized; return whether it was."""
    module = (type(value).__module__ or "").partition(".")[0]
    handler = _HANDLERS.get(module)
    if handler is not None:
        return handler(encoder, value)
    if "matplotlib.artist" in sys.modules:
        # Subclasses of figures and artists defined in other packages.
        return _matplotlib(encoder, value)
    return False


def _matplotlib(encoder: Encoder, value: Any) -> bool:
    from .hashing import Opaque

    figure_module = sys.modules.get("matplotlib.figure")
    axes_module = sys.modules.get("matplotlib.axes")
    artist_module = sys.modules.get("matplotlib.artist")
    if figure_module is not None and isinstance(value, figure_module.Figure):
        encoder.count(b"mpl:Figure", len(value.axes))
        encoder.feed([float(size) for size in value.get_size_inches()])
        encoder.feed(value._suptitle.get_text() if value._suptitle is not None else None)
        for axes in value.axes:
            _feed_axes(encoder, axes)
        return True
    if axes_module is not None and isinstance(value, axes_module.Axes):
        _feed_axes(encoder, value)
        return True
    if artist_module is not None and isinstance(value, artist_module.Artist):
        raise Opaque("a matplotlib artist other than a figure or axes is compared "
                     "through the cell's image output")
    return False


def _feed_axes(encoder: Encoder, axes: Any) -> None:
    encoder.tag(b"mpl:Axes")
    encoder.feed([axes.get_title(), axes.get_xlabel(), axes.get_ylabel()])
    encoder.feed([float(limit) for limit in (*axes.get_xlim(), *axes.get_ylim())])
    encoder.feed([axes.get_xscale(), axes.get_yscale()])
    for line in axes.get_lines():
        encoder.tag(b"line")
        encoder.feed_ndarray(np.asarray(line.get_xydata(), dtype=np.float64))
        encoder.feed(line.get_label())
    for collection in axes.collections:
        encoder.text(b"collection", type(collection).__name__)
        encoder.feed_ndarray(np.asarray(collection.get_offsets(), dtype=np.float64))
        array = collection.get_array()
        encoder.feed_ndarray(np.ma.getdata(array) if array is not None else np.zeros(0))
    for image in axes.get_images():
        encoder.tag(b"image")
        encoder.feed_ndarray(np.asarray(image.get_array()))
    for patch in axes.patches:
        encoder.text(b"patch", type(patch).__name__)
        bounds = patch.get_path().get_extents(patch.get_patch_transform()).bounds
        encoder.feed([float(number) for number in bounds])
    encoder.feed([text.get_text() for text in axes.texts])


def _pyarrow(encoder: Encoder, value: Any) -> bool:
    import pyarrow as pa

    if isinstance(value, (pa.Table, pa.RecordBatch)):
        encoder.text(b"arrow:" + type(value).__name__.encode(),
                      value.schema.to_string(show_schema_metadata=False))
        encoder.count(b"rows", value.num_rows)
        for column in value.columns:
            _feed_arrow_array(encoder, column)
        return True
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        encoder.text(b"arrow:array", str(value.type))
        _feed_arrow_array(encoder, value)
        return True
    return False


def _feed_arrow_array(encoder: Encoder, array: Any) -> None:
    # Content, not buffers: buffer layout depends on chunking and slicing.
    try:
        values = array.to_numpy(zero_copy_only=False)
    except Exception:  # nested and dictionary types convert through Python objects
        values = np.asarray(array.to_pylist(), dtype=object)
    if values.dtype.hasobject:
        encoder.feed_object_values(values.reshape(-1))
    else:
        encoder.feed_ndarray(values)
    encoder.count(b"nulls", array.null_count)


def _polars(encoder: Encoder, value: Any) -> bool:
    import polars as pl

    if isinstance(value, pl.DataFrame):
        encoder.count(b"polars:DataFrame", value.height)
        for series in value.get_columns():
            _feed_polars_series(encoder, series)
        return True
    if isinstance(value, pl.Series):
        _feed_polars_series(encoder, value)
        return True
    return False


def _feed_polars_series(encoder: Encoder, series: Any) -> None:
    encoder.text(b"polars:Series", f"{series.name}:{series.dtype}")
    if series.dtype.is_numeric() and series.null_count() == 0:
        encoder.feed_ndarray(series.to_numpy())
    else:
        encoder.feed_object_values(np.asarray(series.to_list(), dtype=object).reshape(-1))


def _xarray(encoder: Encoder, value: Any) -> bool:
    import xarray as xr

    if isinstance(value, xr.DataArray):
        encoder.tag(b"xarray:DataArray")
        encoder.feed(value.name)
        encoder.feed(list(value.dims))
        encoder.feed_ndarray(np.asarray(value.values))
        for name in sorted(value.coords, key=str):
            encoder.feed(str(name))
            encoder.feed_ndarray(np.asarray(value.coords[name].values))
        encoder.feed(dict(value.attrs))
        return True
    if isinstance(value, xr.Dataset):
        encoder.tag(b"xarray:Dataset")
        for name in sorted(value.variables, key=str):
            encoder.feed(str(name))
            _xarray(encoder, value[name])
        encoder.feed(dict(value.attrs))
        return True
    return False


def _scipy(encoder: Encoder, value: Any) -> bool:
    import scipy.sparse as sparse

    if not sparse.issparse(value):
        return False
    # Canonical CSR form: duplicates summed, indices sorted, so equal
    # matrices stored differently hash alike.
    canonical = value.tocsr(copy=True)
    canonical.sum_duplicates()
    canonical.eliminate_zeros()
    canonical.sort_indices()
    # Matrices and arrays differ in what * means, so the class is part of the value.
    kind = "array" if isinstance(value, getattr(sparse, "sparray", ())) else "matrix"
    encoder.text(b"sparse", f"{kind}:{canonical.dtype.str}:{canonical.shape}")
    encoder.feed_ndarray(canonical.indptr.astype(np.int64))
    encoder.feed_ndarray(canonical.indices.astype(np.int64))
    encoder.feed_ndarray(canonical.data)
    return True


def _torch(encoder: Encoder, value: Any) -> bool:
    import torch

    from .hashing import Opaque

    if not isinstance(value, torch.Tensor):
        return False
    if value.device.type != "cpu":
        raise Opaque(f"a tensor on {value.device} is not copied to the host to be hashed")
    tensor = value.detach()
    if tensor.is_sparse:
        tensor = tensor.to_dense()
    encoder.text(b"torch", f"{tensor.dtype}:{tuple(tensor.shape)}")
    contiguous = tensor.contiguous()
    if contiguous.dtype in (torch.bfloat16,):
        contiguous = contiguous.view(torch.int16)
    encoder.feed_ndarray(contiguous.numpy())
    return True


_HANDLERS = {
    "matplotlib": _matplotlib,
    "pyarrow": _pyarrow,
    "polars": _polars,
    "xarray": _xarray,
    "scipy": _scipy,
    "torch": _torch,
}
