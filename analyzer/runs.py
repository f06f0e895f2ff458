"""Numbering runs of lines: the building block of sessions and messages.

A run is a stretch of lines of one key (a process, a client, a queue id) in line order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
) -> pd.DataFrame:
    """Sort ``frame`` (or its ``rows``, positions) by ``keys`` then ``seq`` and number the
    runs: a run starts where the keys change, where ``opens`` is true (a connect, a message's
    first line; one flag per row considered), or after a silence longer than ``max_gap``.

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
    run = np.cumsum(changed | opens[order]) - 1
    picked = frame[columns].take(rows[order])
    return picked.assign(**{_KEY: run}).reset_index(drop=True)


SESSION_COLUMNS = [
    s.RULE,
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
