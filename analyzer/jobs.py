"""Whole jobs that read inputs and run the pipeline: what the CLI and the dashboard call.

The commands' layer: it finds the files, reads the settings, customers and ASN database, and
chains the stages below (reading, sessions, judgements, store, outputs), which hold the logic.
"""

from __future__ import annotations

import datetime as dt
import glob
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.errors import AnalyzerError, ConfigError, InputError
from analyzer.judgements.asn import (
    HOW_TO_GET_ONE,
    load_lookup,
    location_dump_lines,
    location_dump_tables,
    lookup_frame,
    mrt_prefixes,
    write_asn_db,
)
from analyzer.judgements.customers import read_customers
from analyzer.judgements.dnsbl import check_dnsbl, unverified_zones
from analyzer.judgements.lockout import DENY_FORMATS, deny_list_text
from analyzer.judgements.offenders import (
    probe_sessions,
    roll_up,
)
from analyzer.judgements.pipeline import (
    Analysis,
    analyse,
    line_rules,
    reject_reasons,
)
from analyzer.judgements.readiness import (
    CUSTOMER_EXPORT_COLUMNS,
    DAILY_COLUMNS,
    by_urgency,
    filter_status,
)
from analyzer.judgements.risk import (
    ACCOUNT_COLUMNS,
    RISK_COLUMNS,
)
from analyzer.judgements.rollups import LAST_START
from analyzer.outputs.exports import frame_to_csv, streamed_csv
from analyzer.outputs.mailer import (
    MailError,
    check_writable_folder,
    send_message,
    smtp_password,
    spool_message,
    write_eml,
)
from analyzer.outputs.report import (
    BASELINE_DAYS,
    Counts,
    Report,
    compose_message,
    last_complete_day,
    most_used_helos,
    summarise,
)
from analyzer.outputs.starter import (
    CONFIG_NAME,
    CUSTOMERS_NAME,
    USUAL_LOGS,
    Found,
    render_config,
    render_customers,
)
from analyzer.reading.coverage import ignored_programs, rule_counts
from analyzer.reading.parse import StampOptions, detect_formats, parse_lines
from analyzer.reading.sources import expand_logs, label_sources, read_logs
from analyzer.sessions.messages import local_delivery_domains
from analyzer.settings.config import FROM_DEFAULTS, FROM_DEMO, Settings, machine_timezone
from analyzer.settings.notices import settings_notes
from analyzer.store import parquet as store
from analyzer.store import tables
from analyzer.store.ingest import CHUNK_BYTES, ingest, ingest_journal, store_root
from analyzer.store.memory import release_freed_memory
from analyzer.store.parallel import HELPERS
from analyzer.store.queries import SESSIONS, Scope, View, batches, both, isin
from analyzer.store.reads import changed_files
from analyzer.store.stored import stored_analysis
from analyzer.store.views import MemoryView, StoreView, open_view

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
    limit_bytes: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read log files (reporting each to ``progress``; with ``limit_bytes``, about that much
    of each) into lines and sources frames; each source is labelled with its format
    (detected, or ``log_format``) and, for Exim mainlogs, its server."""
    frames, metas = [], []
    for offset, path in enumerate(paths):
        if progress is not None:
            progress(path)
        lines, sources = read_logs([path], limit_bytes)
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
    journal: bool = False,
    helpers: int = HELPERS,
) -> str:
    """``relaywatch ingest``: read what is new into the store (with ``journal``, journald's
    entries of the units ``logs``; ``helpers``: parsing processes); one line for the user."""
    root = store_root(settings)
    if journal:
        summary = ingest_journal(settings, logs, progress, chunk_bytes)
    else:
        paths = log_paths(settings, logs)
        summary = ingest(
            settings,
            paths,
            progress,
            log_format,
            chunk_bytes,
            dask_address=dask_address,
            helpers=helpers,
        )
    release_freed_memory()  # what the chunks freed, before judging allocates anew
    judge_accounts(settings)
    if progress is not None:
        progress("")
    notes = "".join(f"\nrelaywatch: {note}" for note in summary.notes)
    return summary.text(root) + notes


def judge_accounts(settings: Settings, now: pd.Timestamp | None = None) -> None:
    """After ``ingest``: judge every account on the whole history, and on the history up to
    the last complete day (the nightly mail's), and keep both in the store
    (``analyzer.store.judged``): the Risk page, ``export accounts`` and the mail read them."""
    root = settings.store
    if root is None or not store.exists(root) or not store.load_manifest(root).committed:
        return
    view = StoreView.open(root, settings, read_customers(settings.customers))
    last = tables.session_rollup(view, Scope())[LAST_START].max()
    day = last_complete_day(last, settings.timezone, now or pd.Timestamp.now(tz="UTC"))
    whole = view.judged(None) is None
    yesterday = view.judged(day) is None and not view.judgements.renew_day(day)
    if not (whole or yesterday):
        return
    lookup = load_lookup(settings.asn_db, settings.as_names)
    dnsbl = live_dnsbl(settings, dns=False)
    if whole:
        found = tables.risk(view, Scope(), settings, dnsbl, lookup)
        if found.judged is not None:
            view.judgements.keep(found.judged, tables.session_days(view)[1])
    if yesterday:
        found = tables.risk(view, Scope(until=day), settings, dnsbl, lookup)
        if found.judged is not None:
            view.judgements.keep_day(found.judged, day)


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
        line_rules(settings),
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


def live_dnsbl(settings: Settings, dns: bool = True) -> pd.DataFrame:
    """Each own outbound IP against each ``[dnsbl] zones`` entry (no rows when ``dns`` is off)."""
    zones = settings.dnsbl.zones if dns else ()
    own = settings.own_outbound_ips()
    return check_dnsbl(own, zones, settings.dnsbl.nameservers, settings.dnsbl.timeout)


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


def open_data(
    settings: Settings,
    logs: Sequence[str] = (),
    progress: Progress | None = None,
    log_format: str = "auto",
    customers: pd.DataFrame | None = None,
) -> View:
    """What ``export``, ``report`` and ``serve`` read: the store when ``ingest`` has filled it
    and no logs are named on the command line (opened, not read), else the logs parsed now."""
    customers = read_customers(settings.customers) if customers is None else customers
    if logs:
        analysis = analyse_logs(settings, logs, progress, log_format, customers)
        return MemoryView(analysis, settings, customers)
    return open_view(
        settings,
        customers,
        lambda: analyse_logs(settings, logs, progress, log_format, customers),
    )


def export(
    kind: str,
    settings: Settings,
    logs: Sequence[str],
    options: ExportOptions,
    progress: Progress | None = None,
) -> tuple[str, list[str]]:
    """The text of one export, and notes for the user (stderr)."""
    chunks, notes = export_chunks(kind, settings, logs, options, progress)
    return "".join(chunks), notes


def export_chunks(
    kind: str,
    settings: Settings,
    logs: Sequence[str],
    options: ExportOptions,
    progress: Progress | None = None,
) -> tuple[Iterator[str], list[str]]:
    """One export as pieces of text to write one after the other (sessions stream a day at a
    time from a store), and notes for the user (stderr)."""
    customers = read_customers(settings.customers)
    view = open_data(settings, logs, progress, options.log_format, customers)
    notes = problem_notes(view.lines())
    scope = Scope(options.since, options.until)
    tz = settings.timezone
    if kind == "sessions":
        frames = batches(view, SESSIONS, s.SESSION_EXPORT_COLUMNS, scope.since, scope.until)
        return streamed_csv(frames, s.SESSION_EXPORT_COLUMNS, tz), notes
    return iter([export_table(kind, view, scope, customers, settings, options, notes)]), notes


def export_table(
    kind: str,
    view: View,
    scope: Scope,
    customers: pd.DataFrame,
    settings: Settings,
    options: ExportOptions,
    notes: list[str],
) -> str:
    """The text of an export that is one table (every kind but ``sessions``)."""
    tz = settings.timezone
    if kind == "customers":
        table = tables.readiness(view, scope, customers, tz)
        if options.statuses:  # a call list: most urgent first
            table = by_urgency(filter_status(table, options.statuses))
        return frame_to_csv(table, CUSTOMER_EXPORT_COLUMNS, tz)
    if kind == "readiness-daily":
        return frame_to_csv(tables.readiness_daily(view, scope, tz), DAILY_COLUMNS, tz)
    if kind in ("accounts", "risk"):
        dnsbl = live_dnsbl(settings, options.dns and kind == "risk")
        lookup = load_lookup(settings.asn_db, settings.as_names)
        risk = tables.risk(view, scope, settings, dnsbl, lookup)
        if kind == "accounts" and options.blocklist_format in DENY_FORMATS:
            return deny_list_text(risk.accounts, options.blocklist_format)
        if kind == "accounts":
            return frame_to_csv(risk.accounts, ACCOUNT_COLUMNS, tz)
        if not settings.own_outbound_ips():
            notes.append("no own outbound IPs: set outbound_ips or [servers.NAME] outbound_ip")
        notes.extend(unverified_zones(dnsbl))
        return frame_to_csv(risk.ips, RISK_COLUMNS, tz)
    lookup = load_lookup(settings.asn_db, settings.as_names)
    if lookup is None:
        notes.append(HOW_TO_GET_ONE)
    offenders = tables.offenders(view, scope, settings, lookup)
    if kind == "offenders":
        table = roll_up(offenders, options.by)
        return frame_to_csv(table, list(table.columns), tz)
    return tables.blocklist_text(
        offenders,
        tables.delivering_sources(view, scope),
        customers,
        settings,
        options.min_sessions,
        options.by,
        options.blocklist_format,
    )


def problem_notes(lines: pd.DataFrame) -> list[str]:
    """Notes for the user on what was read (``lines``: the line summary): empty logs, lines
    no rule understood."""
    notes = []
    empty = lines.loc[lines["lines"] == 0, "path"].tolist()
    if empty:
        notes.append(f"empty log file(s), no lines to read: {', '.join(map(str, empty))}")
    bad = int(lines["unmatched"].sum() + lines["malformed"].sum())
    if bad:
        notes.append(f"{bad} line(s) unmatched or malformed; see `relaywatch patterns check`")
    return notes


def startup_notices(settings: Settings, uses_customers: bool = True) -> list[str]:
    """One line each for settings a user should know were not theirs: the bundled demo,
    neutral defaults, no customers (what is lost without them)."""
    notes = []
    if settings.origin == FROM_DEMO:
        notes.append(
            "no config found (--config, $RELAYWATCH_CONFIG, ./relaywatch.toml): showing the "
            "bundled demo (sample_logs/); `relaywatch init` writes a config for your own logs"
        )
    elif settings.origin == FROM_DEFAULTS:
        notes.append(
            f"no config file: neutral defaults for the logs or store named (time zone "
            f"{settings.timezone}, this machine's; the year of each file; local domains from "
            "the logs' local deliveries; no enforcement date); `relaywatch init` writes a config"
        )
    if uses_customers and read_customers(settings.customers).empty:
        notes.append(
            "no customers: sessions are not attributed to customers, so readiness, statuses "
            "and the call list stay empty (set `customers` in the config, or --customers)"
        )
    return notes


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
    ingest_first: bool = True,
    notes: list[str] | None = None,
) -> str:
    """``relaywatch report``: build the summary, then write it to ``eml`` or send it.

    With a store, the configured logs' new lines are ingested first (``ingest_first``;
    else the mail says when the store is behind its logs). What the user should know goes
    into the mail and into ``notes`` (for stderr). Returns one line for the user. A message
    that cannot be sent is spooled first, then ``MailError`` says so (the caller exits
    non-zero).
    """
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    notes = [] if notes is None else notes
    if eml is not None:
        check_writable_folder(eml)  # before the work, not after it
    # a password that cannot be read, or must not be sent, is said before the work too
    environ = os.environ if environ is None else environ
    password = None if eml else smtp_password(settings.mail, environ)
    notes.extend(refresh_store(settings, ingest_first))
    customers = read_customers(settings.customers)
    view = open_data(settings, progress=progress, customers=customers)
    if since is None or until is None:
        last = tables.session_rollup(view, Scope())[LAST_START].max()
        day = last_complete_day(last, settings.timezone, now)
        since, until = since or day, until or day
    report = nightly_report(view, customers, settings, since, until, notes, dns)
    recipients = tuple(to) or settings.mail.to
    if not recipients and eml is None:
        raise ConfigError("no recipients: set mail.to in the config or pass --to")
    message = compose_message(report, settings.mail.from_addr, recipients, now)
    if eml is not None:
        write_eml(message, eml, settings.file_mode)
        return f"{report.title}: written to {eml}"
    try:
        send_message(message, settings.mail, password)
    except MailError as exc:
        folder = settings.spool_folder()
        kept = spool_message(message, folder, f"{now:%Y%m%dT%H%M%SZ}", settings.file_mode)
        raise MailError(f"{exc}; the message is kept in {kept}") from None
    return f"{report.title}: sent to {', '.join(recipients)}"


def nightly_report(
    view: View,
    customers: pd.DataFrame,
    settings: Settings,
    since: dt.date,
    until: dt.date,
    notes: list[str],
    dns: bool = True,
) -> Report:
    """The summary of ``since``..``until`` from the rollups of the period and its baseline,
    the customers export as of two days and the spam probes of its new offenders only: the
    sessions and deliveries themselves are not read. (Judging the accounts reads their
    history up to ``until``.)"""
    own = settings.own_outbound_ips()
    tz = settings.timezone
    window = Scope(since - dt.timedelta(days=BASELINE_DAYS), until)
    period = Scope(since, until)
    before = Scope(None, since - dt.timedelta(days=1))

    def helos(ips: Sequence[str]) -> pd.Series:
        where = both(pc.field(s.CLASS) == s.SPAM_PROBE, isin(s.CLIENT_IP, ips))
        return most_used_helos(tables.sessions_of(view, period, HELO_COLUMNS, where), ips)

    counts = Counts(
        tables.session_rollup(view, window),
        tables.login_rollup(view, window),
        tables.source_rollup(view, period),
        tables.delivery_rollup(view, period),
        tables.blame_rollup(view, period),
        helos,
    )
    sources = counts.sources
    lookup = load_lookup(settings.asn_db, settings.as_names)
    dnsbl = live_dnsbl(settings, dns)
    notes.extend(unverified_zones(dnsbl))
    risk = tables.risk(view, period, settings, dnsbl, lookup)
    readiness = (
        tables.readiness(view, Scope(None, until), customers, tz),
        tables.readiness(view, before, customers, tz),
    )
    return summarise(
        counts,
        readiness,
        set(tables.probes_of(view, before, own)[s.CLIENT_IP]),
        lookup_frame(probe_sessions(sources, own)[s.CLIENT_IP].drop_duplicates(), lookup),
        since,
        until,
        tz,
        own,
        settings.dashboard.url,
        ip_risk=risk.ips,
        account_risk=risk.accounts,
        notes=[*notes, *settings_notes(settings, not customers.empty, view.inferred_domains)],
        probes_per_message=settings.blocklist.probes_per_message,
    )


# What the summary reads of its new offenders' spam probes.
HELO_COLUMNS = (s.CLIENT_IP, s.HELO, s.CLASS)


# How long `report` waits for a running ingest (the 10-minute timer's) to finish.
REPORT_INGEST_WAIT_S = 600


def refresh_store(settings: Settings, ingest_first: bool = True) -> list[str]:
    """Before a report from the store: ingest what is new in the configured logs, so that
    the summary is never of a store behind its logs. Returns notes for the user (and the
    mail) when the store may be behind: told not to ingest, or the ingest failed."""
    root = settings.store
    if root is None or not settings.logs or not store.exists(root):
        return []  # no store: the report parses the logs themselves
    try:
        paths = log_paths(settings)
        if not ingest_first:
            changed = changed_files(paths, store.load_manifest(root))
            if not changed:
                return []
            return [
                f"the store may be behind its logs: {len(changed)} log file(s) changed since "
                "the last ingest and were not read (--no-ingest); run `relaywatch ingest`"
            ]
        summary = ingest(settings, paths, wait_seconds=REPORT_INGEST_WAIT_S)
        judge_accounts(settings)
    except AnalyzerError as exc:
        return [f"could not ingest the new log lines first ({exc}): the summary is of the store"]
    logger.info("before the report: %s", summary.text(root))
    return list(summary.notes)


SAMPLE_BYTES = 32 * 2**20  # of each log file `init` reads: enough for servers and domains
SAMPLE_FILES = 8  # the newest files of the globs


def init_config(
    folder: Path,
    logs: Sequence[str] = (),
    store_dir: str | None = None,
    enforcement: dt.date | None = None,
    force: bool = False,
    environ: Mapping[str, str] | None = None,
    usual_logs: Sequence[str] = USUAL_LOGS,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> tuple[list[Path], Found]:
    """``relaywatch init``: write a starter ``relaywatch.toml`` and ``customers.csv`` into
    ``folder`` from the logs found (``logs`` globs, else the usual places), this machine's
    time zone, and the servers and local domains a sample of the logs shows. Never
    overwrites the config without ``force``, nor ever an existing customers file.

    Returns the files written and what was found.
    """
    if not folder.is_dir():
        raise InputError(f"folder {folder} does not exist")
    config = folder / CONFIG_NAME
    customers = folder / CUSTOMERS_NAME
    if config.exists() and not force:
        raise InputError(f"{config} exists: not overwritten (--force replaces it)")
    # A usual place that holds files counts even when they are unreadable: say so, below.
    globs = [os.path.abspath(os.path.expanduser(g)) for g in logs] or [
        g for g in usual_logs if glob.glob(g)
    ]
    if not globs:
        raise InputError(
            f"no mail logs in the usual places ({', '.join(usual_logs)}): name them with "
            "--logs GLOB"
        )
    paths = expand_logs(globs)
    timezone = machine_timezone(os.environ if environ is None else environ)
    newest = sorted(paths, key=lambda p: p.stat().st_mtime, reverse=True)[:SAMPLE_FILES]
    settings = Settings(timezone=timezone, origin=FROM_DEFAULTS)
    lines, sources = read_inputs(newest, settings, progress, limit_bytes=SAMPLE_BYTES)
    events = parse_lines(lines, sources, StampOptions(timezone, None))
    found = Found(
        logs=tuple(globs),
        files=len(paths),
        timezone=timezone,
        servers=tuple(sorted(str(x) for x in events[s.SERVER].dropna().unique())),
        local_domains=tuple(sorted(local_delivery_domains(events))),
        lines=len(lines),
        store=os.path.abspath(store_dir) if store_dir else "store",  # default: beside it
        enforcement_date=enforcement,
        today=today or dt.date.today(),
    )
    written = [write_text_file(config, render_config(found))]
    if not customers.exists():
        written.append(write_text_file(customers, render_customers()))
    return written, found


def write_text_file(path: Path, text: str) -> Path:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
