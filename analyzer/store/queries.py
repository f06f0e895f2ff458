"""What a view of the data is asked: its tables, the period and filters of a question, and
the ``View`` protocol a store or logs parsed in memory answer it by (``analyzer.store.views``).

Filters are Arrow expressions, so a store applies them while it reads its Parquet parts and
only the rows asked for are ever in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.judgements import rollups
from analyzer.judgements.classify import enforcement_instant

SESSIONS = "sessions"
DAILY = "daily"
DELIVERY_DAILY = "delivery_daily"
BLAMED = "blamed"  # refused deliveries, with the blocklist their reply blames
LOGINS = "logins"  # sessions with a SASL login per day, account and address
BLAMED_DAILY = "blamed_daily"  # refused deliveries per day, own IP, blocklist and status
SOURCES = "sources"  # sessions per day and client address, class and reason
AUTH = "auth"  # sessions with a login, or with AUTH failures from outside customer networks
EVENTS = ("rejects", "deliveries", "problems")
# The time each table's period is cut on.
TIME_COLUMN = {
    SESSIONS: s.START, DAILY: rollups.DATE, DELIVERY_DAILY: rollups.DATE, LOGINS: rollups.DATE,
    BLAMED_DAILY: rollups.DATE, SOURCES: rollups.DATE, AUTH: s.START,
}  # fmt: skip


@dataclass(frozen=True)
class Scope:
    """The period, servers, classes and customers a question is about (empty: all)."""

    since: dt.date | None = None
    until: dt.date | None = None
    servers: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()

    def session_filter(self) -> pc.Expression | None:
        """The classes and customers as a filter of classified sessions."""
        return both(
            isin(s.CLASS, self.classes) if self.classes else None,
            isin(s.CUSTOMER_ID, self.customers) if self.customers else None,
        )


def period_filter(
    name: str, since: dt.date | None, until: dt.date | None, timezone: str
) -> pc.Expression | None:
    """Rows of ``name`` in the local days ``since``..``until`` (None: open)."""
    column = TIME_COLUMN.get(name, s.TS)
    field_ = pc.field(column)
    parts = []
    for day, op in ((since, "ge"), (until, "lt")):
        if day is None:
            continue
        if op == "lt":
            day = day + dt.timedelta(days=1)
        if column == rollups.DATE:
            bound = pa.scalar(dt.datetime.combine(day, dt.time()), pa.timestamp("us"))
        else:
            instant = enforcement_instant(day, timezone).to_pydatetime()
            bound = pa.scalar(instant, pa.timestamp("us", "UTC"))
        parts.append(field_ >= bound if op == "ge" else field_ < bound)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0] & parts[1]


def isin(column: str, values: Sequence[str]) -> pc.Expression:
    """Rows whose ``column`` is one of ``values`` (text). As text: a column with no value at
    all is read as nulls, which no text set may be compared with."""
    text = pa.large_string()
    return pc.field(column).cast(text).isin(pa.array(list(values), text))


def both(*filters: pc.Expression | None) -> pc.Expression | None:
    """The rows every given filter keeps (None: all rows)."""
    given = [f for f in filters if f is not None]
    if not given:
        return None
    joined = given[0]
    for more in given[1:]:
        joined = joined & more
    return joined


# What the Sessions page's search looks in.
SEARCHED = (s.CLIENT_IP, s.CLIENT_HOST, s.HELO, s.SASL_USERNAME, s.CUSTOMER_ID, s.SESSION_ID)


def session_search(text: str | None) -> pc.Expression | None:
    """Sessions whose address, host, HELO, login, customer or id contain ``text`` (any
    case); None: no search."""
    needle = (text or "").strip()
    if not needle:
        return None
    found = [pc.match_substring(pc.field(c), needle, ignore_case=True) for c in SEARCHED]
    joined = found[0]
    for more in found[1:]:
        joined = joined | more
    return joined


def utc_day(name: str, day: str | None) -> pc.Expression | None:
    """Rows of ``name`` whose time falls on the UTC day ``day`` (ISO; None: any)."""
    if day is None:
        return None
    first = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    column = pc.field(TIME_COLUMN.get(name, s.TS))
    low = pa.scalar(first, pa.timestamp("us", "UTC"))
    high = pa.scalar(first + dt.timedelta(days=1), pa.timestamp("us", "UTC"))
    return (column >= low) & (column < high)


def utc_days(name: str, days: Collection[str]) -> pc.Expression | None:
    """Rows of ``name`` whose time falls on one of the UTC days ``days`` (ISO)."""
    found = [utc_day(name, day) for day in sorted(days)]
    if not found:
        return pc.scalar(False)
    joined = found[0]
    for more in found[1:]:
        joined = joined | more
    return joined


def utc_days_between(first: pd.Series, last: pd.Series) -> list[str]:
    """The UTC days (ISO) that instants from ``first`` to ``last`` (row by row, aware
    times) fall on, in order."""
    days: set[str] = set()
    starts = first.dt.tz_convert("UTC").dt.date
    ends = last.dt.tz_convert("UTC").dt.date
    for start, end in zip(starts, ends, strict=True):
        days.update(str(start + dt.timedelta(days=n)) for n in range((end - start).days + 1))
    return sorted(days)


class View(Protocol):
    """What a view of the data answers (a store, or logs parsed in memory)."""

    @property
    def version(self) -> str: ...

    @property
    def inferred_domains(self) -> tuple[str, ...]: ...

    def read(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        servers: Sequence[str] = (),
        where: pc.Expression | None = None,
    ) -> pd.DataFrame:
        """Rows of table ``name`` in the local days ``since``..``until``, of ``servers``,
        that ``where`` keeps; ``columns`` only (None: all)."""

    def days(self, name: str, since=None, until=None, servers: Sequence[str] = ()) -> list[str]:
        """The UTC days (ISO) that may hold rows of ``name`` in the period, in order."""

    def servers(self) -> list[str]:
        """The servers with sessions, sorted."""

    def domains(self) -> frozenset[str]:
        """The local domains the sessions were built with: configured, customers', inferred."""

    def read_day(
        self, name: str, day: str, columns=None, since=None, until=None, servers=(), where=None
    ) -> pd.DataFrame:
        """``read`` of one UTC day, in the export's order."""

    def count_day(self, name: str, day: str, since=None, until=None, servers=(), where=None) -> int:
        """How many rows ``read_day`` would give."""

    def day_pieces(
        self, name: str, day: str, columns=None, since=None, until=None, servers=(), where=None
    ) -> Iterator[pd.DataFrame]:
        """``read_day`` in pieces of at most ``PIECE_ROWS`` rows (none for no row), in order;
        the day is held in Arrow, only a piece at a time in pandas."""

    def read_totals(
        self,
        name: str,
        keys: Sequence[str],
        sums: Sequence[str],
        since=None,
        until=None,
        servers=(),
        where=None,
    ) -> pd.DataFrame:
        """``read`` of a rollup added up by ``keys`` in Arrow (``sums`` summed, the first and
        last starts kept): its other keys (days, servers) never reach pandas."""

    def read_table(
        self, name: str, columns: Sequence[str], since=None, until=None, servers=(), where=None
    ) -> pa.Table:
        """``read`` as one Arrow table (no row order): for rows that are only matched and
        counted, so that a whole history of them never becomes pandas objects."""

    def read_days(
        self,
        name: str,
        days: Collection[str],
        columns=None,
        since=None,
        until=None,
        servers=(),
        where=None,
    ) -> pd.DataFrame:
        """``read`` of the UTC days ``days`` only (ISO; in no set order): a question about a
        few scattered days reads those, not the weeks between them."""

    def lines(self) -> pd.DataFrame:
        """Per log file read: its line counts (``analyzer.reading.coverage.line_summary``)."""

    def judged(self, until: dt.date | None) -> pd.DataFrame | None:
        """The accounts ``ingest`` judged on the whole history (every server, class and
        customer) at this commit, if they answer a question up to ``until``; else None."""


def batches(
    view: View, name: str, columns=None, since=None, until=None, servers=(), where=None
) -> Iterator[pd.DataFrame]:
    """``view.read`` a UTC day at a time, in order, each day in pieces of at most
    ``PIECE_ROWS`` rows: what an export streams (a busy day is never whole in pandas)."""
    for day in view.days(name, since, until, servers):
        yield from view.day_pieces(name, day, columns, since, until, servers, where)


PIECE_ROWS = 10_000
