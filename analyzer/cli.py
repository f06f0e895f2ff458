"""The ``relaywatch`` command: a thin click layer over ``analyzer.jobs``.

Every user mistake (missing file, bad date, bad CIDR, bad config) ends as one line on
stderr and exit status 2; data goes to stdout or ``-o FILE``.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

import click

from analyzer import __version__
from analyzer.cli_alerts import alerts, echo_run
from analyzer.cli_options import (
    EXPORT_FORMATS,
    UserError,
    announce,
    check_format,
    command_settings,
    config_option,
    config_options,
    ingest_progress,
    no_dns_option,
    period,
    period_options,
    progress,
    reports_errors,
    some,
    store_option,
)
from analyzer.jobs import EXPORT_KINDS
from analyzer.judgements.offenders import BY
from analyzer.judgements.readiness import STATUSES
from analyzer.settings.config import load_settings, parse_date
from analyzer.store.files import write_output


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="relaywatch")
@click.option("-v", "--verbose", is_flag=True, help="log progress details to stderr.")
def cli(verbose: bool) -> None:
    """relaywatch: who still relays without SMTP AUTH, who attacks, what is at risk.

    Reads Postfix logs, rebuilds every SMTP session and classifies it as authenticated,
    unauthenticated or spam_probe. With no config it runs on the bundled sample logs.

    Example:

        relaywatch export sessions -o sessions.csv
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@cli.command()
@click.argument("kind", type=click.Choice(EXPORT_KINDS), metavar="KIND")
@click.argument("logs", nargs=-1, type=click.Path())
@config_options
@period_options
@click.option("--asn-db", type=click.Path(dir_okay=False), help="pyasn IPASN file (plain or .gz).")
@click.option(
    "--status",
    help="customers: only these statuses, comma-separated (ready, at_risk, broken, inactive).",
)
@click.option(
    "--by",
    type=click.Choice(BY),
    default="ip",
    show_default=True,
    help="offenders / blocklist: one row per ip, network (/24, /48) or asn.",
)
@click.option(
    "--format",
    "blocklist_format",
    type=click.Choice(EXPORT_FORMATS),
    default="plain",
    show_default=True,
    help="blocklist: postfix (cidr: table for check_client_access), nftables, plain. "
    "accounts: deny-list (a Dovecot deny passdb file) or postfix (a check_sasl_access "
    "table) of the accounts at high or critical risk; plain: the CSV.",
)
@click.option(
    "--min-sessions",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="blocklist: only sources with at least this many spam-probe sessions.",
)
@no_dns_option
@store_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="write here (default: stdout); a new file is readable by its owner only "
    "(file_mode in the config).",
)
@reports_errors
def export(
    kind: str,
    logs: tuple[str, ...],
    config_path: str | None,
    since: str | None,
    until: str | None,
    status: str | None,
    by: str,
    blocklist_format: str,
    min_sessions: int,
    no_dns: bool,
    output: str,
    log_format: str,
    **overrides: Any,
) -> None:
    """Export KIND as CSV (blocklist: in its tool's syntax).

    \b
    KIND:
      sessions         one row per SMTP session (columns: docs/exports.md)
      customers        readiness before/after the date, status, contact: the outreach list
      readiness-daily  date, customer_id, outbound, authenticated, readiness_pct
      offenders        spam-probe sources with ASN, counts per reason, first/last seen
      blocklist        offenders to block (never a customer network or an own address)
      accounts         per SASL login: spread, volume, cracked-password signals, risk 0-100
      risk             per own outbound IP: blocklist bounces by provider, live DNSBL
                       status (--no-dns: skip), risky accounts, open relay, level, evidence

    LOG files (plain, .gz, .bz2, .xz; globs allowed) default to the store when `relaywatch
    ingest` has filled it, else to the config's `logs` (parsed now).
    --until also sets the day customers' statuses are judged on (default: end of logs).

    Example:

        relaywatch export customers --status at_risk,broken -o call-list.csv
    """
    from analyzer import jobs

    settings = command_settings(config_path, logs, **overrides)
    statuses = tuple(x.strip() for x in status.split(",") if x.strip()) if status else ()
    check_format(kind, blocklist_format)
    if bad := [x for x in statuses if x not in STATUSES]:
        raise UserError(f"--status: unknown status {bad[0]!r} (known: {', '.join(STATUSES)})")
    first, last = period(since, until)
    announce(settings)
    options = jobs.ExportOptions(
        since=first,
        until=last,
        statuses=statuses,
        by=by,
        blocklist_format=blocklist_format,
        min_sessions=min_sessions,
        log_format=log_format,
        dns=not no_dns,
    )
    chunks, notes = jobs.export_chunks(kind, settings, logs, options, progress())
    if output == "-":
        for chunk in chunks:  # as it is: click.echo would drop escape sequences
            sys.stdout.write(chunk)
    else:
        write_output(output, chunks, settings.file_mode)
    for note in notes:
        click.echo(f"relaywatch: {note}", err=True)


@cli.command()
@config_option
@period_options
@click.option("--to", "to", multiple=True, help="recipient (repeatable; default: mail.to).")
@click.option(
    "--eml",
    type=click.Path(dir_okay=False),
    help="write the message to this .eml file (in an existing folder) instead of sending it.",
)
@click.option(
    "--no-ingest",
    is_flag=True,
    help="do not ingest the logs' new lines into the store first; the mail then says when "
    "the store is behind its logs.",
)
@no_dns_option
@reports_errors
def report(
    config_path: str | None,
    since: str | None,
    until: str | None,
    to: tuple[str, ...],
    eml: str | None,
    no_ingest: bool,
    no_dns: bool,
) -> None:
    """Mail the summary of the last complete day (or --since/--until) to the admins.

    With a store, first ingests what is new in the configured logs (waiting up to 10
    minutes for a running ingest), so the summary is never of a store behind its logs.
    Compares the period with the 7 days before; sends through [mail] with STARTTLS and AUTH
    (password from $RELAYWATCH_SMTP_PASSWORD or mail.password_file). A message that cannot
    be sent is kept in the spool folder and the command exits with status 2.

    Example:

        relaywatch report --eml summary.eml
    """
    from analyzer import jobs

    settings = load_settings(config_path)
    first, last = period(since, until)
    announce(settings)
    notes: list[str] = []
    try:
        line = jobs.nightly(
            settings,
            first,
            last,
            to,
            Path(eml) if eml else None,
            progress=progress(),
            dns=not no_dns,
            ingest_first=not no_ingest,
            notes=notes,
        )
    finally:
        for note in notes:
            click.echo(f"relaywatch: {note}", err=True)
    click.echo(f"relaywatch: {line}", err=True)


@cli.group("asn-db")
def asn_db() -> None:
    """The IP-to-ASN database (pyasn format).

    Example:

        relaywatch asn-db build -o /var/lib/relaywatch/ipasn.dat
    """


@asn_db.command("build")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    required=True,
    help="the pyasn IPASN file to write.",
)
@click.option(
    "--names",
    type=click.Path(dir_okay=False),
    help="also write AS names as JSON here (location dumps only).",
)
@click.option(
    "--location-dump",
    type=click.Path(dir_okay=False, exists=True),
    help="a saved `location dump` (default: run `location dump` now).",
)
@click.option(
    "--location-db",
    type=click.Path(dir_okay=False, exists=True),
    help="the IPFire database `location` reads (default: its own).",
)
@click.option(
    "--mrt",
    type=click.Path(dir_okay=False, exists=True),
    help="build from an MRT RIB dump instead (e.g. a RouteViews rib.*.bz2).",
)
@reports_errors
def asn_db_build(
    output: str,
    names: str | None,
    location_dump: str | None,
    location_db: str | None,
    mrt: str | None,
) -> None:
    """Build an IPASN file offline: from Debian's `location` (IPFire) or an MRT dump.

    Example:

        relaywatch asn-db build -o ipasn.dat --names asnames.json
    """
    from analyzer import jobs

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    count, named, source = jobs.build_asn_database(
        Path(output), path(names), path(location_dump), path(mrt), path(location_db)
    )
    click.echo(
        f"relaywatch: {count:,} prefixes and {named:,} AS names from {source} -> {output}", err=True
    )


@cli.group()
def patterns() -> None:
    """Inspect which rule matches which log line.

    Example:

        relaywatch patterns check /var/log/mail.log
    """


@patterns.command("check")
@click.argument("logs", nargs=-1, type=click.Path())
@config_options
@click.option("--each", is_flag=True, help="print every line with the rule that matched it.")
@click.option(
    "--limit",
    type=int,
    default=50,
    show_default=True,
    help="unmatched/malformed lines to print (0: all).",
)
@click.option("--strict", is_flag=True, help="exit 1 if any Postfix line is unmatched.")
@click.option(
    "--min-matched",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="exit 1 if a file has less than PCT % of its lines matched or knowingly ignored "
    "(for CI of your own log formats).",
)
@reports_errors
def check(
    logs: tuple[str, ...],
    config_path: str | None,
    each: bool,
    limit: int,
    strict: bool,
    min_matched: float | None,
    log_format: str,
    **overrides: Any,
) -> None:
    """Lines per rule, other programs, and the lines no rule matched.

    LOG files default to the config's `logs`.

    Example:

        relaywatch patterns check sample_logs/postfix/mail.log --limit 0
    """
    from analyzer import jobs
    from analyzer.judgements.pipeline import line_rules
    from analyzer.reading.coverage import line_summary, poorly_covered, render_check

    settings = command_settings(config_path, logs, **overrides)
    announce(settings, uses_customers=False)
    events, counts, programs, sources = jobs.check_patterns(settings, logs, progress(), log_format)
    text = render_check(
        events, counts, programs, sources, each=each, limit=limit, rules=line_rules(settings)
    )
    click.echo(text, nl=False)
    below = poorly_covered(line_summary(events, sources), min_matched or 0)
    for row in below.itertuples(index=False):
        click.echo(
            f"relaywatch: {row.path}: {row.covered_pct} % of {row.lines} lines matched or "
            f"ignored, below --min-matched {min_matched}",
            err=True,
        )
    if (strict and (events["event"] == "unmatched").any()) or len(below):
        raise click.exceptions.Exit(1)


@cli.command()
@config_option
@click.option("--host", help="address to bind (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="port to listen on (default 8050).")
@click.option(
    "--debug",
    is_flag=True,
    help="Dash debug mode (reloader, error pages; never werkzeug's console): loopback "
    "without [dashboard] users only.",
)
@click.option(
    "--behind-proxy",
    is_flag=True,
    help="a reverse proxy in front authenticates users: allow a non-loopback --host "
    "without [dashboard] users.",
)
@no_dns_option
@store_option
@reports_errors
def serve(
    config_path: str | None,
    host: str | None,
    port: int | None,
    debug: bool,
    behind_proxy: bool,
    no_dns: bool,
    store: str | None,
) -> None:
    """Serve the dashboard (default http://127.0.0.1:8050/).

    It shows the store when `relaywatch ingest` has filled it, else the config's logs,
    parsed at start. It shows customers' data: on any address but loopback it needs
    [dashboard] users (HTTP basic auth; `relaywatch hash-password NAME` makes the entry)
    or --behind-proxy.

    Example:

        relaywatch serve --port 8050
    """
    from werkzeug.serving import is_running_from_reloader

    from dashboard.app import check_bindable, create_app
    from dashboard.auth import check_exposure, is_loopback

    settings = load_settings(config_path, logs_named=bool(store)).with_overrides(store=store)
    if behind_proxy:
        dashboard = dataclasses.replace(settings.dashboard, behind_proxy=True)
        settings = dataclasses.replace(settings, dashboard=dashboard)
    bind_host = host or settings.dashboard.host
    bind_port = port or settings.dashboard.port
    check_exposure(bind_host, settings.dashboard.users, settings.dashboard.behind_proxy, debug)
    if not settings.dashboard.users and not is_loopback(bind_host):
        click.echo(
            f"relaywatch: warning: no own authentication on {bind_host}: only the "
            "authenticating proxy may reach this port (firewall it, or bind its address)",
            err=True,
        )
    if not is_running_from_reloader():  # --debug's reloader child: its parent holds the port
        check_bindable(bind_host, bind_port)  # before the analysis, not after it
    announce(settings)
    app = create_app(settings, progress=progress(), dns=not no_dns)
    click.echo(f"relaywatch dashboard on http://{bind_host}:{bind_port}/", err=True)
    # werkzeug's debugger would answer /console (code execution) before any check
    app.run(host=bind_host, port=bind_port, debug=debug, use_debugger=False, use_evalex=False)


@cli.command()
@click.argument("logs", nargs=-1, type=click.Path())
@config_options
@store_option
@click.option(
    "--dask",
    "dask_address",
    metavar="local|tcp://HOST:PORT",
    help="parse on a Dask cluster: `local` starts one on this machine's cores, an address "
    "joins a running scheduler.",
)
@click.option(
    "--chunk-mb",
    type=click.IntRange(1, 4096),
    default=12,
    show_default=True,
    help="MB of log text parsed per step (memory grows with it; each step commits).",
)
@click.option(
    "--helpers",
    type=click.IntRange(0, 16),
    default=1,
    show_default=True,
    help="processes that parse ahead on a backlog of several chunks, and write some chunks' "
    "derived tables (0: none). On two cores a second is no faster and takes ~220 MB more.",
)
@click.option(
    "--journal",
    is_flag=True,
    help="read the systemd journal (journalctl -o json) instead of files: the arguments "
    "are systemd UNITs (e.g. postfix@-.service; none: the whole journal). Incremental by "
    "the journal's cursor, kept in the store.",
)
@click.option("--alerts", "then_alerts", is_flag=True, help="then run `relaywatch alerts`.")
@reports_errors
def ingest(
    logs: tuple[str, ...],
    config_path: str | None,
    log_format: str,
    dask_address: str | None,
    chunk_mb: int,
    helpers: int,
    journal: bool,
    then_alerts: bool,
    **overrides: Any,
) -> None:
    """Parse what is new in the logs into the store.

    Incremental: each file is read on from where the last run stopped; files are known by
    identity, so rotation (rename or copytruncate) and rotated files compressed later are
    neither lost nor counted twice. Interrupted runs leave the store as at its last commit;
    run again to go on. `export`, `report` and `serve` then read the store.

    LOG files (plain, .gz, .bz2, .xz; globs allowed) default to the config's `logs`.
    Their format is read from their text: syslog (classic or RFC 3339 stamps), RFC 5424,
    journalctl exports (-o json, short-iso, short-precise) and Exim mainlogs.
    Run it from cron, e.g. every 10 minutes.

    Example:

        relaywatch ingest --config /etc/relaywatch.toml

        relaywatch ingest --journal postfix@-.service   # Debian 12+ without rsyslog
    """
    from analyzer import jobs
    from analyzer.store.memory import keep_freed_memory

    settings = command_settings(config_path, logs, journal, **overrides)  # LOGs: units
    announce(settings, uses_customers=False)
    keep_freed_memory()  # before the helpers are forked: they inherit it
    summary = jobs.ingest_logs(
        settings,
        logs,
        ingest_progress(),
        log_format,
        dask_address,
        chunk_mb * 2**20,
        journal,
        helpers,
    )
    click.echo(summary)
    if then_alerts:
        from analyzer.watch import run_alerts

        echo_run(run_alerts(settings))


@cli.command()
@click.option(
    "--logs",
    "logs",
    multiple=True,
    metavar="GLOB",
    help="the mail logs (repeatable; default: whichever of /var/log/mail.log*, "
    "/var/log/maillog*, /var/log/exim4/mainlog*, /var/log/exim/main.log* exist).",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="where to write relaywatch.toml and customers.csv.",
)
@click.option(
    "--store",
    "store_dir",
    help="the store folder to name in the config (default: store, beside the config).",
)
@click.option("--enforcement", help="the enforcement date to write, YYYY-MM-DD.")
@click.option("--force", is_flag=True, help="replace an existing relaywatch.toml.")
@reports_errors
def init(
    logs: tuple[str, ...],
    folder: str,
    store_dir: str | None,
    enforcement: str | None,
    force: bool,
) -> None:
    """Write a commented starter relaywatch.toml and an empty customers.csv.

    Reads a sample of the logs for the server names and the local domains (those the logs
    show delivered locally), and takes this machine's time zone. Never replaces a config
    without --force, nor ever an existing customers.csv. Then: edit them, `relaywatch
    ingest`, `relaywatch serve`.

    Example:

        relaywatch init --logs '/var/log/mail.log*'
    """
    from analyzer import jobs

    date = parse_date(enforcement, "--enforcement") if enforcement else None
    written, found = jobs.init_config(
        Path(folder), logs, store_dir, date, force, progress=progress()
    )
    config = written[0]
    click.echo(
        f"relaywatch: wrote {', '.join(map(str, written))}: {found.files} log file(s) in "
        f"{', '.join(found.logs)}; servers: {some(found.servers)}; local domains: "
        f"{some(found.local_domains)}; time zone {found.timezone}",
        err=True,
    )
    here = config.resolve().parent == Path.cwd().resolve()
    with_config = "" if here else f" --config {config.resolve()}"
    click.echo(
        "Next:\n"
        f"  edit {config} (enforcement_date, outbound_ips, [mail]) and add your customers\n"
        f"  relaywatch ingest{with_config}    # parse the logs into the store\n"
        f"  relaywatch serve{with_config}     # the dashboard on http://127.0.0.1:8050/"
    )


@cli.command("hash-password")
@click.argument("login")
@click.password_option(help="the password (prompted twice when not given).")
@reports_errors
def hash_password(login: str, password: str) -> None:
    """Print a [dashboard.users] line for LOGIN (the password itself is never stored).

    The login is written as a quoted TOML key, so any login (quotes, backslashes, any
    script) reads back as itself; one with ':' is refused (basic auth cannot carry it).

    Example:

        relaywatch hash-password alice >> relaywatch.toml   # under [dashboard.users]
    """
    from dashboard.auth import users_line

    click.echo(users_line(login, password))


cli.add_command(alerts)


def main() -> None:
    import os

    import pyarrow as pa

    # Measured on the benchmark log: the system allocator spends half the kernel time of
    # arrow's default jemalloc on the many large, short-lived buffers of a parse.
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())
    sys.exit(run_cli(sys.argv[1:]))


def run_cli(args: list[str]) -> int:
    """Run a command line; a usage mistake (unknown command or KIND, bad option) is one line
    on stderr and status 2, like every other user mistake."""
    try:
        result = cli.main(args, prog_name="relaywatch", standalone_mode=False)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "relaywatch"
        click.echo(f"relaywatch: error: {exc.format_message()} (see `{where} --help`)", err=True)
        return 2
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("relaywatch: aborted", err=True)
        return 130
    return result if isinstance(result, int) else 0
