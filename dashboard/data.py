"""The dashboard's data: a view of the store (``analyzer.store.views``) opened when the app is
created (never at import), read per request for what each page shows, and summarised by pure
functions.

Nothing holds every session: a page asks for the days, servers, columns and rows it shows
(the rollups for charts and cards; the sessions of one customer, of the probing sources or of
the refused relays for tables), and keeps the small views it built for one set of filters in
a cache on the ``DashboardData`` object (keyed by the filters; the data never changes while
it is open: after an ``ingest`` commits, the next request opens the store again).

The loaded ``DashboardData`` hangs off the Flask app (``server.config``), so there is no
module-level state and two apps in one process (tests) never share data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask
import pandas as pd
import pyarrow.compute as pc

from analyzer import jobs
from analyzer import schema as s
from analyzer.judgements import rollups
from analyzer.judgements.asn import AsnLookup, load_lookup
from analyzer.judgements.customers import read_customers
from analyzer.judgements.dnsbl import DNSBL_COLUMNS
from analyzer.judgements.offenders import roll_up
from analyzer.judgements.readiness import (
    call_list,
)
from analyzer.outputs.traffic import GROUPS, TRAFFIC, traffic_groups
from analyzer.settings.config import Settings
from analyzer.store import parquet as store
from analyzer.store import tables
from analyzer.store.queries import Scope, View

CONFIG_KEY = "relaywatch.data"
RELOAD_LOCK_KEY = "relaywatch.reload_lock"
DAY = "day"
SESSIONS = "sessions"
CACHE_SIZE = 64


@dataclass(frozen=True)
class Filters(Scope):
    """What the shared filter bar selects (empty tuple: everything)."""

    @classmethod
    def from_store(cls, data: dict[str, Any] | None) -> Filters:
        data = data or {}

        def day(value: Any) -> dt.date | None:
            try:
                return dt.date.fromisoformat(str(value)[:10]) if value else None
            except ValueError:  # a hand-edited link: the whole range
                return None

        def many(value: Any) -> tuple[str, ...]:
            if not value:
                return ()
            return tuple(sorted(str(v) for v in (value if isinstance(value, list) else [value])))

        return cls(
            day(data.get("since")),
            day(data.get("until")),
            many(data.get("servers")),
            many(data.get("classes")),
            many(data.get("customers")),
        )


@dataclass
class DashboardData:
    """What every page reads. ``version`` changes when the underlying data does."""

    settings: Settings
    view: View
    customers: pd.DataFrame
    asn_lookup: AsnLookup | None = None  # loaded once: a real database takes seconds
    dnsbl: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(DNSBL_COLUMNS)))
    store_stamp: int | None = None  # the store's commit this was read at (None: logs parsed)
    dns: bool = True
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _building: dict = field(default_factory=dict, repr=False)  # key -> lock of its builder

    @property
    def version(self) -> str:
        return self.view.version

    @property
    def inferred_domains(self) -> tuple[str, ...]:
        return self.view.inferred_domains

    def kept(self, name: Hashable, filters: Filters) -> Any:
        """What ``keep`` (or ``cached``) holds for (name, filters), else None."""
        with self._cache_lock:
            return self._cache.get((name, filters))

    def keep(self, name: Hashable, filters: Filters, value: Any) -> None:
        """Hold a view another one made on its way (see ``cached``)."""
        with self._cache_lock:
            self._cache[(name, filters)] = value
            self._cache.move_to_end((name, filters))
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def cached(self, name: Hashable, filters: Filters, build: Callable[[], Any]) -> Any:
        """One view per (name, filters), the least recently used dropped first.

        Built once even when requests ask for it together (a page's callbacks start at
        once): the others wait for it, and a view of a million sources is not built, nor
        held in memory, twice."""
        key = (name, filters)
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            builder = self._building.setdefault(key, threading.Lock())
        with builder:
            with self._cache_lock:
                if key in self._cache:
                    return self._cache[key]
            try:
                value = build()
                self.keep(name, filters, value)
            finally:
                with self._cache_lock:
                    self._building.pop(key, None)
        return value


def load_data(
    settings: Settings, progress: Callable[[Path], None] | None = None, dns: bool = True
) -> DashboardData:
    """Open the store (or, before any ``ingest``, parse the configured logs) and ask the
    DNSBLs about the own outbound IPs once (``dns=False``: not at all). A store is only
    opened here: pages read what they show when they show it."""
    stamp = store_stamp(settings)
    customers = read_customers(settings.customers)
    view = jobs.open_data(settings, progress=progress, customers=customers)
    lookup = load_lookup(settings.asn_db, settings.as_names)
    dnsbl = jobs.live_dnsbl(settings, dns)
    return DashboardData(settings, view, customers, lookup, dnsbl, stamp, dns)


def store_stamp(settings: Settings) -> int | None:
    """When the store last committed (None without a store): the cron ``ingest`` moves it."""
    if settings.store is None:
        return None
    try:
        return (settings.store / store.MANIFEST).stat().st_mtime_ns
    except OSError:
        return None


def current() -> DashboardData:
    """The data of the app serving this request, opened again once ``ingest`` has committed
    to the store since (the page shows the new data on its next callback or load)."""
    config = flask.current_app.config
    data = config[CONFIG_KEY]
    if data.store_stamp is None or store_stamp(data.settings) == data.store_stamp:
        return data
    with config[RELOAD_LOCK_KEY]:  # one request opens the store again, the others wait
        data = config[CONFIG_KEY]
        if store_stamp(data.settings) != data.store_stamp:
            stamp = store_stamp(data.settings)
            view = jobs.open_data(data.settings, customers=data.customers)
            data = config[CONFIG_KEY] = dataclasses.replace(
                data, view=view, store_stamp=stamp, _cache=OrderedDict(), _building={}
            )
    return data


def read_sessions(
    data: DashboardData,
    filters: Filters,
    columns: Sequence[str] | None = None,
    where: pc.Expression | None = None,
) -> pd.DataFrame:
    """The sessions the filter bar selects that ``where`` keeps, ``columns`` only."""
    return tables.sessions_of(data.view, filters, columns, where)


def read_events(
    data: DashboardData,
    filters: Filters,
    name: str,
    columns: Sequence[str] | None = None,
    where: pc.Expression | None = None,
) -> pd.DataFrame:
    """Rejects or deliveries within the filters' dates and servers."""
    return tables.events_of(data.view, filters, name, columns, where)


def daily_rollup(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """``analyzer.judgements.rollups.daily_sessions`` of the filtered sessions."""
    return data.cached("daily-rollup", filters, lambda: tables.session_rollup(data.view, filters))


def delivery_rollup(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """``analyzer.judgements.rollups.daily_deliveries`` of the filtered days and servers."""
    return data.cached(
        "delivery-rollup", filters, lambda: tables.delivery_rollup(data.view, filters)
    )


def readiness_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """``relaywatch export customers`` for the filtered sessions (statuses as of ``until``)."""
    return data.cached(
        "readiness",
        filters,
        lambda: tables.readiness(data.view, filters, data.customers, data.settings.timezone),
    )


def call_list_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """The broken and at-risk customers of ``readiness_table``, most urgent first."""
    return data.cached("call_list", filters, lambda: call_list(readiness_table(data, filters)))


def readiness_daily(data: DashboardData, filters: Filters) -> pd.DataFrame:
    return data.cached(
        "daily",
        filters,
        lambda: tables.readiness_daily(data.view, filters, data.settings.timezone),
    )


def offenders_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """``relaywatch export offenders`` for the filtered sessions."""
    return data.cached(
        "offenders",
        filters,
        lambda: tables.offenders(data.view, filters, data.settings, data.asn_lookup),
    )


def offenders_view(data: DashboardData, filters: Filters, by: str) -> pd.DataFrame:
    """``relaywatch export offenders --by BY`` for the filtered sessions (the table a page of
    rows is cut from: rolled up once, not per page)."""
    return data.cached(
        ("offenders", by), filters, lambda: roll_up(offenders_table(data, filters), by)
    )


def risk_tables(data: DashboardData, filters: Filters) -> tables.RiskTables:
    """The ``risk`` and ``accounts`` exports for the filtered sessions and their days.
    Accounts are judged on their history up to ``until`` whatever the start date: that
    judgement is kept, so a later start date reads only its own days."""

    history = dataclasses.replace(filters, since=None)

    def build() -> tables.RiskTables:
        found = tables.risk(
            data.view,
            filters,
            data.settings,
            data.dnsbl,
            data.asn_lookup,
            data.kept("risk-judged", history),  # None the first time: judged on one read
        )
        data.keep("risk-judged", history, found.judged)
        return found

    return data.cached("risk", filters, build)


def local_day(times: pd.Series, timezone: str) -> pd.Series:
    return times.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()


def daily_counts(
    frame: pd.DataFrame,
    column: str,
    categories: tuple[str, ...] | list[str],
    timezone: str,
    days: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Rows per local day and ``column`` value: ``day``, ``column``, ``sessions``; every
    category on every day (zeros included) so stacked bars line up."""
    if frame.empty and days is None:
        return pd.DataFrame(
            {
                DAY: pd.Series(dtype="datetime64[ns]"),
                column: pd.Series(dtype="string"),
                SESSIONS: pd.Series(dtype="int64"),
            }
        )
    day = local_day(frame[s.START] if s.START in frame else frame[s.TS], timezone).rename(DAY)
    counts = pd.crosstab(day, frame[column]).reindex(columns=list(categories), fill_value=0)
    full = (
        days
        if days is not None
        else pd.date_range(counts.index.min(), counts.index.max(), freq="D")
    )
    counts = counts.reindex(full.rename(DAY), fill_value=0)
    stacked = counts.stack().rename(SESSIONS).reset_index()
    return stacked.rename(columns={stacked.columns[1]: column})


def rollup_counts(
    rollup: pd.DataFrame,
    column: str,
    categories: Sequence[str],
    days: pd.DatetimeIndex | None,
    count: str = rollups.SESSIONS,
) -> pd.DataFrame:
    """``daily_counts`` of a rollup: its ``count`` summed per local day and ``column``."""
    if rollup.empty and days is None:
        return daily_counts(pd.DataFrame(columns=[s.TS, column]), column, categories, "UTC")
    table = rollup.pivot_table(
        index=rollups.DATE, columns=column, values=count, aggfunc="sum", fill_value=0
    ).reindex(columns=list(categories), fill_value=0)
    full = (
        days if days is not None else pd.date_range(table.index.min(), table.index.max(), freq="D")
    )
    table = table.reindex(full.rename(DAY), fill_value=0).astype("int64")
    stacked = table.stack().rename(SESSIONS).reset_index()
    return stacked.rename(columns={stacked.columns[1]: column})


def traffic_rollup(rollup: pd.DataFrame) -> pd.DataFrame:
    """A session rollup with ``traffic``: the class, or for unauthenticated the reason."""
    unauthenticated = (rollup[s.CLASS] == s.UNAUTHENTICATED).fillna(False).to_numpy()
    group = rollup[s.CLASS].astype(object).where(~unauthenticated, rollup[s.REASON].astype(object))
    return rollup.assign(**{TRAFFIC: group.to_numpy()})


def daily_class_counts(
    sessions: pd.DataFrame, timezone: str, days: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Sessions per local day and class (see ``daily_counts``)."""
    return daily_counts(sessions, s.CLASS, s.CLASSES, timezone, days)


def daily_traffic_counts(
    sessions: pd.DataFrame, timezone: str, days: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Sessions per local day and traffic group (``analyzer.outputs.traffic``: unauthenticated split
    into inbound mail, customers' relays, refused relays and AUTH outages)."""
    grouped = sessions.assign(**{TRAFFIC: traffic_groups(sessions)})
    return daily_counts(grouped, TRAFFIC, GROUPS, timezone, days)


def data_days(data: DashboardData) -> tuple[dt.date | None, dt.date | None]:
    """First and last local day with a session (None, None without sessions): read from
    the rollups of the first and last UTC days only (every page load asks)."""
    return data.cached("data-days", Filters(), lambda: tables.session_days(data.view))


def data_servers(data: DashboardData) -> list[str]:
    """The servers with sessions."""
    return data.cached("data-servers", Filters(), lambda: data.view.servers())


def period_days(data: DashboardData, filters: Filters) -> pd.DatetimeIndex | None:
    """Every local day of the selected period (the data's first or last day where the filter
    leaves it open): a daily chart shows them all, so one day's storm is a bar among the
    other days, not a chart of its own (None: no sessions at all)."""
    first, last = filters.since, filters.until
    if first is None or last is None:
        known_first, known_last = data_days(data)
        if known_first is None:
            return None
        first = first or known_first
        last = last or known_last
    return pd.date_range(first, last, freq="D")
