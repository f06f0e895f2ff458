"""What every ``relaywatch`` command shares: one-line errors, option decorators, the
settings a command runs with, and what it says on stderr before it works."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from analyzer.errors import AnalyzerError
from analyzer.judgements.lockout import DENY_FORMATS
from analyzer.reading.sources import FORMATS, expand_logs
from analyzer.settings.config import Settings, load_settings, parse_date


class UserError(click.ClickException):
    """One clear line, exit status 2 (the same status click gives usage errors)."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"relaywatch: error: {self.format_message()}", err=True)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AnalyzerError as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt:
            raise UserError("interrupted") from None

    return wrapper


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="TOML config (default: $RELAYWATCH_CONFIG, ./relaywatch.toml, else the demo).",
)  # the commands that read no logs of their own (report, serve, alerts)


def config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--config and the settings every analysing command can override."""
    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            help="TOML config (default: $RELAYWATCH_CONFIG, ./relaywatch.toml; with none, "
            "LOGs named get neutral defaults, else the bundled demo runs).",
        ),
        click.option(
            "--customers",
            type=click.Path(dir_okay=False),
            help="customers CSV: customer_id,name,domains,networks,contact_email.",
        ),
        click.option("--enforcement", help="enforcement date, YYYY-MM-DD (00:00 local time)."),
        click.option(
            "--year",
            type=int,
            help="year of year-less syslog stamps (default: from the file's modification time).",
        ),
        click.option("--timezone", help="IANA time zone of stamps without offset."),
        click.option(
            "--log-format",
            "log_format",
            type=click.Choice(FORMATS),
            default="auto",
            show_default=True,
            help="log format: syslog (Postfix, syslog-wrapped Exim), exim (an Exim "
            "mainlog) or auto (detected per file).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


store_option = click.option(
    "--store",
    type=click.Path(file_okay=False),
    help="the store folder `ingest` fills (default: the config's `store`).",
)


def period_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--until", help="last day to include, YYYY-MM-DD (local).")(command)
    return click.option("--since", help="first day to include, YYYY-MM-DD (local).")(command)


no_dns_option = click.option(
    "--no-dns",
    is_flag=True,
    help="skip live DNSBL queries of the own outbound IPs (offline runs); status stays empty.",
)


def command_settings(
    config_path: str | None,
    logs: tuple[str, ...] = (),
    journal: bool = False,
    **overrides: Any,
) -> Settings:
    """Settings for a command; logs or a store named on its command line (or the journal)
    never get the demo's, and a mistyped log file is said before anything else."""
    if logs and not journal:
        expand_logs(logs)
    named = bool(logs) or journal or bool(overrides.get("store"))
    settings = load_settings(config_path, logs_named=named)
    return settings.with_overrides(
        customers=overrides.get("customers"),
        enforcement_date=overrides.get("enforcement"),
        year=overrides.get("year"),
        timezone=overrides.get("timezone"),
        asn_db=overrides.get("asn_db"),
        store=overrides.get("store"),
    )


def announce(settings: Settings, uses_customers: bool = True) -> None:
    """Say on stderr, one line each, which settings were not the user's (demo, defaults, no
    customers) before the work starts."""
    from analyzer.jobs import startup_notices

    for note in startup_notices(settings, uses_customers):
        click.echo(f"relaywatch: {note}", err=True)


def period(since: str | None, until: str | None) -> tuple[dt.date | None, dt.date | None]:
    """--since/--until as dates; a period that ends before it starts is a mistake."""
    first = parse_date(since, "--since") if since else None
    last = parse_date(until, "--until") if until else None
    if first and last and first > last:
        raise UserError(f"--since {first} is after --until {last}: the period is empty")
    return first, last


def progress() -> Callable[[Path], None] | None:
    """Per-file progress on stderr, only when a person is watching."""
    if not sys.stderr.isatty():
        return None
    return lambda path: click.echo(f"reading {path} ...", err=True)


def ingest_progress() -> Callable[[str], None] | None:
    """One self-overwriting status line on stderr, only when a person is watching."""
    if not sys.stderr.isatty():
        return None
    return lambda text: click.echo(f"\r\033[K{text}", err=True, nl=False)


def some(values: tuple[str, ...], most: int = 6) -> str:
    """A short list for one line of output."""
    if not values:
        return "none seen"
    more = f" and {len(values) - most} more" if len(values) > most else ""
    return ", ".join(values[:most]) + more


BLOCKLIST_FORMATS = ("postfix", "nftables", "plain")
EXPORT_FORMATS = (*BLOCKLIST_FORMATS, "deny-list")  # accounts: deny-list, postfix


def check_format(kind: str, fmt: str) -> None:
    """--format names a form of this KIND (plain: the CSV, or a blocklist one a line)."""
    forms = {"blocklist": BLOCKLIST_FORMATS, "accounts": ("plain", *DENY_FORMATS)}
    if fmt != "plain" and fmt not in forms.get(kind, ("plain",)):
        known = ", ".join(forms.get(kind, ("plain",)))
        raise UserError(f"--format {fmt}: not a form of {kind} (its forms: {known})")
