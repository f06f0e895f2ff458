"""A view of the data and a scope -> the tables relaywatch shows: the ``customers``,
``offenders``, ``accounts`` and ``risk`` exports, the blocklist, and the rollups behind the
charts. ``relaywatch export``, the dashboard and the mail all build them here.

Each reads from the view (``analyzer.store.queries.View``: a store, or logs parsed in memory) only
the sessions, events and columns it needs for the scope's days, so a store of any size is
never held whole.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.judgements import rollups
from analyzer.judgements.asn import AsnLookup, lookup_frame
from analyzer.judgements.blame import PROVIDER, combine_blames
from analyzer.judgements.blocklist import blocklist_entries, mail_networks, render_blocklist
from analyzer.judgements.classify import enforcement_instant
from analyzer.judgements.offenders import (
    IP,
    JUDGEMENT,
    MAILER,
    NETWORK,
    probe_sessions,
    source_traffic,
    summarize_offenders,
)
from analyzer.judgements.readiness import (
    OUTBOUND_REASONS,
    SLACK,
    as_of,
    daily_readiness_of,
    last_refused_sessions,
    readiness_of,
    recent_rows,
)
from analyzer.judgements.risk import (
    AUTH_COLUMNS,
    AccountBounces,
    account_bounces,
    failed_auth,
    ip_risk,
    score_accounts,
)
from analyzer.judgements.rollups import DATE, DELIVERIES
from analyzer.sessions.messages import REFUSED_STATUSES
from analyzer.settings.config import Settings
from analyzer.store.queries import (
    AUTH,
    BLAMED,
    BLAMED_DAILY,
    DAILY,
    DELIVERY_DAILY,
    LOGINS,
    SESSIONS,
    SOURCES,
    Scope,
    View,
    both,
    isin,
    utc_days_between,
)  # fmt: skip

# What each table reads of the sessions.
READINESS_COLUMNS = (
    s.SESSION_ID, s.CUSTOMER_ID, s.CLASS, s.REASON, s.PERIOD, s.START, s.END, s.SERVER,
    s.CLIENT_IP,
)  # fmt: skip
BLAMED_PAIRS = (s.SESSION_ID, s.RECIPIENT)  # who sent mail a blocklist refused, and to whom


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


def blame_rollup(view: View, scope: Scope) -> pd.DataFrame:
    """``blame.blame_rollup`` rows (refused deliveries) of the scope's days and servers."""
    rows = view.read(BLAMED_DAILY, None, scope.since, scope.until, scope.servers)
    return combine_blames(rows)


def login_rollup(view: View, scope: Scope) -> pd.DataFrame:
    """``rollups.daily_logins`` of the scope's sessions."""
    rows = view.read(LOGINS, None, scope.since, scope.until, scope.servers, scope.session_filter())
    return rollups.combine_logins(rows)


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
    """Customers' outbound sessions, with the columns readiness reads."""
    mine = both(pc.field(s.CUSTOMER_ID).is_valid(), isin(s.REASON, OUTBOUND_REASONS))
    return sessions_of(view, scope, READINESS_COLUMNS, mine)


def outbound_rollup(view: View, scope: Scope) -> pd.DataFrame:
    """The session rollup's rows of customers' outbound sessions."""
    rows = session_rollup(view, scope)
    mine = rows[s.CUSTOMER_ID].notna().to_numpy() & rows[s.REASON].isin(OUTBOUND_REASONS)
    return rows[mine.to_numpy(dtype=bool)]


def readiness(view: View, scope: Scope, customers: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The ``customers`` export (statuses as of the end of ``until``): counts and the
    RECENT days' activity from the rollup; sessions read only on the day of each customer's
    last refused relay, and reject lines around it."""
    counted = outbound_rollup(view, scope)
    now = as_of(scope.until, timezone)
    if now is None and len(counted):
        now = counted[rollups.LAST_START].max()
    refused = last_refusals(view, scope, counted, timezone)
    last = last_refused_sessions(refused)
    rejects = None
    if len(last):
        days = last[s.START].dt.tz_convert(timezone).dt.date
        one = dt.timedelta(days=1)  # a session may end, or its line be logged, past midnight
        since = max(days.min() - one, scope.since or days.min() - one)
        until = min(days.max() + one, scope.until or days.max() + one)
        # only the UTC days the sessions' reject lines may fall on, not the weeks between
        logged = utc_days_between(last[s.START] - SLACK, last[s.END].fillna(last[s.START]) + SLACK)
        wanted = both(
            pc.field(s.REJECT_KIND) == s.RK_RELAY,
            isin(s.CLIENT_IP, last[s.CLIENT_IP].dropna().astype(str).unique().tolist()),
        )
        rejects = view.read_days("rejects", logged, None, since, until, scope.servers, wanted)
    return readiness_of(counted, recent_rows(counted, now), refused, customers, now, rejects)


def last_refusals(view: View, scope: Scope, counted: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Sessions holding each customer's last refused relay: read in one pass over the UTC
    days of those customers' last local days (the rollup's last start) only, and kept where
    a session's local day is its customer's last."""
    denied = counted[(counted[s.REASON] == s.R_RELAY_DENIED).fillna(False).to_numpy()]
    if denied.empty:
        return pd.DataFrame(columns=list(READINESS_COLUMNS))
    latest = denied.groupby(s.CUSTOMER_ID)[rollups.LAST_START].max()
    last_day = latest.dt.tz_convert(timezone).dt.date
    last_day.index = last_day.index.astype(str)
    midnights = pd.Series(sorted(set(last_day)))
    days = utc_days_between(
        midnights.map(lambda day: enforcement_instant(day, timezone)),
        midnights.map(lambda day: enforcement_instant(day + dt.timedelta(days=1), timezone))
        - pd.Timedelta(microseconds=1),
    )
    mine = both(
        scope.session_filter(),
        isin(s.CUSTOMER_ID, last_day.index.tolist()),
        pc.field(s.REASON) == s.R_RELAY_DENIED,
    )
    found = view.read_days(
        SESSIONS, days, READINESS_COLUMNS, scope.since, scope.until, scope.servers, mine
    )
    local = found[s.START].dt.tz_convert(timezone).dt.date
    on_last_day = local.to_numpy() == found[s.CUSTOMER_ID].astype(str).map(last_day).to_numpy()
    return found[on_last_day].reset_index(drop=True)


def readiness_daily(view: View, scope: Scope, timezone: str) -> pd.DataFrame:
    """The ``readiness-daily`` export."""
    return daily_readiness_of(outbound_rollup(view, scope))


def source_rollup(view: View, scope: Scope, where=None) -> pd.DataFrame:
    """``rollups.daily_sources`` rows of the scope's sessions that ``where`` keeps, added up
    over the days and servers (what reads them adds up by address; a source's hundreds of
    day rows never reach pandas)."""
    where = both(scope.session_filter(), where)
    return view.read_totals(
        SOURCES, SOURCE_TOTAL_KEYS, rollups.SOURCE_SUMS, scope.since, scope.until, scope.servers,
        where,
    )  # fmt: skip


# The source rollup's keys but its day and server.
SOURCE_TOTAL_KEYS = tuple(k for k in rollups.SOURCE_KEYS if k not in (rollups.DATE, s.SERVER))


def probes_of(view: View, scope: Scope, own_ips: Sequence[str]) -> pd.DataFrame:
    """The scope's spam probes from outside (``probe_sessions``), as source rollup rows."""
    probes = source_rollup(view, scope, pc.field(s.CLASS) == s.SPAM_PROBE)
    return probe_sessions(probes, own_ips)


def offenders(
    view: View, scope: Scope, settings: Settings, lookup: AsnLookup | None
) -> pd.DataFrame:
    """The ``offenders`` export (by ip) of the scope: its probes, and all the traffic of
    the probing sources (their accepted mail), from one read of the source rollup."""
    rows = source_rollup(view, scope)
    probes = probe_sessions(rows, settings.own_outbound_ips())
    sources = probes[s.CLIENT_IP].astype("string").dropna().unique()
    return summarize_offenders(
        probes,
        lookup_frame(pd.Series(sources, dtype="string"), lookup),
        rows,
        settings.blocklist.probes_per_message,
    )


def delivering_sources(view: View, scope: Scope) -> pd.DataFrame:
    """The scope's sources that delivered accepted mail (their networks are never blocked
    whole), as source rollup rows."""
    accepted = (pc.field(s.CLASS) != s.SPAM_PROBE) & (pc.field(s.MESSAGES) > 0)
    return source_rollup(view, scope, accepted)


@dataclass(frozen=True, slots=True)
class RiskTables:
    """``accounts`` and ``risk`` exports, and the DNSBL answers behind ``risk``."""

    accounts: pd.DataFrame
    ips: pd.DataFrame
    dnsbl: pd.DataFrame
    # every account judged on the history up to ``until`` (``risk``'s ``accounts``)
    judged: pd.DataFrame | None = None


@dataclass(frozen=True)
class RiskEvidence:
    """What the account and IP rules read of a scope: the session, login, blame and delivery
    rollups and, for scoring accounts (``scoring``), the AUTH failures at the logins'
    addresses, who sent the mail a blocklist refused, and the logins' times (asked where a
    failure came before a first login)."""

    daily: pd.DataFrame  # session rollup (the scope's servers)
    logins: pd.DataFrame  # login rollup (the scope's servers)
    blames: pd.DataFrame  # blame rollup of refused deliveries (every server: our IPs')
    accepted: pd.DataFrame  # delivery rollup of outbound mail not refused (every server)
    failed: pd.DataFrame | None = None
    bounces: AccountBounces | None = None
    login_starts: Callable[[list[str]], pd.DataFrame] | None = None

    def between(self, first: dt.date | None, last: dt.date | None) -> RiskEvidence:
        """The evidence of the local days ``first``..``last`` (None: open)."""

        def days(frame: pd.DataFrame) -> pd.DataFrame:
            dates = frame[DATE].dt.date
            keep = (dates >= first if first else True) & (dates <= last if last else True)
            return frame[pd.Series(keep, index=frame.index).to_numpy(dtype=bool)]

        return dataclasses.replace(
            self,
            daily=days(self.daily),
            logins=days(self.logins),
            blames=days(self.blames),
            accepted=days(self.accepted),
        )


def risk_evidence(view: View, scope: Scope, scoring: bool = True) -> RiskEvidence:
    """``RiskEvidence`` of the scope's days (refusals and deliveries: of every server)."""
    every_server = dataclasses.replace(scope, servers=())
    deliveries = delivery_rollup(view, every_server)
    accepted = deliveries[
        deliveries[rollups.OUTBOUND].to_numpy(dtype=bool)
        & ~deliveries[s.STATUS].isin(REFUSED_STATUSES).fillna(False).to_numpy()
    ]
    logins = login_rollup(view, scope)
    blames = blame_rollup(view, every_server)
    evidence = RiskEvidence(session_rollup(view, scope), logins, blames, accepted)
    if not scoring:
        return evidence
    # Who logged in (to own the refused mail) is read in Arrow; the AUTH failures at the
    # logins' addresses are few; when an account logged in is asked for a few accounts.
    addresses = logins.loc[(logins[s.CLASS] == s.AUTHENTICATED).fillna(False).to_numpy()]
    login = both(
        scope.session_filter(),
        pc.field(s.CLASS) == s.AUTHENTICATED,
        pc.field(s.SASL_USERNAME).is_valid(),
    )
    failure = both(
        scope.session_filter(),
        pc.field(s.AUTH_FAILURES) > 0,
        ~pc.field(s.CUSTOMER_ID).is_valid(),
        isin(s.CLIENT_IP, addresses[s.CLIENT_IP].dropna().unique().tolist()),
    )
    period = (scope.since, scope.until, scope.servers)

    def login_starts(users: list[str]) -> pd.DataFrame:
        known = both(login, pc.field(s.CLIENT_IP).is_valid(), isin(s.SASL_USERNAME, users))
        return view.read(AUTH, [s.SASL_USERNAME, s.START], *period, known)

    owners = view.read_table(AUTH, [s.SESSION_ID, s.SASL_USERNAME], *period, login)
    named = pc.field(PROVIDER).is_valid()
    blamed = view.read_table(
        BLAMED, BLAMED_PAIRS, every_server.since, every_server.until, (), named
    )
    return dataclasses.replace(
        evidence,
        # a login's own failures count too (see the rule): ``failure`` does not exclude it
        failed=failed_auth(view.read(AUTH, AUTH_COLUMNS, *period, failure)),
        bounces=account_bounces(blamed, owners),
        login_starts=login_starts,
    )


def risk(
    view: View,
    scope: Scope,
    settings: Settings,
    dnsbl: pd.DataFrame,
    lookup: AsnLookup | None,
    accounts: pd.DataFrame | None = None,
) -> RiskTables:
    """The ``accounts`` and ``risk`` exports of the scope: accounts judged on their history
    up to ``until`` (``accounts``: those scores, already made — ``risk`` of the scope without
    ``since`` — so only the period is read), listed when active in the period; own IPs on
    the period's refusals and sessions."""
    if accounts is None and not (scope.servers or scope.classes or scope.customers):
        accounts = view.judged(scope.until)  # kept by ``ingest``: no session to read
    if accounts is not None:
        evidence = risk_evidence(view, scope, scoring=False)
        found = risk_tables(evidence, settings, dnsbl, lookup, accounts)
        return dataclasses.replace(found, judged=accounts)
    history = dataclasses.replace(scope, since=None)
    evidence = risk_evidence(view, history)
    return period_risk(evidence, scope.since, scope.until, settings, dnsbl, lookup)


def risk_tables(
    evidence: RiskEvidence,
    settings: Settings,
    dnsbl: pd.DataFrame,
    asn: AsnLookup | None,
    scored_accounts: pd.DataFrame | None = None,
) -> RiskTables:
    """Score accounts and own IPs on ``evidence`` (``dnsbl`` from ``live_dnsbl``; ``asn``
    loaded once by the caller). ``scored_accounts``: use these account scores (e.g. judged
    on a longer history) instead; the table then lists the accounts that logged in within
    the evidence."""
    logins = evidence.logins
    if scored_accounts is None:
        asns = lookup_frame(logins[s.CLIENT_IP].dropna().drop_duplicates(), asn)
        accounts = score_accounts(
            logins, evidence.failed, evidence.login_starts, evidence.bounces, asns
        )
    else:
        active = scored_accounts[s.SASL_USERNAME].isin(set(logins[s.SASL_USERNAME]))
        accounts = scored_accounts[active.to_numpy()].reset_index(drop=True)
    accepted = evidence.accepted.groupby(s.SERVER)[DELIVERIES].sum()
    ips = ip_risk(
        evidence.daily,
        logins,
        evidence.blames,
        accounts,
        dnsbl,
        settings.own_outbound_ips(),
        settings.server_outbound_ips(),
        accepted,
    )
    return RiskTables(accounts, ips, dnsbl)


def period_risk(
    evidence: RiskEvidence,
    since: dt.date | None,
    until: dt.date | None,
    settings: Settings,
    dnsbl: pd.DataFrame,
    asn: AsnLookup | None,
) -> RiskTables:
    """Risk of the days ``since``..``until`` from the ``evidence`` of their history: accounts
    judged against their whole history up to ``until`` (baseline, first-seen networks),
    listed when active in the period; own IPs on the period's refusals and sessions."""
    history = risk_tables(evidence, settings, dnsbl, asn)
    history = dataclasses.replace(history, judged=history.accounts)
    earlier = evidence.between(None, since - dt.timedelta(days=1)) if since else None
    if earlier is None or not (len(earlier.daily) or len(earlier.blames)):
        return history  # nothing before the period: its tables are the history's
    period = evidence.between(since, until)
    found = risk_tables(period, settings, dnsbl, asn, history.accounts)
    return dataclasses.replace(found, judged=history.accounts)


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
