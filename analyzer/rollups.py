"""Classified sessions and deliveries -> the small daily tables charts and cards draw from.

A rollup counts per local day and a few keys; rollups of parts of the data add up (sum the
counts, take the earliest first and the latest last), so the store keeps one per stored part
and a view of any period re-aggregates the parts of its days (``combine``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analyzer import schema as s
from analyzer.customers import CUSTOMER_IP
from analyzer.messages import outbound_mask

DATE = "date"  # local day (the configured time zone)
SESSIONS = "sessions"
RELAY_SESSIONS = "relay_sessions"  # sessions with at least one refused relay
FIRST_START = "first_start"
LAST_START = "last_start"
DELIVERIES = "deliveries"
OUTBOUND = "outbound"  # delivery to a domain that is not ours

DAILY_KEYS: tuple[str, ...] = (DATE, s.SERVER, s.CLASS, s.REASON, s.CUSTOMER_ID, s.PERIOD)
DAILY_SUMS: tuple[str, ...] = (SESSIONS, RELAY_SESSIONS, s.AUTH_FAILURES, s.RELAY_DENIED)
DAILY_COLUMNS: tuple[str, ...] = (*DAILY_KEYS, *DAILY_SUMS, FIRST_START, LAST_START)
DELIVERY_KEYS: tuple[str, ...] = (DATE, s.SERVER, s.STATUS, OUTBOUND)
DELIVERY_COLUMNS: tuple[str, ...] = (*DELIVERY_KEYS, DELIVERIES)
# Sessions with a SASL login, per local day and address: all the account rules read
# (``analyzer.risk``), at a few rows per account and day whatever the traffic.
LOGIN_KEYS: tuple[str, ...] = (
    DATE, s.SERVER, s.CLASS, s.SASL_USERNAME, s.CLIENT_IP, s.CUSTOMER_ID,
)  # fmt: skip
LOGIN_SUMS: tuple[str, ...] = (SESSIONS, s.MESSAGES, s.RECIPIENTS)
LOGIN_COLUMNS: tuple[str, ...] = (*LOGIN_KEYS, *LOGIN_SUMS, FIRST_START, LAST_START)
# Sessions per local day and client address: what the offenders and the blocklist read, at a
# row per source, day and kind of session however many sessions it made.
SOURCE_KEYS: tuple[str, ...] = (
    DATE, s.SERVER, s.CLIENT_IP, s.CLASS, s.REASON, s.CUSTOMER_ID, CUSTOMER_IP,
)  # fmt: skip
SOURCE_SUMS: tuple[str, ...] = (SESSIONS, s.MESSAGES, s.RELAY_DENIED, s.AUTH_FAILURES)
SOURCE_COLUMNS: tuple[str, ...] = (*SOURCE_KEYS, *SOURCE_SUMS, FIRST_START, LAST_START)


def local_date(times: pd.Series, timezone: str) -> pd.Series:
    """The local calendar day of each (UTC) time, as midnight timestamps (no zone)."""
    return times.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()


def _keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Group keys as plain text (missing stays missing: a group of its own)."""
    return pd.DataFrame(
        {c: frame[c].astype("string") for c in columns if c != DATE}, index=frame.index
    )


def daily_sessions(sessions: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Sessions per local day, server, class, reason, customer and period: ``sessions``,
    ``relay_sessions``, the sums of ``auth_failures`` and ``relay_denied``, and the first and
    last session start.

    Requires: classified sessions (``start``, ``server``, ``class``, ``reason``,
    ``customer_id``, ``period``, ``auth_failures``, ``relay_denied``)."""
    keys = _keys(sessions, DAILY_KEYS)
    frame = keys.assign(
        **{
            DATE: local_date(sessions[s.START], timezone),
            SESSIONS: 1,
            RELAY_SESSIONS: (sessions[s.RELAY_DENIED].fillna(0) > 0).astype(np.int64),
            s.AUTH_FAILURES: sessions[s.AUTH_FAILURES].fillna(0).astype(np.int64),
            s.RELAY_DENIED: sessions[s.RELAY_DENIED].fillna(0).astype(np.int64),
            FIRST_START: sessions[s.START],
            LAST_START: sessions[s.START],
        }
    )
    return combine(frame)


def combine(parts: pd.DataFrame) -> pd.DataFrame:
    """Rollup rows of several parts (or sessions' own rows) -> one row per key."""
    if parts.empty:
        return _empty_daily(parts)
    grouped = parts.groupby(list(DAILY_KEYS), dropna=False, sort=True)
    sums = grouped[list(DAILY_SUMS)].sum()
    table = sums.join(grouped[FIRST_START].min()).join(grouped[LAST_START].max())
    return table.reset_index()[list(DAILY_COLUMNS)]


def _empty_daily(like: pd.DataFrame) -> pd.DataFrame:
    columns = {
        DATE: pd.Series(dtype="datetime64[ns]"),
        **{c: pd.Series(dtype="string") for c in DAILY_KEYS if c != DATE},
        **{c: pd.Series(dtype="int64") for c in DAILY_SUMS},
        FIRST_START: pd.Series(dtype="datetime64[ns, UTC]"),
        LAST_START: pd.Series(dtype="datetime64[ns, UTC]"),
    }
    for name in (FIRST_START, LAST_START):
        if name in like and isinstance(like[name].dtype, pd.DatetimeTZDtype):
            columns[name] = pd.Series(dtype=like[name].dtype)
    return pd.DataFrame(columns)


def daily_logins(sessions: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Sessions with a SASL username per local day, server, class, username, client address
    and customer: ``sessions``, the sums of ``messages`` and ``recipients``, and the first
    and last session start.

    Requires: classified sessions (``start``, ``server``, ``class``, ``sasl_username``,
    ``client_ip``, ``customer_id``, ``messages``, ``recipients``)."""
    logins = sessions[sessions[s.SASL_USERNAME].notna().to_numpy()]
    frame = _keys(logins, LOGIN_KEYS).assign(
        **{
            DATE: local_date(logins[s.START], timezone),
            SESSIONS: 1,
            s.MESSAGES: logins[s.MESSAGES].fillna(0).astype(np.int64),
            s.RECIPIENTS: logins[s.RECIPIENTS].fillna(0).astype(np.int64),
            FIRST_START: logins[s.START],
            LAST_START: logins[s.START],
        }
    )
    return combine_logins(frame)


def combine_logins(parts: pd.DataFrame) -> pd.DataFrame:
    """Login rollup rows of several parts -> one row per key."""
    if parts.empty:
        return pd.DataFrame(
            {
                DATE: pd.Series(dtype="datetime64[ns]"),
                **{c: pd.Series(dtype="string") for c in LOGIN_KEYS if c != DATE},
                **{c: pd.Series(dtype="int64") for c in LOGIN_SUMS},
                FIRST_START: pd.Series(dtype="datetime64[ns, UTC]"),
                LAST_START: pd.Series(dtype="datetime64[ns, UTC]"),
            }
        )
    grouped = parts.groupby(list(LOGIN_KEYS), dropna=False, sort=True)
    sums = grouped[list(LOGIN_SUMS)].sum()
    table = sums.join(grouped[FIRST_START].min()).join(grouped[LAST_START].max())
    return table.reset_index()[list(LOGIN_COLUMNS)]


def daily_sources(sessions: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Sessions per local day, server, client address, class, reason, customer and whether
    the address is in a customer network: ``sessions``, the sums of ``messages``,
    ``relay_denied`` and ``auth_failures``, and the first and last session start.

    Requires: classified sessions."""
    keys = [c for c in SOURCE_KEYS if c not in (DATE, CUSTOMER_IP)]
    frame = _keys(sessions, keys).assign(
        **{
            DATE: local_date(sessions[s.START], timezone),
            CUSTOMER_IP: sessions[CUSTOMER_IP].fillna(False).astype(bool),
            SESSIONS: 1,
            **{c: sessions[c].fillna(0).astype(np.int64) for c in SOURCE_SUMS[1:]},
            FIRST_START: sessions[s.START],
            LAST_START: sessions[s.START],
        }
    )
    return combine_sources(frame)


def combine_sources(parts: pd.DataFrame) -> pd.DataFrame:
    """Source rollup rows of several parts -> one row per key."""
    if parts.empty:
        return pd.DataFrame(
            {
                DATE: pd.Series(dtype="datetime64[ns]"),
                **{c: pd.Series(dtype="string") for c in SOURCE_KEYS[1:-1]},
                CUSTOMER_IP: pd.Series(dtype=bool),
                **{c: pd.Series(dtype="int64") for c in SOURCE_SUMS},
                FIRST_START: pd.Series(dtype="datetime64[ns, UTC]"),
                LAST_START: pd.Series(dtype="datetime64[ns, UTC]"),
            }
        )
    grouped = parts.groupby(list(SOURCE_KEYS), dropna=False, sort=True)
    sums = grouped[list(SOURCE_SUMS)].sum()
    table = sums.join(grouped[FIRST_START].min()).join(grouped[LAST_START].max())
    return table.reset_index()[list(SOURCE_COLUMNS)]


def daily_deliveries(
    deliveries: pd.DataFrame, domains: frozenset[str], timezone: str
) -> pd.DataFrame:
    """Delivery attempts per local day, server, status and whether the recipient's domain is
    not ours (``outbound``): ``deliveries``.

    Requires: ``ts``, ``server``, ``status``, ``recipient``."""
    frame = _keys(deliveries, DELIVERY_KEYS[:-1]).assign(
        **{
            DATE: local_date(deliveries[s.TS], timezone),
            OUTBOUND: outbound_mask(deliveries, domains),
            DELIVERIES: 1,
        }
    )
    return combine_deliveries(frame)


def combine_deliveries(parts: pd.DataFrame) -> pd.DataFrame:
    """Delivery rollup rows of several parts -> one row per key."""
    if parts.empty:
        return pd.DataFrame(
            {
                DATE: pd.Series(dtype="datetime64[ns]"),
                s.SERVER: pd.Series(dtype="string"),
                s.STATUS: pd.Series(dtype="string"),
                OUTBOUND: pd.Series(dtype=bool),
                DELIVERIES: pd.Series(dtype="int64"),
            }
        )
    grouped = parts.groupby(list(DELIVERY_KEYS), dropna=False, sort=True)[DELIVERIES].sum()
    return grouped.reset_index()[list(DELIVERY_COLUMNS)]
