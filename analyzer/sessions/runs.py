"""Numbering runs of lines, and reducing each run: the building blocks of sessions and messages.

A run is a stretch of lines of one key (a process, a client, a queue id) in line order.
``number_runs`` sorts rows so that each run is one contiguous slice; sums, minima and first
values per run are then numpy reductions over the slices, not pandas group-bys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import schema as s

_KEY = "_session"
SMTPD_SESSION_EVENTS = (
    s.EV_CONNECT,
    s.EV_DISCONNECT,
    s.EV_CLIENT,
    s.EV_REJECT,
    s.EV_WARN,
    s.EV_SASL_FAIL,
    s.EV_SASL_OUTAGE,
    s.EV_LOST,
    s.EV_PROTOCOL,
)


def _flag(frame: pd.DataFrame, column: str, value: str) -> np.ndarray:
    return (frame[column] == value).fillna(False).to_numpy(dtype=bool)


def _codes(column: pd.Series) -> np.ndarray:
    """Integer codes of a column's values (nulls -1), for sorting without comparing strings."""
    return pd.factorize(column, use_na_sentinel=True)[0]


def _micros(times: pd.Series) -> np.ndarray:
    return times.dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64)


def number_runs(
    frame: pd.DataFrame,
    keys: list[str],
    opens: np.ndarray,
    columns: list[str],
    max_gap: pd.Timedelta | None = None,
    rows: np.ndarray | None = None,
    closes: np.ndarray | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """Sort ``frame`` (or its ``rows``, positions) by ``keys`` then ``seq`` and number the
    runs: a run starts where the keys change, where ``opens`` is true (a connect, a message's
    first line; one flag per row considered), after a silence longer than ``max_gap``, after
    a line where ``closes`` is true (a disconnect), or where the ``owner`` column (a client
    address) names another value than the run's last line that named one: so lines whose
    opening line lies outside the input still split into one run per connection.

    Returns ``columns`` of the sorted rows plus ``_session`` (0, 1, ... in sorted order).
    Passing ``rows`` instead of a filtered frame copies the columns once, not twice.
    """
    if rows is None:
        rows = np.arange(len(frame))
    codes = [_codes(frame[key].take(rows)) for key in keys]
    order = np.lexsort((frame[s.SEQ].to_numpy()[rows], *reversed(codes)))
    changed = np.zeros(len(order), dtype=bool)
    if len(order):
        changed[0] = True
        for code in codes:
            ordered = code[order]
            changed[1:] |= ordered[1:] != ordered[:-1]
        if max_gap is not None:
            ts = _micros(frame[s.TS].take(rows))[order]
            changed[1:] |= (ts[1:] - ts[:-1]) > max_gap / pd.Timedelta(microseconds=1)
    starts = changed | opens[order]
    if closes is not None and len(order):
        starts[1:] |= closes[order][:-1]
    if owner is not None and len(order):
        starts |= _owner_changes(_codes(frame[owner].take(rows))[order], starts)
    run = np.cumsum(starts) - 1
    picked = frame[columns].take(rows[order])
    return picked.assign(**{_KEY: run}).reset_index(drop=True)


def _owner_changes(code: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Where a row names an owner (code >= 0) other than the last one named since the run
    began (``starts``: the rows that begin runs); nulls name none."""
    position = np.arange(len(code))
    last = np.maximum.accumulate(np.where((code >= 0) | starts, position, -1))
    before = np.r_[-1, last[:-1]]
    previous = np.where(before >= 0, code[np.maximum(before, 0)], -1)
    return (code >= 0) & (previous >= 0) & (previous != code) & ~starts


SESSION_COLUMNS = [
    s.RULE,
    s.ACTION,
    s.DETAIL,
    s.COMMAND,
    s.SASL_METHOD,
    s.SERVER,
    s.PROGRAM,
    s.PID,
    s.TS,
    s.SEQ,
    s.EVENT,
    s.REJECT_KIND,
    s.STATS,
    s.SASL_USERNAME,
    s.CLIENT_IP,
    s.CLIENT_HOST,
    s.CLIENT_PORT,
    s.HELO,
    s.QUEUE_ID,
]


def matcher(column: pd.Series):
    """``is_(value, ...)``: a boolean array, True where ``column`` is one of the values
    (nulls never); the column's strings are compared once, not once per value."""
    codes, names = pd.factorize(column, use_na_sentinel=True)
    position = {name: i for i, name in enumerate(names)}

    def is_(*values: str) -> np.ndarray:
        wanted = [position[v] for v in values if v in position]
        if not wanted:
            return np.zeros(len(codes), dtype=bool)
        if len(wanted) == 1:
            return codes == wanted[0]
        return np.isin(codes, wanted)

    return is_


def slices(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by ``key``: each distinct key and the row where its slice starts."""
    if not len(key):
        return key[:0], np.array([], dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return key[starts], starts


def reduce_slices(values: np.ndarray, starts: np.ndarray, how: np.ufunc) -> np.ndarray:
    """``how`` (``np.add``, ``np.minimum``, ...) over each slice of ``values``; empty for no
    slices (``reduceat`` rejects an empty ``starts``)."""
    return how.reduceat(values, starts) if len(starts) else values[:0]


def slice_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each slice's sum (booleans counted as 0/1, like a group-by sum)."""
    if values.dtype == bool:
        values = values.astype(np.int64)
    return reduce_slices(values, starts, np.add)


def first_valid(column: pd.Series, key: np.ndarray, labels: np.ndarray) -> pd.Series:
    """Per key in ``labels``, the first non-null value of ``column`` (rows sorted by key),
    null where there is none: ``groupby(...).first()`` for sorted rows, keeping the dtype."""
    valid = np.flatnonzero(column.notna().to_numpy())
    groups = key[valid]
    first = valid[np.r_[True, groups[1:] != groups[:-1]]] if len(valid) else valid
    values = column.iloc[first]
    return (
        pd.Series(values.array, index=key[first])
        .reindex(labels)
        .set_axis(pd.Index(labels, name=_KEY))
    )


def reduce_times(times: pd.Series, starts: np.ndarray, how: np.ufunc):
    """``np.minimum`` / ``np.maximum`` of each slice's time stamps, ignoring NaT."""
    values = times.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT")).astype(np.int64)
    missing = values == np.iinfo(np.int64).min
    fill = np.iinfo(np.int64).max if how is np.minimum else np.iinfo(np.int64).min
    values[missing] = fill
    reduced = reduce_slices(values, starts, how)
    result = reduced.astype("datetime64[us]")
    result[reduced == fill] = np.datetime64("NaT")
    return pd.DatetimeIndex(result).tz_localize("UTC").array


def slice_any(flags: np.ndarray, starts: np.ndarray) -> pd.arrays.ArrowExtensionArray:
    """Whether each slice has a true flag (as a group-by ``any`` of arrow booleans)."""
    return pd.arrays.ArrowExtensionArray(pa.array(slice_sums(flags, starts) > 0, pa.bool_()))


def slice_max(column: pd.Series, rows: np.ndarray, starts: np.ndarray):
    """Each slice's largest number among its ``rows`` of ``column`` (digits; null where
    there is none), as nullable int64."""
    values = np.full(len(column), np.nan)
    picked = np.flatnonzero(rows)
    if len(picked):
        values[picked] = _numbers(column.iloc[picked])
    top = reduce_slices(values, starts, np.fmax)
    return pd.arrays.ArrowExtensionArray(pa.array(top, mask=np.isnan(top)).cast(pa.int64()))


def _numbers(column: pd.Series) -> np.ndarray:
    """Digits as float64, NaN for anything else (``to_numeric(errors="coerce")`` of the rules'
    ``[0-9]+`` groups, in Arrow: a third of its time)."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    text = pa.array(column.array, from_pandas=True).cast(pa.large_string())
    digits = pc.match_substring_regex(text, "^[0-9]+$")
    return pc.cast(pc.if_else(digits, text, None), pa.float64()).to_numpy(zero_copy_only=False)
