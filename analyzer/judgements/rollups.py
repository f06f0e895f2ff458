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
from analyzer.judgements.customers import CUSTOMER_IP
from analyzer.sessions.messages import outbound_mask

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
# (``analyzer.judgements.risk``), at a few rows per account and day whatever the traffic.
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


def as_rollup_rows(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions as rows of a rollup (``sessions`` 1, their start the first and the last),
    so one rule serves both; rollup rows as they are."""
    if FIRST_START in sessions:
        return sessions
    start = sessions[s.START]
    return sessions.assign(**{SESSIONS: 1, FIRST_START: start, LAST_START: start})


def _session_rows(
    sessions: pd.DataFrame, keys: Sequence[str], timezone: str, **columns: pd.Series
) -> pd.DataFrame:
    """Each session as a row of a rollup: its ``keys`` as text and its local day, a count
    of one, ``columns``, and its start as the first and the last."""
    start = sessions[s.START]
    return _keys(sessions, keys).assign(
        **{DATE: local_date(start, timezone), SESSIONS: 1},
        **columns,
        **{FIRST_START: start, LAST_START: start},
    )


def daily_sessions(sessions: pd.DataFrame, timezone: str, by: Sequence[str] = ()) -> pd.DataFrame:
    """Sessions per local day, server, class, reason, customer and period: ``sessions``,
    ``relay_sessions``, the sums of ``auth_failures`` and ``relay_denied``, and the first and
    last session start.

    Requires: classified sessions (``start``, ``server``, ``class``, ``reason``,
    ``customer_id``, ``period``, ``auth_failures``, ``relay_denied``). ``by``: columns of
    ``sessions`` to group by first (kept as text), e.g. the part each session is stored in,
    so one call rolls up a chunk's parts each on its own."""
    denied = sessions[s.RELAY_DENIED].fillna(0)
    frame = _session_rows(
        sessions,
        [*by, *DAILY_KEYS],
        timezone,
        **{
            RELAY_SESSIONS: (denied > 0).astype(np.int64),
            s.AUTH_FAILURES: sessions[s.AUTH_FAILURES].fillna(0).astype(np.int64),
            s.RELAY_DENIED: denied.astype(np.int64),
        },
    )
    return combine_rows(frame, [*by, *DAILY_KEYS], DAILY_SUMS)


def combine(parts: pd.DataFrame) -> pd.DataFrame:
    """Rollup rows of several parts (or sessions' own rows) -> one row per key."""
    return combine_rows(parts, DAILY_KEYS, DAILY_SUMS)


FLAGS = (OUTBOUND, CUSTOMER_IP)  # keys that are yes or no, not text


def combine_rows(
    parts: pd.DataFrame, keys: Sequence[str], sums: Sequence[str], spans: bool = True
) -> pd.DataFrame:
    """Rows of a rollup's parts -> one row per ``keys``: ``sums`` added up and (``spans``)
    the earliest ``first_start`` and the latest ``last_start``."""
    columns = [*keys, *sums, *((FIRST_START, LAST_START) if spans else ())]
    if parts.empty:
        empty = {c: pd.Series(dtype="string") for c in keys}
        empty |= {c: pd.Series(dtype=bool) for c in FLAGS if c in keys}
        empty |= {c: pd.Series(dtype="int64") for c in sums}
        empty[DATE] = pd.Series(dtype="datetime64[ns]")
        for name in (FIRST_START, LAST_START) if spans else ():
            like = parts[name].dtype if name in parts else None
            zoned = isinstance(like, pd.DatetimeTZDtype)
            empty[name] = pd.Series(dtype=like if zoned else "datetime64[ns, UTC]")
        return pd.DataFrame(empty)[columns]
    # one pass of named aggregations: a sum, a min and a max joined on the keys cost twice
    aggregations = {name: (name, "sum") for name in sums}
    if spans:
        aggregations |= {FIRST_START: (FIRST_START, "min"), LAST_START: (LAST_START, "max")}
    table = parts.groupby(list(keys), dropna=False, sort=True).agg(**aggregations)
    return table.reset_index()[columns]


def daily_logins(sessions: pd.DataFrame, timezone: str, by: Sequence[str] = ()) -> pd.DataFrame:
    """Sessions with a SASL username per local day, server, class, username, client address
    and customer: ``sessions``, the sums of ``messages`` and ``recipients``, and the first
    and last session start.

    Requires: classified sessions (``start``, ``server``, ``class``, ``sasl_username``,
    ``client_ip``, ``customer_id``, ``messages``, ``recipients``). ``by``: as in
    ``daily_sessions``."""
    logins = sessions[sessions[s.SASL_USERNAME].notna().to_numpy()]
    counts = {c: logins[c].fillna(0).astype(np.int64) for c in LOGIN_SUMS[1:]}
    frame = _session_rows(logins, [*by, *LOGIN_KEYS], timezone, **counts)
    return combine_rows(frame, [*by, *LOGIN_KEYS], LOGIN_SUMS)


def combine_logins(parts: pd.DataFrame) -> pd.DataFrame:
    """Login rollup rows of several parts -> one row per key."""
    return combine_rows(parts, LOGIN_KEYS, LOGIN_SUMS)


def daily_sources(sessions: pd.DataFrame, timezone: str, by: Sequence[str] = ()) -> pd.DataFrame:
    """Sessions per local day, server, client address, class, reason, customer and whether
    the address is in a customer network: ``sessions``, the sums of ``messages``,
    ``relay_denied`` and ``auth_failures``, and the first and last session start.

    Requires: classified sessions. ``by``: as in ``daily_sessions``."""
    keys = [*by, *(c for c in SOURCE_KEYS if c != CUSTOMER_IP)]
    counts = {c: sessions[c].fillna(0).astype(np.int64) for c in SOURCE_SUMS[1:]}
    inside = sessions[CUSTOMER_IP].fillna(False).astype(bool)
    frame = _session_rows(sessions, keys, timezone, **{CUSTOMER_IP: inside}, **counts)
    return combine_rows(frame, [*by, *SOURCE_KEYS], SOURCE_SUMS)


def combine_sources(parts: pd.DataFrame) -> pd.DataFrame:
    """Source rollup rows of several parts -> one row per key."""
    return combine_rows(parts, SOURCE_KEYS, SOURCE_SUMS)


def daily_deliveries(
    deliveries: pd.DataFrame, domains: frozenset[str], timezone: str, by: Sequence[str] = ()
) -> pd.DataFrame:
    """Delivery attempts per local day, server, status and whether the recipient's domain is
    not ours (``outbound``): ``deliveries``.

    Requires: ``ts``, ``server``, ``status``, ``recipient``. ``by``: as in
    ``daily_sessions``."""
    frame = _keys(deliveries, [*by, *DELIVERY_KEYS[:-1]]).assign(
        **{
            DATE: local_date(deliveries[s.TS], timezone),
            OUTBOUND: outbound_mask(deliveries, domains),
            DELIVERIES: 1,
        }
    )
    return combine_rows(frame, [*by, *DELIVERY_KEYS], (DELIVERIES,), spans=False)


def combine_deliveries(parts: pd.DataFrame) -> pd.DataFrame:
    """Delivery rollup rows of several parts -> one row per key."""
    return combine_rows(parts, DELIVERY_KEYS, (DELIVERIES,), spans=False)
