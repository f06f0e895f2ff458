r"""Frames -> CSV text: fixed column order, ISO 8601 times, repeatable bytes.

Text that came from the network (HELO names, addresses) may start with ``=``, ``+``, ``-``,
``@``, tab or CR, which spreadsheets run as formulas; such cells get a leading ``'`` (OWASP's
advice against CSV injection), so an export opens safely in Excel or LibreOffice. So does a
formula behind a ``;``, tab, CR or LF inside a cell (``a;=cmd|...``), where a spreadsheet
reading the file with that separator, or splitting lines, would start a cell. A cell holding a
comma, a quote, a CR or an LF is quoted (RFC 4180; a bare CR too, which Python's writer leaves
bare and every reader takes for a line break), so every CSV reader reads the rows back whole.
Other control characters (NUL, ESC...) are written as visible escapes (``\x00``, ``\e``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import schema as s

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_iso(times: pd.Series, timezone: str) -> pd.Series:
    """``2003-11-21T09:15:02-05:00``: local time with its UTC offset, whole seconds."""
    utc = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    wall = times.dt.tz_convert(timezone).dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    text = np.datetime_as_string(wall, unit="s").astype(object)
    minutes = (wall - utc).astype("timedelta64[m]").astype(np.int64)
    codes, offsets = pd.factorize(minutes)
    labels = np.array(
        [f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in map(int, offsets)]
        + [""],
        dtype=object,
    )
    text = text + labels[codes]
    return pd.Series(np.where(np.isnat(utc), "", text), index=times.index, dtype="string")


# C0 controls but tab, LF and CR (kept, in quotes), and DEL.
CONTROLS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
FORMULA_INSIDE = r"[;\t\r\n][=+\-@]"  # where another separator would start a formula
ESCAPES = {"\x1b": "\\e"}
NEEDS_QUOTES = r'[,"\r\n]'


def neutralise_formulas(text: pd.Series) -> pd.Series:
    """Escape control characters, and prefix with ``'`` what a spreadsheet would evaluate:
    a cell's start, or a part behind ``;``, tab, CR or LF."""
    text = text.astype("string")
    controls = text.str.contains(CONTROLS, regex=True).fillna(False).to_numpy()
    if controls.any():  # rare: attackers' bytes in Exim's or journald's fields
        text = text.copy()
        text[controls] = text[controls].map(_escape_controls).astype("string")
    risky = text.str.startswith(FORMULA_START).fillna(False)
    text = text.where(~risky, "'" + text)
    inside = text.str.contains(FORMULA_INSIDE, regex=True).fillna(False).to_numpy()
    if inside.any():
        text = text.copy()
        text[inside] = text[inside].str.replace(r"([;\t\r\n])([=+\-@])", r"\1'\2", regex=True)
    return text


def _escape_controls(cell: str) -> str:
    return re.sub(CONTROLS, lambda m: ESCAPES.get(m[0], f"\\x{ord(m[0]):02x}"), cell)


def csv_cells(text: pd.Series) -> pa.ChunkedArray:
    """One column's cells as CSV writes them: quoted where needed, empty for missing."""
    values = pa.chunked_array(pa.array(text.astype("string[pyarrow]"))).cast(pa.large_string())
    values = pc.fill_null(values, "")
    needs = pc.match_substring_regex(values, NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return values
    quote, nothing = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    escaped = pc.replace_substring(values, '"', '""')
    return pc.if_else(needs, pc.binary_join_element_wise(quote, escaped, quote, nothing), values)


def export_cells(frame: pd.DataFrame, columns: Sequence[str], timezone: str) -> pd.DataFrame:
    """``columns`` of ``frame`` as text, as the exports write them: times as ISO 8601 in
    ``timezone``, ``true``/``false``, formulas neutralised; missing values stay missing."""
    out = {}
    for column in columns:
        values = frame[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = to_iso(values, timezone)
        elif pd.api.types.is_bool_dtype(values.dtype):
            values = values.map({True: "true", False: "false"})
        elif pd.api.types.is_integer_dtype(values.dtype):
            values = values.astype("Int64").astype("string")
        elif pd.api.types.is_float_dtype(values.dtype):
            values = values.astype("Float64").astype("string")
        else:
            values = neutralise_formulas(values)
        out[column] = values.astype("string").reset_index(drop=True)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)), columns=list(columns))


def frame_to_csv(
    frame: pd.DataFrame, columns: Sequence[str], timezone: str, header: bool = True
) -> str:
    """CSV text of ``columns`` of ``frame``: times as ISO 8601, empty cells for missing values
    (``header=False``: the rows only)."""
    texts = export_cells(frame, columns, timezone)
    cells = [csv_cells(texts[column]) for column in columns]
    names = ",".join(csv_cells(pd.Series(list(columns), dtype="string")).to_pylist()) + "\n"
    header = names if header else ""
    if not len(frame):
        return header
    # every row and its newline joined in Arrow; the text is then the values' one buffer
    comma = pa.scalar(",", pa.large_string())
    rows = pc.binary_join_element_wise(*cells, comma) if len(cells) > 1 else cells[0]
    newline, nothing = pa.scalar("\n", pa.large_string()), pa.scalar("", pa.large_string())
    lines = pc.binary_join_element_wise(rows, newline, nothing).combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset :]
    data = lines.buffers()[2]
    return header + data.to_pybytes()[offsets[0] : offsets[len(lines)]].decode()


def streamed_csv(
    frames: Iterable[pd.DataFrame], columns: Sequence[str], timezone: str
) -> Iterator[str]:
    """CSV text of ``frames`` one after the other, the header once (even with no rows)."""
    yield frame_to_csv(pd.DataFrame(columns=list(columns)), columns, timezone)
    for frame in frames:
        yield frame_to_csv(frame, columns, timezone, header=False)


def sessions_to_csv(sessions: pd.DataFrame, timezone: str) -> str:
    """The ``sessions`` export (docs/exports.md), ordered by start then session id."""
    s.check_sessions(sessions)
    ordered = sessions.sort_values([s.START, s.SESSION_ID], kind="stable")
    return frame_to_csv(ordered, s.SESSION_EXPORT_COLUMNS, timezone)
