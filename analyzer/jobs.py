"""Whole jobs that read inputs and run the pipeline: what the CLI and the dashboard call.

This is the one layer (besides ``analyzer.io``) that touches files; the logic stays in the
pure modules it calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analyzer import schema as s
from analyzer.asn import HOW_TO_GET_ONE, AsnLookup, location_dump_tables, lookup_frame
from analyzer.config import Settings
from analyzer.coverage import ignored_programs, rule_counts
from analyzer.customers import local_domains
from analyzer.errors import ConfigError, InputError
from analyzer.exports import frame_to_csv, sessions_to_csv
from analyzer.ingest import CHUNK_BYTES, ingest, store_root
from analyzer.io import store
from analyzer.io.asn import load_lookup, location_dump_lines, mrt_prefixes, write_asn_db
from analyzer.io.customers import read_customers
from analyzer.io.dnsbl import check_dnsbl
from analyzer.io.mailer import MailError, send_message, smtp_password, spool_message, write_eml
from analyzer.io.sources import expand_logs, label_sources, read_logs
from analyzer.offenders import (
    IP,
    NETWORK,
    blocklist_entries,
    probe_sessions,
    render_blocklist,
    roll_up,
    summarize_offenders,
)
from analyzer.parse import StampOptions, detect_formats, parse_lines
from analyzer.pipeline import Analysis, analyse, bounce_rules, reject_reasons, select_period
from analyzer.readiness import (
    CUSTOMER_EXPORT_COLUMNS,
    DAILY_COLUMNS,
    as_of,
    customer_readiness,
    daily_readiness,
    filter_status,
)
from analyzer.report import build_report, compose_message, default_period
from analyzer.risk import ACCOUNT_COLUMNS, RISK_COLUMNS, account_risk, blame_blocklists, ip_risk
from analyzer.stored import stored_analysis

logger = logging.getLogger(__name__)

Progress = Callable[[Path], None]


def log_paths(settings: Settings, logs: Sequence[str] = ()) -> list[Path]:
    """Files named on the command line, else the configured globs."""
    if logs:
        return expand_logs(logs)
    if not settings.logs:
        raise InputError("no logs given: name LOG files or set `logs` in the config")
    return expand_logs(settings.logs, settings.base_dir)


def read_inputs(
    paths: Sequence[Path],
    settings: Settings,
    progress: Progress | None = None,
    log_format: str = "auto",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read log files (reporting each to ``progress``) into lines and sources frames; each
    source is labelled with its format (detected, or ``log_format``) and, for Exim
    mainlogs, its server."""
    frames, metas = [], []
    for offset, path in enumerate(paths):
        if progress is not None:
            progress(path)
        lines, sources = read_logs([path])
        frames.append(lines.assign(source=lines["source"] + offset))
        metas.append(sources.assign(source=sources["source"] + offset))
    lines = pd.concat(frames, ignore_index=True)
    sources = pd.concat(metas, ignore_index=True)
    if log_format == "auto":
        formats = detect_formats(lines)
    else:
        formats = dict.fromkeys(sources["source"], log_format)
    labelled = label_sources(sources, formats, settings.server_log_globs(), settings.base_dir)
    return lines, labelled


def analyse_logs(
    settings: Settings,
    logs: Sequence[str] = (),
    progress: Progress | None = None,
    log_format: str = "auto",
    customers: pd.DataFrame | None = None,
) -> Analysis:
    """Read the logs and customers the settings name and run the whole pipeline (never the
    store: see ``load_analysis``)."""
    customers = read_customers(settings.customers) if customers is None else customers
    paths = log_paths(settings, logs)
    lines, sources = read_inputs(paths, settings, progress, log_format)
    analysis = analyse(lines, sources, customers, settings)
    logger.info("%d lines, %d sessions", len(lines), len(analysis.sessions))
    return analysis


def load_analysis(
    settings: Settings,
    logs: Sequence[str] = (),
    progress: Progress | None = None,
    log_format: str = "auto",
    customers: pd.DataFrame | None = None,
) -> Analysis:
    """What ``export``, ``report`` and ``serve`` work on: the store when ``ingest`` has
    filled it and no logs are named on the command line, else the logs parsed now."""
    customers = read_customers(settings.customers) if customers is None else customers
    if not logs and settings.store is not None and store.exists(settings.store):
        analysis = stored_analysis(settings.store, customers, settings)
        logger.info("read %d sessions from the store %s", len(analysis.sessions), settings.store)
        return analysis
    return analyse_logs(settings, logs, progress, log_format, customers)


def ingest_logs(
    settings: Settings,
    logs: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    log_format: str = "auto",
    dask_address: str | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> str:
    """``relaywatch ingest``: read what is new into the store; one line for the user."""
    root = store_root(settings)
    paths = log_paths(settings, logs)
    summary = ingest(settings, paths, progress, log_format, chunk_bytes, dask_address=dask_address)
    if progress is not None:
        progress("")
    notes = "".join(f"\nrelaywatch: {note}" for note in summary.notes)
    return summary.text(root) + notes


def check_patterns(
    settings: Settings,
    logs: Sequence[str],
    progress: Progress | None = None,
    log_format: str = "auto",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.DataFrame]:
    """For ``patterns check``: every line with its rule (text kept), per-rule counts, other
    programs' line counts, and the sources."""
    paths = log_paths(settings, logs)
    lines, sources = read_inputs(paths, settings, progress, log_format)
    events = parse_lines(
        lines,
        sources,
        StampOptions(settings.timezone, settings.year),
        keep_all_text=True,
        reject_kinds=reject_reasons(settings),
    )
    return events, rule_counts(events), ignored_programs(events), sources


EXPORT_KINDS = (
    "sessions",
    "customers",
    "readiness-daily",
    "offenders",
    "blocklist",
    "accounts",
    "risk",
)


@dataclass(frozen=True, slots=True)
class RiskTables:
    """``accounts`` and ``risk`` exports, and the DNSBL answers behind ``risk``."""

    accounts: pd.DataFrame
    ips: pd.DataFrame
    dnsbl: pd.DataFrame


def live_dnsbl(settings: Settings, dns: bool = True) -> pd.DataFrame:
    """Each own outbound IP against each ``[dnsbl] zones`` entry (no rows when ``dns`` is off)."""
    zones = settings.dnsbl.zones if dns else ()
    own = settings.own_outbound_ips()
    return check_dnsbl(own, zones, settings.dnsbl.nameservers, settings.dnsbl.timeout)


def risk_tables(
    sessions: pd.DataFrame,
    deliveries: pd.DataFrame,
    customers: pd.DataFrame,
    settings: Settings,
    dnsbl: pd.DataFrame,
    asn: AsnLookup | None,
    scored_accounts: pd.DataFrame | None = None,
) -> RiskTables:
    """Score accounts and own IPs (``dnsbl`` from ``live_dnsbl``; ``asn`` loaded once by the
    caller). ``scored_accounts``: use these account scores (e.g. judged on a longer history)
    instead of scoring ``sessions``; the table then lists the accounts that logged in among
    ``sessions``."""
    own = settings.own_outbound_ips()
    blamed = blame_blocklists(deliveries, own, bounce_rules(settings))
    logins = sessions[sessions[s.SASL_USERNAME].notna().to_numpy()]
    if scored_accounts is None:
        asns = lookup_frame(logins[s.CLIENT_IP], asn)
        accounts = account_risk(sessions, blamed, asns, settings.timezone)
    else:
        active = scored_accounts[s.SASL_USERNAME].isin(set(logins[s.SASL_USERNAME]))
        accounts = scored_accounts[active.to_numpy()].reset_index(drop=True)
    domains = local_domains(customers, settings.local_domains)
    ips = ip_risk(sessions, blamed, accounts, dnsbl, own, settings.server_outbound_ips(), domains)
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
) -> RiskTables:
    """Risk of the days ``since``..``until``: accounts judged against their whole history up
    to ``until`` (baseline, first-seen networks), listed when active in the period; own IPs
    on the period's refusals and sessions."""
    tz = settings.timezone

    def tables(first: dt.date | None, scored: pd.DataFrame | None = None) -> RiskTables:
        return risk_tables(
            select_period(sessions, first, until, tz),
            select_period(deliveries, first, until, tz, s.TS),
            customers,
            settings,
            dnsbl,
            asn,
            scored,
        )

    return tables(since, tables(None).accounts if since is not None else None)


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What ``relaywatch export`` was asked for (see its --help)."""

    since: dt.date | None = None
    until: dt.date | None = None
    statuses: tuple[str, ...] = ()
    by: str = "ip"
    blocklist_format: str = "plain"
    min_sessions: int = 1
    log_format: str = "auto"
    dns: bool = True


def export(
    kind: str,
    settings: Settings,
    logs: Sequence[str],
    options: ExportOptions,
    progress: Progress | None = None,
) -> tuple[str, list[str]]:
    """The text of one export, and notes for the user (stderr)."""
    customers = read_customers(settings.customers)
    analysis = load_analysis(settings, logs, progress, options.log_format, customers)
    notes = problem_notes(analysis)
    sessions = select_period(analysis.sessions, options.since, options.until, settings.timezone)
    tz = settings.timezone
    if kind == "sessions":
        return sessions_to_csv(sessions, tz), notes
    if kind == "customers":
        table = customer_readiness(sessions, customers, as_of(options.until, tz))
        table = filter_status(table, options.statuses)
        return frame_to_csv(table, CUSTOMER_EXPORT_COLUMNS, tz), notes
    if kind == "readiness-daily":
        return frame_to_csv(daily_readiness(sessions, tz), DAILY_COLUMNS, tz), notes
    if kind in ("accounts", "risk"):
        dnsbl = live_dnsbl(settings, options.dns and kind == "risk")
        tables = period_risk(
            analysis.sessions,
            analysis.deliveries,
            options.since,
            options.until,
            customers,
            settings,
            dnsbl,
            load_lookup(settings.asn_db, settings.as_names),
        )
        if kind == "accounts":
            return frame_to_csv(tables.accounts, ACCOUNT_COLUMNS, tz), notes
        if not settings.own_outbound_ips():
            notes.append("no own outbound IPs: set outbound_ips or [servers.NAME] outbound_ip")
        return frame_to_csv(tables.ips, RISK_COLUMNS, tz), notes
    own = settings.own_outbound_ips()
    probes = probe_sessions(sessions, own)
    lookup = load_lookup(settings.asn_db, settings.as_names)
    if lookup is None:
        notes.append(HOW_TO_GET_ONE)
    offenders = summarize_offenders(probes, lookup_frame(probes[s.CLIENT_IP], lookup))
    if kind == "offenders":
        table = roll_up(offenders, options.by)
        return frame_to_csv(table, list(table.columns), tz), notes
    entries = blocklist_entries(
        offenders, customers, own, options.min_sessions, NETWORK if options.by == NETWORK else IP
    )
    comment = (
        f"relaywatch blocklist: {len(entries)} entries, spam-probe sources with at "
        f">= {options.min_sessions} sessions; never a customer network or own address"
    )
    return render_blocklist(entries, options.blocklist_format, comment), notes


def problem_notes(analysis: Analysis) -> list[str]:
    bad = int(analysis.lines["unmatched"].sum() + analysis.lines["malformed"].sum())
    if not bad:
        return []
    return [f"{bad} line(s) unmatched or malformed; see `relaywatch patterns check`"]


def build_asn_database(
    out: Path,
    names_out: Path | None,
    location_dump: Path | None,
    mrt: Path | None,
    database: Path | None,
) -> tuple[int, int, str]:
    """``relaywatch asn-db build``: (prefixes, AS names, source) written."""
    if mrt is not None:
        prefixes, names, source = mrt_prefixes(mrt), {}, f"MRT dump {mrt.name}"
    else:
        prefixes, names = location_dump_tables(location_dump_lines(location_dump, database))
        source = (
            f"IPFire location dump {location_dump.name}"
            if location_dump
            else "IPFire location database (location dump)"
        )
    count, named = write_asn_db(out, names_out, prefixes, names, source)
    return count, named, source


def nightly(
    settings: Settings,
    since: dt.date | None,
    until: dt.date | None,
    to: Sequence[str] = (),
    eml: Path | None = None,
    now: pd.Timestamp | None = None,
    environ: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    dns: bool = True,
) -> str:
    """``relaywatch report``: build the summary, then write it to ``eml`` or send it.

    Returns one line for the user. A message that cannot be sent is spooled first, then
    ``MailError`` says so (the caller exits non-zero).
    """
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    customers = read_customers(settings.customers)
    analysis = load_analysis(settings, progress=progress, customers=customers)
    if since is None or until is None:
        first, last = default_period(analysis.sessions, settings.timezone, now)
        since, until = since or first, until or last
    probes = probe_sessions(analysis.sessions, settings.own_outbound_ips())
    lookup = load_lookup(settings.asn_db, settings.as_names)
    asns = lookup_frame(probes[s.CLIENT_IP], lookup)
    dnsbl = live_dnsbl(settings, dns)
    risk = period_risk(
        analysis.sessions, analysis.deliveries, since, until, customers, settings, dnsbl, lookup
    )
    accounts = risk.accounts
    report = build_report(
        analysis.sessions,
        analysis.deliveries,
        customers,
        asns,
        since,
        until,
        settings.timezone,
        settings.own_outbound_ips(),
        local_domains(customers, settings.local_domains),
        settings.dashboard.url,
        ip_risk=risk.ips,
        account_risk=accounts,
        bounce_rules=bounce_rules(settings),
    )
    recipients = tuple(to) or settings.mail.to
    if not recipients and eml is None:
        raise ConfigError("no recipients: set mail.to in the config or pass --to")
    message = compose_message(report, settings.mail.from_addr, recipients, now)
    if eml is not None:
        write_eml(message, eml)
        return f"{report.title}: written to {eml}"
    password = smtp_password(settings.mail, os.environ if environ is None else environ)
    try:
        send_message(message, settings.mail, password)
    except MailError as exc:
        folder = settings.mail.spool or (settings.store or Path(".")) / "spool"
        kept = spool_message(message, folder, now.strftime("%Y%m%dT%H%M%SZ"))
        raise MailError(f"{exc}; the message is kept in {kept}") from None
    return f"{report.title}: sent to {', '.join(recipients)}"
