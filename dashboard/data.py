"""The dashboard's data: analysed once when the app is created (never at import), then
filtered and summarised per request by pure functions.

The loaded ``DashboardData`` hangs off the Flask app (``server.config``), so there is no
module-level state and two apps in one process (tests) never share data. Views of the data
for one set of filters are cached on that object, keyed by the filters (the data itself
never changes while the app runs: its ``version`` names it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask
import pandas as pd

from analyzer import jobs
from analyzer import schema as s
from analyzer.asn import AsnLookup, lookup_frame
from analyzer.config import Settings
from analyzer.io import store
from analyzer.io.asn import load_lookup
from analyzer.io.customers import read_customers
from analyzer.io.dnsbl import DNSBL_COLUMNS
from analyzer.offenders import probe_sessions, roll_up, summarize_offenders
from analyzer.pipeline import Analysis, select_period
from analyzer.readiness import as_of, call_list, customer_readiness, daily_readiness
from analyzer.traffic import GROUPS, TRAFFIC, traffic_groups

CONFIG_KEY = "relaywatch.data"
RELOAD_LOCK_KEY = "relaywatch.reload_lock"
DAY = "day"
SESSIONS = "sessions"
CACHE_SIZE = 32


@dataclass(frozen=True)
class Filters:
    """What the shared filter bar selects (empty tuple: everything)."""

    since: dt.date | None = None
    until: dt.date | None = None
    servers: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()

    @classmethod
    def from_store(cls, data: dict[str, Any] | None) -> Filters:
        data = data or {}

        def day(value: Any) -> dt.date | None:
            return dt.date.fromisoformat(str(value)[:10]) if value else None

        def many(value: Any) -> tuple[str, ...]:
            if not value:
                return ()
            return tuple(sorted(value if isinstance(value, list) else [value]))

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
    analysis: Analysis
    customers: pd.DataFrame
    asns: pd.DataFrame
    version: str
    asn_lookup: AsnLookup | None = None  # loaded once: a real database takes seconds
    dnsbl: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(DNSBL_COLUMNS)))
    store_stamp: int | None = None  # the store's commit this was read at (None: logs parsed)
    dns: bool = True
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _building: dict = field(default_factory=dict, repr=False)  # key -> lock of its builder

    @property
    def sessions(self) -> pd.DataFrame:
        return self.analysis.sessions

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
                with self._cache_lock:
                    self._cache[key] = value
                    if len(self._cache) > CACHE_SIZE:
                        self._cache.popitem(last=False)
            finally:
                with self._cache_lock:
                    self._building.pop(key, None)
        return value


def load_data(
    settings: Settings, progress: Callable[[Path], None] | None = None, dns: bool = True
) -> DashboardData:
    """Read the store (or, before any ``ingest``, parse the configured logs) once, and ask
    the DNSBLs about the own outbound IPs once (``dns=False``: not at all)."""
    stamp = store_stamp(settings)
    analysis = jobs.load_analysis(settings, progress=progress)
    customers = read_customers(settings.customers)
    probes = probe_sessions(analysis.sessions, settings.own_outbound_ips())
    lookup = load_lookup(settings.asn_db, settings.as_names)
    asns = lookup_frame(probes[s.CLIENT_IP], lookup)
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(analysis.sessions[[s.SESSION_ID]], index=False)
        .to_numpy()
        .tobytes()
    ).hexdigest()[:12]
    dnsbl = jobs.live_dnsbl(settings, dns)
    return DashboardData(settings, analysis, customers, asns, digest, lookup, dnsbl, stamp, dns)


def store_stamp(settings: Settings) -> int | None:
    """When the store last committed (None without a store): the cron ``ingest`` moves it."""
    if settings.store is None:
        return None
    try:
        return (settings.store / store.MANIFEST).stat().st_mtime_ns
    except OSError:
        return None


def current() -> DashboardData:
    """The data of the app serving this request, read again once ``ingest`` has committed
    to the store since (the page shows the new data on its next callback or load)."""
    config = flask.current_app.config
    data = config[CONFIG_KEY]
    if data.store_stamp is None or store_stamp(data.settings) == data.store_stamp:
        return data
    with config[RELOAD_LOCK_KEY]:  # one request reads the store again, the others wait
        data = config[CONFIG_KEY]
        if store_stamp(data.settings) != data.store_stamp:
            data = config[CONFIG_KEY] = load_data(data.settings, dns=data.dns)
    return data


def filter_sessions(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """The sessions the filter bar selects."""

    def build() -> pd.DataFrame:
        sessions = select_period(
            data.sessions, filters.since, filters.until, data.settings.timezone
        )
        for column, wanted in (
            (s.SERVER, filters.servers),
            (s.CLASS, filters.classes),
            (s.CUSTOMER_ID, filters.customers),
        ):
            if wanted:
                sessions = sessions[sessions[column].isin(wanted).fillna(False).to_numpy()]
        return sessions

    return data.cached("sessions", filters, build)


def filter_events(frame: pd.DataFrame, data: DashboardData, filters: Filters) -> pd.DataFrame:
    """Rejects or deliveries within the filters' dates and servers."""
    tz = data.settings.timezone
    keep = pd.Series(True, index=frame.index)
    if filters.since:
        keep &= frame[s.TS] >= pd.Timestamp(filters.since).tz_localize(tz)
    if filters.until:
        keep &= frame[s.TS] < pd.Timestamp(filters.until + dt.timedelta(days=1)).tz_localize(tz)
    if filters.servers:
        keep &= frame[s.SERVER].isin(filters.servers).fillna(False)
    return frame[keep.to_numpy()]


def readiness_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """``relaywatch export customers`` for the filtered sessions (statuses as of ``until``)."""
    return data.cached(
        "readiness",
        filters,
        lambda: customer_readiness(
            filter_sessions(data, filters),
            data.customers,
            as_of(filters.until, data.settings.timezone),
            filter_events(data.analysis.rejects, data, filters),
        ),
    )


def call_list_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """The broken and at-risk customers of ``readiness_table``, most urgent first."""
    return data.cached("call_list", filters, lambda: call_list(readiness_table(data, filters)))


def readiness_daily(data: DashboardData, filters: Filters) -> pd.DataFrame:
    return data.cached(
        "daily",
        filters,
        lambda: daily_readiness(filter_sessions(data, filters), data.settings.timezone),
    )


def offenders_table(data: DashboardData, filters: Filters) -> pd.DataFrame:
    """``relaywatch export offenders`` for the filtered sessions."""
    return data.cached(
        "offenders",
        filters,
        lambda: summarize_offenders(
            probe_sessions(filter_sessions(data, filters), data.settings.own_outbound_ips()),
            data.asns,
            filter_sessions(data, filters),
            data.settings.blocklist.probes_per_message,
        ),
    )


def offenders_view(data: DashboardData, filters: Filters, by: str) -> pd.DataFrame:
    """``relaywatch export offenders --by BY`` for the filtered sessions (the table a page of
    rows is cut from: rolled up once, not per page)."""
    return data.cached(
        ("offenders", by), filters, lambda: roll_up(offenders_table(data, filters), by)
    )


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


def daily_class_counts(
    sessions: pd.DataFrame, timezone: str, days: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Sessions per local day and class (see ``daily_counts``)."""
    return daily_counts(sessions, s.CLASS, s.CLASSES, timezone, days)


def daily_traffic_counts(
    sessions: pd.DataFrame, timezone: str, days: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Sessions per local day and traffic group (``analyzer.traffic``: unauthenticated split
    into inbound mail, customers' relays, refused relays and AUTH outages)."""
    grouped = sessions.assign(**{TRAFFIC: traffic_groups(sessions)})
    return daily_counts(grouped, TRAFFIC, GROUPS, timezone, days)


def period_days(data: DashboardData, filters: Filters) -> pd.DatetimeIndex | None:
    """Every local day of the selected period (the data's first or last day where the filter
    leaves it open): a daily chart shows them all, so one day's storm is a bar among the
    other days, not a chart of its own (None: no sessions at all)."""
    first, last = filters.since, filters.until
    if first is None or last is None:
        if data.sessions.empty:
            return None
        local = data.sessions[s.START].dt.tz_convert(data.settings.timezone)
        first = first or local.min().date()
        last = last or local.max().date()
    return pd.date_range(first, last, freq="D")
