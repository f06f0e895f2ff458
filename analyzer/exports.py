"""Frames -> CSV text: fixed column order, ISO 8601 times, repeatable bytes.

Text that came from the network (HELO names, addresses) may start with ``=``, ``+``, ``-``,
``@``, tab or CR, which spreadsheets run as formulas; such cells get a leading ``'`` (OWASP's
advice against CSV injection), so an export opens safely in Excel or LibreOffice.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

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


def neutralise_formulas(text: pd.Series) -> pd.Series:
    """Prefix cells a spreadsheet would evaluate with ``'``."""
    text = text.astype("string")
    risky = text.str.startswith(FORMULA_START).fillna(False)
    return text.where(~risky, "'" + text)


def frame_to_csv(frame: pd.DataFrame, columns: Sequence[str], timezone: str) -> str:
    """CSV text of ``columns`` of ``frame``: times as ISO 8601, empty cells for missing values."""
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        values = frame[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[column] = to_iso(values, timezone)
        elif pd.api.types.is_bool_dtype(values.dtype):
            out[column] = values.map({True: "true", False: "false"})
        elif pd.api.types.is_integer_dtype(values.dtype):
            out[column] = values.astype("Int64").astype("string")
        elif pd.api.types.is_float_dtype(values.dtype):
            out[column] = values.astype("Float64").astype("string")
        else:
            out[column] = neutralise_formulas(values)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n", na_rep="")
    return buffer.getvalue()


def sessions_to_csv(sessions: pd.DataFrame, timezone: str) -> str:
    """The ``sessions`` export (docs/exports.md), ordered by start then session id."""
    s.check_sessions(sessions)
    ordered = sessions.sort_values([s.START, s.SESSION_ID], kind="stable")
    return frame_to_csv(ordered, s.SESSION_EXPORT_COLUMNS, timezone)
