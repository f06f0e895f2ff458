"""A view of the data and a scope -> the tables relaywatch shows: the ``customers``,
``offenders``, ``accounts`` and ``risk`` exports, the blocklist, and the rollups behind the
charts. ``relaywatch export``, the dashboard and the mail all build them here.

Each reads from the view (``analyzer.queries.View``: a store, or logs parsed in memory) only
the sessions, events and columns it needs for the scope's days, so a store of any size is
never held whole.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow.compute as pc

from analyzer import rollups
from analyzer import schema as s
from analyzer.asn import AsnLookup, lookup_frame
from analyzer.blocklist import blocklist_entries, mail_networks, render_blocklist
from analyzer.classify import enforcement_instant
from analyzer.config import Settings
from analyzer.customers import local_domains
from analyzer.messages import REFUSED_STATUSES
from analyzer.offenders import (
    IP,
    JUDGEMENT,
    MAILER,
    NETWORK,
    probe_sessions,
    source_traffic,
    summarize_offenders,
)
from analyzer.pipeline import bounce_rules, select_period
from analyzer.queries import BLAMED, DAILY, DELIVERY_DAILY, SESSIONS, Scope, View, both, isin
from analyzer.readiness import OUTBOUND_REASONS, as_of, customer_readiness, daily_readiness
from analyzer.risk import NAMED_IP, PROVIDER, account_risk, blame_blocklists, ip_risk
from analyzer.rollups import DATE, DELIVERIES

# What each table reads of the sessions.
READINESS_COLUMNS = (
    s.SESSION_ID, s.CUSTOMER_ID, s.CLASS, s.REASON, s.PERIOD, s.START, s.END, s.SERVER,
    s.CLIENT_IP,
)  # fmt: skip
PROBE_COLUMNS = (
    s.SESSION_ID, s.CLIENT_IP, s.CLASS, s.REASON, s.START, s.RELAY_DENIED, s.AUTH_FAILURES,
    "customer_ip",
)  # fmt: skip
RISK_SESSION_COLUMNS = (
    s.SESSION_ID, s.START, s.SERVER, s.CLIENT_IP, s.SASL_USERNAME, s.CUSTOMER_ID, s.CLASS,
    s.REASON, s.AUTH_FAILURES, s.MESSAGES, s.RECIPIENTS, "customer_ip",
)  # fmt: skip
BLAMED_COLUMNS = (
    s.TS, s.SERVER, s.STATUS, s.RECIPIENT, s.RELAY, s.SESSION_ID, PROVIDER, s.DNSBL_ZONE,
    NAMED_IP,
)  # fmt: skip


def sessions_of(
    view: View, scope: Scope, columns: Sequence[str] | None = None, where=None
) -> pd.DataFrame:
    """The scope's classified sessions that ``where`` (an Arrow filter) keeps."""
    return view.read(
        SESSIONS,
        columns,
        scope.since,
        scope.until,
        scope.servers,
        both(scope.session_filter(), where),
    )


def events_of(
    view: View, scope: Scope, name: str, columns: Sequence[str] | None = None, where=None
) -> pd.DataFrame:
    """Rejects, deliveries or blamed refusals within the scope's days and servers."""
    return view.read(name, columns, scope.since, scope.until, scope.servers, where)


def session_rollup(view: View, scope: Scope) -> pd.DataFrame:
    """``rollups.daily_sessions`` of the scope's sessions."""
    rows = view.read(DAILY, None, scope.since, scope.until, scope.servers, scope.session_filter())
    return rollups.combine(rows)


def session_days(view: View) -> tuple[dt.date | None, dt.date | None]:
    """First and last local day with a session (None, None without any). A session's local
    day is its UTC day or the one beside it: only the rollups of the first and last UTC
    days' neighbours are read."""
    days = view.days(SESSIONS)
    if not days:
        return None, None
    one = dt.timedelta(days=1)
    first, last = dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1])
    edges = [view.read(DAILY, [DATE], first - one, first + one)]
    edges.append(view.read(DAILY, [DATE], last - one, last + one))
    dates = pd.concat(edges, ignore_index=True)[DATE].dropna()
    if dates.empty:
        return None, None
    return dates.min().date(), dates.max().date()


def delivery_rollup(view: View, scope: Scope) -> pd.DataFrame:
    """``rollups.daily_deliveries`` of the scope's days and servers."""
    rows = view.read(DELIVERY_DAILY, None, scope.since, scope.until, scope.servers)
    return rollups.combine_deliveries(rows)


def outbound_of(view: View, scope: Scope) -> pd.DataFrame:
    """Customers' outbound sessions: all that readiness reads."""
    mine = both(pc.field(s.CUSTOMER_ID).is_valid(), isin(s.REASON, OUTBOUND_REASONS))
    return sessions_of(view, scope, READINESS_COLUMNS, mine)


def readiness(view: View, scope: Scope, customers: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The ``customers`` export (statuses as of the end of ``until``)."""
    relayed = pc.field(s.REJECT_KIND) == s.RK_RELAY
    return customer_readiness(
        outbound_of(view, scope),
        customers,
        as_of(scope.until, timezone),
        events_of(view, scope, "rejects", None, relayed),
    )


def readiness_daily(view: View, scope: Scope, timezone: str) -> pd.DataFrame:
    """The ``readiness-daily`` export."""
    return daily_readiness(outbound_of(view, scope), timezone)


def probes_of(view: View, scope: Scope, own_ips: Sequence[str]) -> pd.DataFrame:
    """The scope's spam-probe sessions from outside (``probe_sessions``)."""
    probes = sessions_of(view, scope, PROBE_COLUMNS, pc.field(s.CLASS) == s.SPAM_PROBE)
    return probe_sessions(probes, own_ips)


def offenders(
    view: View, scope: Scope, settings: Settings, lookup: AsnLookup | None
) -> pd.DataFrame:
    """The ``offenders`` export (by ip) of the scope: its probes, and all the sessions of
    the probing sources (their accepted mail)."""
    probes = probes_of(view, scope, settings.own_outbound_ips())
    sources = probes[s.CLIENT_IP].astype("string").dropna().unique()
    traffic = sessions_of(
        view, scope, (s.CLIENT_IP, s.CLASS, s.MESSAGES), isin(s.CLIENT_IP, list(sources))
    )
    return summarize_offenders(
        probes,
        lookup_frame(pd.Series(sources, dtype="string"), lookup),
        traffic,
        settings.blocklist.probes_per_message,
    )


def delivering_sources(view: View, scope: Scope) -> pd.DataFrame:
    """The scope's sessions that delivered accepted mail (their networks are never blocked
    whole)."""
    accepted = (pc.field(s.CLASS) != s.SPAM_PROBE) & (pc.field(s.MESSAGES) > 0)
    return sessions_of(view, scope, (s.CLIENT_IP, s.CLASS, s.MESSAGES), accepted)


def risk(
    view: View,
    scope: Scope,
    customers: pd.DataFrame,
    settings: Settings,
    dnsbl: pd.DataFrame,
    lookup: AsnLookup | None,
    domains: frozenset[str],
) -> RiskTables:
    """The ``accounts`` and ``risk`` exports of the scope: accounts judged on their history
    up to ``until``; only the sessions the rules read (logins, AUTH failures, open relaying)
    and the refused deliveries (the others are counted by the rollup)."""
    history = dataclasses.replace(scope, since=None)
    risky = (
        pc.field(s.SASL_USERNAME).is_valid()
        | (pc.field(s.AUTH_FAILURES) > 0)
        | (
            (pc.field(s.CLASS) == s.UNAUTHENTICATED)
            & (pc.field(s.REASON) == s.R_RELAY)
            & ~pc.field(s.CUSTOMER_ID).is_valid()
        )
    )
    every_server = dataclasses.replace(history, servers=())
    deliveries = delivery_rollup(view, every_server)
    accepted = deliveries[
        deliveries[rollups.OUTBOUND].to_numpy(dtype=bool)
        & ~deliveries[s.STATUS].isin(REFUSED_STATUSES).fillna(False).to_numpy()
    ]
    return period_risk(
        sessions_of(view, history, RISK_SESSION_COLUMNS, risky),
        events_of(view, every_server, BLAMED, BLAMED_COLUMNS),
        scope.since,
        scope.until,
        customers,
        settings,
        dnsbl,
        lookup,
        domains,
        accepted,
    )


@dataclass(frozen=True, slots=True)
class RiskTables:
    """``accounts`` and ``risk`` exports, and the DNSBL answers behind ``risk``."""

    accounts: pd.DataFrame
    ips: pd.DataFrame
    dnsbl: pd.DataFrame


def risk_tables(
    sessions: pd.DataFrame,
    deliveries: pd.DataFrame,
    customers: pd.DataFrame,
    settings: Settings,
    dnsbl: pd.DataFrame,
    asn: AsnLookup | None,
    scored_accounts: pd.DataFrame | None = None,
    domains: frozenset[str] | None = None,
    accepted: pd.Series | None = None,
) -> RiskTables:
    """Score accounts and own IPs (``dnsbl`` from ``live_dnsbl``; ``asn`` loaded once by the
    caller). ``scored_accounts``: use these account scores (e.g. judged on a longer history)
    instead of scoring ``sessions``; the table then lists the accounts that logged in among
    ``sessions``. ``domains``: the local domains (``Analysis.local_domains``; default: the
    configured ones). ``deliveries`` already blamed (``blocklist_provider``) are used as they
    are; with ``accepted`` (see ``ip_risk``) they need hold only the refused ones."""
    own = settings.own_outbound_ips()
    blamed = (
        deliveries
        if PROVIDER in deliveries
        else blame_blocklists(deliveries, own, bounce_rules(settings))
    )
    logins = sessions[sessions[s.SASL_USERNAME].notna().to_numpy()]
    if scored_accounts is None:
        asns = lookup_frame(logins[s.CLIENT_IP], asn)
        accounts = account_risk(sessions, blamed, asns, settings.timezone)
    else:
        active = scored_accounts[s.SASL_USERNAME].isin(set(logins[s.SASL_USERNAME]))
        accounts = scored_accounts[active.to_numpy()].reset_index(drop=True)
    if domains is None:
        domains = local_domains(customers, settings.local_domains)
    ips = ip_risk(
        sessions, blamed, accounts, dnsbl, own, settings.server_outbound_ips(), domains, accepted
    )
    return RiskTables(accounts, ips, dnsbl)


def period_risk(
    sessions: pd.DataFrame,
    deliveries: pd.DataFrame,
    since: dt.date | None,
    until: dt.date | None,
    customers: pd.DataFrame,
    settings: Settings,
    dnsbl: pd.DataFrame,
    asn: AsnLookup | None,
    domains: frozenset[str] | None = None,
    accepted: pd.DataFrame | None = None,
) -> RiskTables:
    """Risk of the days ``since``..``until``: accounts judged against their whole history up
    to ``until`` (baseline, first-seen networks), listed when active in the period; own IPs
    on the period's refusals and sessions (``domains``: as for ``risk_tables``).
    ``accepted``: the delivery rollup (``analyzer.rollups.daily_deliveries``) of the outbound
    deliveries not refused, when ``deliveries`` holds only the refused ones."""
    tz = settings.timezone

    def tables(first: dt.date | None, scored: pd.DataFrame | None = None) -> RiskTables:
        counted = None
        if accepted is not None:
            days = accepted[DATE].dt.date
            keep = (days >= first if first else True) & (days <= until if until else True)
            counted = accepted[pd.Series(keep, index=accepted.index).to_numpy(dtype=bool)]
            counted = counted.groupby(s.SERVER)[DELIVERIES].sum()
        return risk_tables(
            select_period(sessions, first, until, tz),
            select_period(deliveries, first, until, tz, s.TS),
            customers,
            settings,
            dnsbl,
            asn,
            scored,
            domains,
            counted,
        )

    history = tables(None)
    starts = sessions[s.START]
    if since is None or not (starts < enforcement_instant(since, tz)).any():
        times = deliveries[s.TS]
        if since is None or not (times < enforcement_instant(since, tz)).any():
            return history  # nothing before the period: its tables are the history's
    return tables(since, history.accounts)


def blocklist_text(
    offenders: pd.DataFrame,
    sessions: pd.DataFrame,
    customers: pd.DataFrame,
    settings: Settings,
    min_sessions: int,
    by: str,
    fmt: str,
) -> str:
    """The blocklist of ``export blocklist`` and the Offenders page: the probers among
    ``offenders`` (judged on ``sessions``, the same window), each with its evidence."""
    by_network = by == NETWORK
    entries = blocklist_entries(
        offenders,
        customers,
        settings.own_outbound_ips(),
        min_sessions,
        NETWORK if by_network else IP,
        settings.blocklist.never,
        settings.blocklist.private,
        mail_networks(source_traffic(sessions)) if by_network else (),
    )
    mailers = int((offenders[JUDGEMENT] == MAILER).sum())
    comment = (
        f"relaywatch blocklist: {len(entries)} entries, spam-probe sources with >= "
        f"{min_sessions} probe sessions; never a customer network, an own address, or a "
        f"mailer (a source whose accepted mail outweighs its probes: {mailers} left out)"
    )
    return render_blocklist(entries, fmt, comment)
