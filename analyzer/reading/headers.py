"""Syslog and Exim headers -> their fields (stamp, server, program, pid), each line's header
cut at its separators where it has its usual form and extracted by RE2 elsewhere; and the
Arrow helpers ``analyzer.reading.parse`` shares with them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.reading import stamps
from analyzer.reading.dispatch import STRING, blank_to_null, cut_where_usual
from analyzer.reading.patterns._fragments import (
    EXIM_HEADER,
    EXIM_USUAL_HEADER,
    SYSLOG_HEADER,
    SYSLOG_HEADER_CLASSIC,
    SYSLOG_HEADER_ISO,
    SYSLOG_USUAL_CLASSIC,
    SYSLOG_USUAL_ISO,
    USUAL_STAMP_BYTES,
    USUAL_TAG_BYTES,
)

EXIM = "exim"


def as_arrow(column: pd.Series) -> pa.ChunkedArray:
    array = (
        pa.chunked_array([column.array.__arrow_array__()])
        if not isinstance(column.array, pd.arrays.ArrowExtensionArray)
        else column.array._pa_array
    )
    return array.cast(STRING) if array.type != STRING else array


def single_array(column: pd.Series) -> pa.Array:
    """One contiguous arrow array: ``take`` on a chunked array is several times slower."""
    return as_arrow(column).combine_chunks()


def first_bytes(raw: pa.Array) -> np.ndarray:
    """The first byte of each string (0 for empty or null ones), read from the buffers."""
    return stamps.leading_bytes(raw, 1)[0][:, 0]


# Share of the lines from which extracting on every line beats picking the lines and
# spreading the results back (a take with nulls of a struct of strings): a pattern fails at
# a line's first byte for next to nothing (measured on 1 M lines, half of either shape:
# 0.15 s per pattern on every line, 0.45 s picked and spread back).
EXTRACT_ALL_SHARE = 0.05


def spread_rows(values: pa.Array, rows: np.ndarray, length: int) -> pa.Array:
    """``values`` (one per row of ``rows``, in order) at their rows of an array of
    ``length``, null elsewhere."""
    position = np.full(length, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    return values.take(pa.array(position, mask=position < 0))


def split_header(
    lines: pd.DataFrame, raw: pa.Array | None = None, exim_servers: np.ndarray | None = None
) -> pd.DataFrame:
    """Split each raw line's header into its fields.

    Requires: ``raw``. ``exim_servers`` names, per line, the server of an Exim mainlog line
    (None for syslog lines): those lines have Exim's own header and name no host.
    Adds (same index): ``stamp_classic``, ``stamp_iso``, ``server``, ``program``, ``pid``
    (nullable int); all null where a line has no header.
    """
    raw = single_array(lines[s.RAW]) if raw is None else raw
    fields = (s.STAMP_CLASSIC, s.STAMP_ISO, s.SERVER, s.PROGRAM, s.PID)
    columns = {name: pa.nulls(len(raw), STRING) for name in fields}
    done = pa.array(np.zeros(len(raw), dtype=bool))
    if exim_servers is not None and pd.notna(exim_servers).any():
        is_exim = pa.array(pd.notna(exim_servers))
        found = exim_headers(raw)
        hit = pc.and_(found.is_valid(), is_exim)
        for name in (s.STAMP_ISO, s.PID):
            columns[name] = pc.if_else(
                hit, blank_to_null(pc.struct_field(found, name)), columns[name]
            )
        columns[s.SERVER] = pc.if_else(hit, pa.array(exim_servers, STRING), columns[s.SERVER])
        columns[s.PROGRAM] = pc.if_else(hit, pa.scalar(EXIM, STRING), columns[s.PROGRAM])
        done = is_exim  # a damaged mainlog line is malformed, not a syslog line
    # The two usual shapes, each only on the lines whose first byte can start it (a digit:
    # RFC 3339, a capital: classic), then the general pattern over whatever they left
    # (usually nothing but damaged lines).
    first = first_bytes(raw)
    digit = (first >= ord("0")) & (first <= ord("9"))
    capital = (first >= ord("A")) & (first <= ord("Z"))
    for classic, candidates in ((False, digit), (True, capital)):
        rows = candidates & ~done.to_numpy(zero_copy_only=False)
        if not rows.any():
            continue
        found = syslog_headers(raw, rows, classic)
        hit = pc.and_(found.is_valid(), pa.array(rows))
        for name in (f.name for f in found.type):
            columns[name] = pc.if_else(
                hit, blank_to_null(pc.struct_field(found, name)), columns[name]
            )
        done = pc.or_(done, hit)
    out = pd.DataFrame(
        {
            name: pd.arrays.ArrowExtensionArray(
                pa.chunked_array(columns[name])
                if isinstance(columns[name], pa.Array)
                else columns[name]
            )
            for name in fields
        },
        index=lines.index,
    )
    pending = np.flatnonzero(~done.to_numpy(zero_copy_only=False))
    if len(pending):
        found = pc.extract_regex(raw.take(pa.array(pending)), SYSLOG_HEADER)
        hit = found.is_valid().to_numpy(zero_copy_only=False)
        for name in fields:
            values = blank_to_null(pc.struct_field(found, name)).to_pylist()
            out.iloc[pending[hit], out.columns.get_loc(name)] = [
                v for v, h in zip(values, hit, strict=True) if h
            ]
    out[s.PID] = out[s.PID].astype(pd.ArrowDtype(pa.int64()))
    return out


def exim_headers(raw: pa.Array) -> pa.StructArray:
    """``pc.extract_regex(raw, EXIM_HEADER)``, cut where the header has its usual form."""
    return cut_where_usual(raw, EXIM_USUAL_HEADER, _cut_exim_header, EXIM_HEADER)


def _cut_exim_header(lines: pa.Array) -> pa.StructArray:
    text = lines.cast(pa.large_binary())
    stamp = pc.binary_slice(text, 0, 19)
    pid, _ = _split_off(pc.binary_slice(text, 21, 32), "]")
    return _struct({s.STAMP_ISO: stamp, s.PID: pid})


def syslog_headers(raw: pa.Array, rows: np.ndarray, classic: bool) -> pa.StructArray:
    """``pc.extract_regex`` of SYSLOG_HEADER_CLASSIC (or _ISO) on the ``rows`` of ``raw``, in
    place; other rows hold null or what the pattern finds in them (callers keep ``rows``
    only). Cut where a header has its usual form (``SYSLOG_USUAL_CLASSIC``, ``_ISO``)."""
    pattern, form = (
        (SYSLOG_HEADER_CLASSIC, SYSLOG_USUAL_CLASSIC)
        if classic
        else (SYSLOG_HEADER_ISO, SYSLOG_USUAL_ISO)
    )

    def cut(lines: pa.Array) -> pa.StructArray:
        text = lines.cast(pa.large_binary())
        if classic:  # "Nov  7 06:25:00 "
            width = USUAL_STAMP_BYTES["classic"]  # then a space
            stamp = pc.binary_slice(text, 0, width)
            rest = pc.binary_slice(text, width + 1, width + USUAL_TAG_BYTES)
        else:
            head = pc.binary_slice(text, 0, USUAL_STAMP_BYTES["iso"] + USUAL_TAG_BYTES)
            stamp, rest = _split_off(head, " ")
        server, rest = _split_off(rest, " ")
        program, rest = _split_off(rest, "[")
        pid, _ = _split_off(rest, "]")
        stamp_name = s.STAMP_CLASSIC if classic else s.STAMP_ISO
        return _struct({stamp_name: stamp, s.SERVER: server, s.PROGRAM: program, s.PID: pid})

    if rows.mean() > EXTRACT_ALL_SHARE:
        return cut_where_usual(raw, form, cut, pattern)
    picked = np.flatnonzero(rows)
    found = cut_where_usual(raw.take(pa.array(picked)), form, cut, pattern)
    return spread_rows(found, picked, len(raw))


def _split_off(text: pa.Array, separator: str) -> tuple[pa.Array, pa.Array]:
    """What comes before the first ``separator`` of each (binary) text, and what after."""
    parts = pc.split_pattern(text, separator, max_splits=1)
    return pc.list_element(parts, 0), pc.list_element(parts, 1)


def _struct(fields: dict[str, pa.Array]) -> pa.StructArray:
    """Cut binary fields as the struct of strings ``pc.extract_regex`` gives."""
    return pa.StructArray.from_arrays(
        [field.view(STRING) for field in fields.values()], names=list(fields)
    )
