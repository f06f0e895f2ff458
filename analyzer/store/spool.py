"""Parsed chunks handed from a helper process to the main one through files, not pipes.

A result sent back through a process pool is pickled: the helper holds the frame and its
pickle, and the main process receives it as soon as it is ready, holding the pickle and the
frame it becomes beside the chunk it is still storing. Written as an Arrow IPC file instead,
a chunk costs the helper no copy (the columns are written from their buffers) and the main
process nothing until it reads the file, when that chunk's turn comes (measured on 1 M
Postfix lines: the main process's high-water mark while receiving fell from 180 MiB over
its imports to the size of one chunk's frame).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

# Schema metadata: the numpy dtype of each column that is not an arrow column in pandas, and
# the pandas string dtype ("str", "string") of each that is one.
NUMPY_DTYPES = b"relaywatch.numpy"
STRING_DTYPES = b"relaywatch.strings"


@contextlib.contextmanager
def spool_folder() -> Iterator[Path]:
    """A private folder for the chunks in flight, removed with what is left in it (the
    system's temporary folder: ``TMPDIR`` chooses another)."""
    with tempfile.TemporaryDirectory(prefix="relaywatch-spool-") as folder:
        yield Path(folder)


def write_frame(frame: pd.DataFrame, folder: Path) -> Path:
    """Write ``frame`` (a default ``RangeIndex``; arrow, pandas string and numpy columns) to a
    new file in ``folder``; returns its path."""
    columns, numpy, strings = {}, {}, {}
    for name, column in frame.items():
        data = getattr(column.array, "_pa_array", None)
        if data is None:
            numpy[name] = column.dtype.str if column.dtype.kind != "M" else str(column.dtype)
            data = pa.array(column.array)
        elif isinstance(column.dtype, pd.StringDtype):
            strings[name] = str(column.dtype)
        columns[name] = data
    table = pa.table(columns).replace_schema_metadata(
        {NUMPY_DTYPES: _listed(numpy), STRING_DTYPES: _listed(strings)}
    )
    path = folder / f"{uuid.uuid4().hex}.arrow"
    partial = path.with_suffix(".partial")
    with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(partial, path)  # a file that is there is whole
    return path


def read_frame(path: Path) -> pd.DataFrame:
    """The frame ``write_frame`` wrote, with the same columns and dtypes; the file is removed."""
    with pa.OSFile(str(path), "rb") as source:
        table = pa.ipc.open_file(source).read_all()
    path.unlink()
    numpy = _unlisted(table.schema.metadata.get(NUMPY_DTYPES, b""))
    strings = _unlisted(table.schema.metadata.get(STRING_DTYPES, b""))
    data = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name in numpy:
            data[name] = _numpy_column(column, numpy[name])
        elif name in strings:
            data[name] = pd.Series(pd.arrays.ArrowExtensionArray(column)).astype(strings[name])
        else:
            data[name] = pd.arrays.ArrowExtensionArray(column)
    return pd.DataFrame(data)


def _listed(dtypes: dict[str, str]) -> bytes:
    return "\x1f".join(f"{k}\x1e{v}" for k, v in dtypes.items()).encode()


def _unlisted(text: bytes) -> dict[str, str]:
    return dict(item.split("\x1e", 1) for item in text.decode().split("\x1f") if item)


def _numpy_column(column: pa.ChunkedArray, dtype: str) -> pd.api.extensions.ExtensionArray:
    if pa.types.is_timestamp(column.type):
        values = column.combine_chunks().to_pandas(coerce_temporal_nanoseconds=False)
        return pd.array(values).astype(dtype)
    return np.asarray(column.combine_chunks().to_numpy(zero_copy_only=False), dtype=dtype)
