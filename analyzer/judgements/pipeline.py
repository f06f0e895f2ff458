"""The chain: lines -> events -> sessions -> customers -> classes -> periods.

Pure: takes frames and settings, does no file or network work.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer import schema as s
from analyzer.judgements.classify import assign_period, classify_sessions, enforcement_instant
from analyzer.judgements.customers import attribute_customers, local_domains
from analyzer.reading.coverage import line_summary
from analyzer.reading.parse import ALL_RULES, DEFAULT_REJECT_KINDS, StampOptions, parse_lines
from analyzer.reading.patterns import ReasonRule, Rule, configured_reasons, configured_rules
from analyzer.reading.patterns.bounces import BLOCKLIST_BOUNCES
from analyzer.sessions.build import build_session_tables
from analyzer.sessions.messages import local_delivery_domains
from analyzer.settings.config import Settings


@dataclass(frozen=True, slots=True)
class Analysis:
    """What one run found.

    Attributes:
        sessions: one classified row per SMTP session (``analyzer.schema`` columns).
        lines: per input file, how many lines matched a rule, were ignored (other programs),
            unmatched (a Postfix line no rule knows) or malformed.
        problems: the unmatched and malformed lines themselves (source, line_no, event, raw).
        rejects: every refused command: ``ts``, ``server``, ``client_ip``, ``sender``,
            ``recipient``, ``reject_kind``, ``dnsbl_zone`` (who tried to relay where).
        deliveries: every delivery attempt: ``ts``, ``server``, ``recipient``, ``relay``,
            ``status``, ``dsn``, ``reply`` (what remote servers answered us).
        inferred_domains: with no ``local_domains`` configured, the domains the logs show
            delivered locally (beyond the customers'), used as local domains.
    """

    sessions: pd.DataFrame
    lines: pd.DataFrame
    problems: pd.DataFrame
    rejects: pd.DataFrame
    deliveries: pd.DataFrame
    inferred_domains: tuple[str, ...] = ()

    def local_domains(self, customers: pd.DataFrame, settings: Settings) -> frozenset[str]:
        """The local domains the sessions were built with: configured, customers', inferred."""
        return local_domains(customers, settings.local_domains) | set(self.inferred_domains)


def parse_with(lines: pd.DataFrame, sources: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """``parse_lines`` with the settings' time zone, year, rules and reject texts."""
    return parse_lines(
        lines,
        sources,
        StampOptions(settings.timezone, settings.year),
        line_rules(settings),
        reject_kinds=reject_reasons(settings),
    )


def analyse(
    lines: pd.DataFrame, sources: pd.DataFrame, customers: pd.DataFrame, settings: Settings
) -> Analysis:
    """Parse, sessionise, attribute and classify.

    Args:
        lines: ``source``, ``line_no``, ``raw`` (see ``analyzer.reading.sources.read_logs``).
        sources: ``source``, ``path``, ``mtime``.
        customers: a checked customers table (``analyzer.judgements.customers.check_customers``).
        settings: time zone, year, enforcement dates, local domains.
    """
    events = parse_with(lines, sources, settings)
    return analyse_events(events, sources, customers, settings)


def line_rules(settings: Settings) -> tuple[Rule, ...]:
    """The configured ``[[rules]]`` first, then the built-in ones."""
    return configured_rules([dataclasses.asdict(r) for r in settings.rules]) + ALL_RULES


def reject_reasons(settings: Settings) -> tuple[ReasonRule, ...]:
    """The configured reject texts (``[reject_patterns]``) first, then the built-in ones."""
    return configured_reasons(settings.reject_patterns) + DEFAULT_REJECT_KINDS


def bounce_rules(settings: Settings) -> tuple[ReasonRule, ...]:
    """The configured ``[bounce_patterns]`` first, then the built-in providers."""
    return configured_reasons(settings.bounce_patterns) + BLOCKLIST_BOUNCES


def analyse_events(
    events: pd.DataFrame, sources: pd.DataFrame, customers: pd.DataFrame, settings: Settings
) -> Analysis:
    """The steps after parsing (see ``analyse``)."""
    configured = local_domains(customers, settings.local_domains)
    inferred = infer_local_domains(events, settings, configured)
    sessions, links, _, _ = build_session_tables(
        events, configured | set(inferred), settings.exim.session_gap_seconds
    )
    rejects, deliveries, problems = line_tables(events, links)
    return Analysis(
        sessions=finish_sessions(sessions, customers, settings),
        lines=line_summary(events, sources),
        problems=problems,
        rejects=rejects,
        deliveries=deliveries,
        inferred_domains=inferred,
    )


def infer_local_domains(
    events: pd.DataFrame, settings: Settings, known: frozenset[str]
) -> tuple[str, ...]:
    """With no ``local_domains`` configured: the domains the events show delivered locally
    (``sessions.local_delivery_domains``) beyond ``known`` ones, sorted; else none."""
    if settings.local_domains:
        return ()
    return tuple(sorted(local_delivery_domains(events) - known))


def finish_sessions(
    sessions: pd.DataFrame, customers: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """Built sessions -> attributed to customers, classified, in their enforcement period.
    (The store keeps sessions as built, so a changed customers file applies at once.)"""
    sessions = attribute_customers(sessions, customers)
    sessions = classify_sessions(sessions)
    sessions = assign_period(
        sessions, settings.enforcement_date, settings.timezone, settings.server_enforcement()
    )
    s.check_sessions(sessions)
    return sessions


def line_tables(
    events: pd.DataFrame, links: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The tables of single lines: rejects, deliveries (with the session that accepted the
    message, from ``links``) and problems (unmatched and malformed lines), each in time order
    (problems in line order)."""
    return reject_lines(events), delivery_lines(events, links), problem_lines(events)


def reject_lines(events: pd.DataFrame) -> pd.DataFrame:
    """Every refused command (``REJECT_COLUMNS``), in time order."""
    rejects = events.loc[
        (events[s.EVENT] == s.EV_REJECT).fillna(False).to_numpy(), list(REJECT_COLUMNS)
    ]
    return rejects.sort_values(s.TS, kind="stable").reset_index(drop=True)


def delivery_lines(events: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Every delivery attempt (``DELIVERY_COLUMNS`` and ``session_id``), in time order."""
    deliveries = link_deliveries(
        events.loc[
            (events[s.EVENT] == s.EV_DELIVERY).fillna(False).to_numpy(),
            [s.SEQ, *DELIVERY_COLUMNS],
        ],
        links,
    )
    return deliveries.sort_values(s.TS, kind="stable").reset_index(drop=True)


def problem_lines(
    events: pd.DataFrame, columns: Sequence[str] = (s.SOURCE, s.LINE_NO, s.EVENT, s.RAW)
) -> pd.DataFrame:
    """The unmatched and malformed lines (``columns`` of them), in line order."""
    return (
        events.loc[
            events[s.EVENT].isin([s.EV_UNMATCHED, s.EV_MALFORMED]).to_numpy(),
            [s.SEQ, *columns],
        ]
        .sort_values(s.SEQ)
        .drop(columns=s.SEQ)
        .reset_index(drop=True)
    )


REJECT_COLUMNS = (s.TS, s.SERVER, s.CLIENT_IP, s.SENDER, s.RECIPIENT, s.REJECT_KIND, s.DNSBL_ZONE)
DELIVERY_COLUMNS = (s.TS, s.SERVER, s.QUEUE_ID, s.RECIPIENT, s.RELAY, s.STATUS, s.DSN, s.REPLY)


def link_deliveries(deliveries: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Add ``session_id``: the session that accepted the message, found by server and queue id
    (the latest binding of that id before the delivery line). Empty for mail that arrived
    outside the input or locally (pickup, bounces)."""

    def text(column: pd.Series) -> pd.Series:  # one key dtype on both sides, even if empty
        return column.astype(str)

    ordered = deliveries.assign(
        _server=text(deliveries[s.SERVER]), _queue=text(deliveries[s.QUEUE_ID])
    ).sort_values(s.SEQ, kind="stable")
    keyed = pd.DataFrame(
        {
            s.SEQ: links[s.SEQ].astype(np.int64),
            "_server": text(links[s.SERVER]),
            "_queue": text(links[s.QUEUE_ID]),
            s.SESSION_ID: links[s.SESSION_ID].astype(object),
        }
    )
    ordered[s.SEQ] = ordered[s.SEQ].to_numpy(dtype=np.int64)
    joined = pd.merge_asof(ordered, keyed, on=s.SEQ, by=["_server", "_queue"], direction="backward")
    return joined.drop(columns=["_server", "_queue", s.SEQ]).astype(
        {s.SESSION_ID: pd.ArrowDtype(pa.string())}
    )


def select_period(
    sessions: pd.DataFrame,
    since: dt.date | None,
    until: dt.date | None,
    timezone: str,
    column: str = s.START,
) -> pd.DataFrame:
    """Sessions that start on or after ``since`` and on or before ``until`` (whole local days);
    with ``column="ts"``, events of those days."""
    keep = pd.Series(True, index=sessions.index)
    if since is not None:
        keep &= sessions[column] >= enforcement_instant(since, timezone)
    if until is not None:
        keep &= sessions[column] < enforcement_instant(until + dt.timedelta(days=1), timezone)
    return sessions[keep.to_numpy()]
